/* A process of THREADS threads (default 50) to attach to: each allocates
 * and frees a small block every millisecond. Prints "ready" once every
 * thread runs, then waits for its input to end. */
#include <pthread.h>
#include <time.h>
#include "common.h"

static void *spin(void *arg) {
    long index = (long)arg;
    for (;;) {
        void *p = malloc(32 + (size_t)index);
        KEEP(p);
        free(p);
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    long threads = arg_or(argc, argv, 1, 50);
    for (long i = 0; i < threads; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, spin, (void *)i) != 0) return 2;
    }
    say_number(threads);
    char c;
    while (read(0, &c, 1) == 1) {
    }
    return 0;
}
