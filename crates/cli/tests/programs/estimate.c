/* A fixed set of allocations for testing sampled estimates against the
 * truth: 120,000 blocks of sizes 16 to 4,111 bytes (a fixed sequence);
 * every 5th is kept, the others are freed at once. Prints the bytes and
 * blocks kept. No stdio. */
#include "common.h"

#define BLOCKS 120000

static void *kept[BLOCKS / 5 + 1];

__attribute__((noinline)) void *make(size_t size) {
    void *p = malloc(size); /* LINE:make */
    KEEP(p);
    NO_TAIL();
    return p;
}

int main(void) {
    long bytes = 0, blocks = 0;
    for (long i = 0; i < BLOCKS; i++) {
        size_t size = 16 + (size_t)((i * 2654435761u) % 4096);
        void *p = make(size);
        if (i % 5 == 0) {
            kept[blocks++] = p;
            bytes += (long)size;
        } else {
            free(p);
        }
    }
    say_number(bytes);
    say_number(blocks);
    return 0;
}
