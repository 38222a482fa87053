/* Allocations whose stacks share frames at the same stack addresses but
 * differ further out, one after the other: the unwinder may reuse the
 * previous stack's outer frames only where they are the same.
 *   main -> via_a -> middle -> leaf:  N x malloc(100)
 *   main -> via_b -> middle -> leaf:  N x malloc(200)  (via_a's twin: the
 *                                      same frames at the same addresses
 *                                      but one return address)
 *   main -> deep x (k + 1) -> leaf:  malloc(300) for i in 0..N, k = i % 7
 *                                      (recursion: stacks of 7 depths)
 * Every block is leaked (kept in a global array). */
#include "common.h"

static void *kept[3 << 16];
static long kept_count;

__attribute__((noinline)) void *leaf(size_t n) {
    void *p = malloc(n);
    KEEP(p);
    NO_TAIL();
    return p;
}

__attribute__((noinline)) void *middle(size_t n) {
    void *p = leaf(n);
    NO_TAIL();
    return p;
}

__attribute__((noinline)) void *via_a(size_t n) {
    void *p = middle(n);
    NO_TAIL();
    return p;
}

__attribute__((noinline)) void *via_b(size_t n) {
    void *p = middle(n);
    NO_TAIL();
    return p;
}

__attribute__((noinline)) void *deep(int k) {
    void *p = k == 0 ? leaf(300) : deep(k - 1);
    NO_TAIL();
    return p;
}

int main(int argc, char **argv) {
    long n = arg_or(argc, argv, 1, 1000);
    if (n > 1 << 16) n = 1 << 16;
    for (long i = 0; i < n; i++) {
        kept[kept_count++] = via_a(100);
        kept[kept_count++] = via_b(200);
        kept[kept_count++] = deep((int)(i % 7));
    }
    KEEP(kept);
    return 0;
}
