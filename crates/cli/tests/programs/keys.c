/* Creates pthread keys until none is left and prints how many it got (the
 * tracer must not take one), then runs 50 short threads that each leak one
 * 48-byte block from thread_leak() and set a value for every key. */
#include <limits.h>
#include <pthread.h>
#include "common.h"

static pthread_key_t keys[PTHREAD_KEYS_MAX + 1];
static long created;

__attribute__((noinline)) void thread_leak(void) {
    KEEP(malloc(48)); /* LINE:thread_leak */
    NO_TAIL();
}

static void *worker(void *arg) {
    for (long i = 0; i < created; i++) pthread_setspecific(keys[i], arg);
    thread_leak();
    return NULL;
}

int main(void) {
    while (created <= PTHREAD_KEYS_MAX && pthread_key_create(&keys[created], NULL) == 0) created++;
    say_number(created);
    for (int i = 0; i < 50; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, &created) != 0) return 2;
        pthread_join(t, NULL);
    }
    return 0;
}
