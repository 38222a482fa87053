/* CHAINS realloc chains: each grows a block from 16 bytes by doubling
 * STEPS times (realloc(NULL, 16) first), then frees it. Nothing leaks. */
#include "common.h"

__attribute__((noinline)) void chain(long steps) {
    size_t size = 16;
    char *p = realloc(NULL, size);
    for (long i = 0; i < steps; i++) {
        size *= 2;
        p = realloc(p, size);
        p[size - 1] = 1;
    }
    free(p);
    NO_TAIL();
}

int main(int argc, char **argv) {
    long chains = arg_or(argc, argv, 1, 50);
    long steps = arg_or(argc, argv, 2, 10);
    for (long c = 0; c < chains; c++) chain(steps);
    return 0;
}
