/* A process to attach to: every 10 ms it leaks 100 bytes from
 * `leak_here` and allocates and frees a 300-byte buffer, then prints how
 * many blocks it has leaked so far; a second thread allocates and frees
 * 200-byte blocks all the time. */
#include <pthread.h>
#include <time.h>
#include "common.h"

__attribute__((noinline)) static void *leak_here(void) {
    void *p = malloc(100); /* LINE:leak */
    memset(p, 1, 100);
    KEEP(p);
    NO_TAIL();
    return p;
}

static void *churn(void *arg) {
    (void)arg;
    for (;;) {
        void *p = malloc(200);
        KEEP(p);
        free(p);
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void) {
    pthread_t thread;
    pthread_create(&thread, NULL, churn, NULL);
    for (long leaked = 1;; leaked++) {
        KEEP(leak_here());
        void *buffer = malloc(300);
        KEEP(buffer);
        free(buffer);
        say_number(leaked);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
