/* A library that leaks: plugin_leak(n) leaks n blocks of 72 bytes. */
#include <stdlib.h>

static void *sink;

__attribute__((noinline)) void plugin_leak(long n) {
    for (long i = 0; i < n; i++) {
        void *p = malloc(72); /* LINE:plugin_leak */
        __asm__ volatile("" : : "r"(p) : "memory");
        sink = p;
    }
    __asm__ volatile("" : : : "memory");
}
