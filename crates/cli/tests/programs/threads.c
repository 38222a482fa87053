/* Four threads; thread t (0..3) leaks (t + 1) * PER blocks of 64 bytes from
 * thread_leak() while doing CHURN malloc/free pairs of mixed sizes, some
 * freed by another thread (a shared exchange slot). */
#include <pthread.h>
#include "common.h"

static long per, churn_pairs;
static void *exchange[64];

__attribute__((noinline)) void thread_leak(long count, void **out) {
    for (long i = 0; i < count; i++) {
        out[i] = malloc(64); /* LINE:thread_leak */
        KEEP(out[i]);
    }
    NO_TAIL();
}

static void *worker(void *arg) {
    long t = (long)arg;
    void **mine = calloc((size_t)((t + 1) * per), sizeof(void *));
    void *ring[16] = {0};
    long leak_every = churn_pairs / ((t + 1) * per) + 1;
    long leaked = 0;
    for (long i = 0; i < churn_pairs; i++) {
        int slot = (int)(i % 16);
        free(ring[slot]);
        ring[slot] = malloc(16 + (size_t)((i * 7 + t) % 200));
        KEEP(ring[slot]);
        if (i % 97 == 0) {
            /* Hand a block to whichever thread comes next. */
            void *mine_block = malloc(32);
            void *theirs = __atomic_exchange_n(&exchange[i % 64], mine_block, __ATOMIC_ACQ_REL);
            free(theirs);
        }
        if (i % leak_every == 0 && leaked < (t + 1) * per) {
            thread_leak(1, &mine[leaked]);
            leaked++;
        }
    }
    if (leaked < (t + 1) * per) thread_leak((t + 1) * per - leaked, &mine[leaked]);
    for (int i = 0; i < 16; i++) free(ring[i]);
    free(mine);
    return NULL;
}

int main(int argc, char **argv) {
    per = arg_or(argc, argv, 1, 100);
    churn_pairs = arg_or(argc, argv, 2, 200000);
    pthread_t tids[4];
    for (long t = 0; t < 4; t++) pthread_create(&tids[t], NULL, worker, (void *)t);
    for (int t = 0; t < 4; t++) pthread_join(tids[t], NULL);
    for (int i = 0; i < 64; i++) free(exchange[i]);
    return 0;
}
