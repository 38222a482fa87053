/* Leaks from three functions with three allocation APIs, amid temporaries
 * that are freed.
 *   leak_malloc:   N       x malloc(100)
 *   leak_calloc:   N/2     x calloc(10, 30)          (300 bytes)
 *   leak_memalign: N/4     x posix_memalign(64, 200)
 *   churn:         N       x malloc(48 + i % 64), freed at once
 * With "drop" as second argument the leaked pointers are not kept anywhere
 * (valgrind's "definitely lost"); otherwise they stay in a global array. */
#include "common.h"

static void *kept[1 << 20];
static long kept_count;
static int drop;

static void keep(void *p) {
    if (!drop) kept[kept_count++] = p;
    KEEP(p);
}

__attribute__((noinline)) void leak_malloc(long n) {
    for (long i = 0; i < n; i++) {
        void *p = malloc(100); /* LINE:leak_malloc */
        memset(p, 1, 100);
        keep(p);
    }
    NO_TAIL();
}

__attribute__((noinline)) void leak_calloc(long n) {
    for (long i = 0; i < n; i++) {
        void *p = calloc(10, 30); /* LINE:leak_calloc */
        keep(p);
    }
    NO_TAIL();
}

__attribute__((noinline)) void leak_memalign(long n) {
    for (long i = 0; i < n; i++) {
        void *p = NULL;
        if (posix_memalign(&p, 64, 200) != 0) abort(); /* LINE:leak_memalign */
        keep(p);
    }
    NO_TAIL();
}

__attribute__((noinline)) void churn(long n) {
    for (long i = 0; i < n; i++) {
        char *p = malloc(48 + i % 64);
        KEEP(p);
        p[0] = 1;
        free(p);
    }
    NO_TAIL();
}

int main(int argc, char **argv) {
    long n = arg_or(argc, argv, 1, 1000);
    drop = argc > 2 && strcmp(argv[2], "drop") == 0;
    leak_malloc(n);
    churn(n);
    leak_calloc(n / 2);
    leak_memalign(n / 4);
    return 0;
}
