/* A process to attach to: it prints a counter every 10 ms (sleeping in
 * nanosleep in between, so an attach usually finds it in a system call),
 * with a second thread that allocates and frees all the time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *churn(void *arg) {
    (void)arg;
    for (;;) {
        void *p = malloc(64 + (rand() % 512));
        memset(p, 1, 64);
        free(p);
    }
    return NULL;
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, NULL, churn, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (unsigned long i = 0;; i++) {
        printf("%lu\n", i);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
