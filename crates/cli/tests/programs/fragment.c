/* RSS grows while the live heap stays flat: allocator fragmentation.
 * Each round takes a block larger than any before it (so no hole left by
 * earlier blocks can hold it), touches it, pins the heap top with a small
 * block, and frees the large block: the hole stays between pins, glibc
 * cannot return it, and the next, larger block extends the heap again.
 * The program keeps 1 MiB of real data and the pins (16 bytes a round).
 * Usage: fragment ROUNDS [thread] (default 24 rounds, 100 ms apart); with
 * "thread", the rounds run in a new thread, so in a glibc thread arena. */
#include <malloc.h>
#include <pthread.h>
#include <time.h>
#include "common.h"

static void *pins[1000];

__attribute__((noinline)) void *take_buffer(size_t size) {
    char *p = malloc(size); /* LINE:take_buffer */
    memset(p, 1, size);
    return p;
}

static void *fragment(void *arg) {
    long rounds = (long)arg;
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
    return NULL;
}

int main(int argc, char **argv) {
    long rounds = arg_or(argc, argv, 1, 24);
    /* Serve large blocks from the heap, and never trim it. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    if (argc > 2 && strcmp(argv[2], "thread") == 0) {
        pthread_t thread;
        pthread_create(&thread, NULL, fragment, (void *)rounds);
        pthread_join(thread, NULL);
    } else {
        fragment((void *)rounds);
    }
    return 0;
}
