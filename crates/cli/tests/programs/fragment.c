/* RSS grows while the live heap stays flat: allocator fragmentation.
 * Each round takes a block larger than any before it (so no hole left by
 * earlier blocks can hold it), touches it, pins the heap top with a small
 * block, and frees the large block: the hole stays between pins, glibc
 * cannot return it, and the next, larger block extends the heap again.
 * The program keeps 1 MiB of real data and the pins (16 bytes a round).
 * Usage: fragment ROUNDS (default 24), 100 ms apart. */
#include <malloc.h>
#include <time.h>
#include "common.h"

static void *pins[1000];

__attribute__((noinline)) void *take_buffer(size_t size) {
    char *p = malloc(size); /* LINE:take_buffer */
    memset(p, 1, size);
    return p;
}

int main(int argc, char **argv) {
    long rounds = arg_or(argc, argv, 1, 24);
    /* Serve large blocks from the heap, and never trim it. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    char *data = malloc(1 << 20);
    memset(data, 2, 1 << 20);
    struct timespec pause = {0, 100000000};
    for (long r = 0; r < rounds && r < 1000; r++) {
        char *big = take_buffer((size_t)(2 << 20) + (size_t)r * (256 << 10));
        pins[r] = malloc(16);
        KEEP(pins[r]);
        free(big);
        nanosleep(&pause, NULL);
    }
    KEEP(data);
    return 0;
}
