/* Known sizes for sampled traces (heapwise run --sample).
 *
 * 100,000 blocks of 64 bytes, half on the main thread and half on a second
 * thread; each thread frees every other one of its own. 200 blocks of
 * 1 MiB on the main thread, every other one from calloc(1024, 1024); the
 * odd ones are freed. Then 2,000 blocks grown by realloc from 1,000 to
 * 150,000 bytes and freed, so that realloc is seen with either side
 * sampled, both, or neither. No stdio.
 *
 * `sampled keep N`: allocates N blocks of 32 bytes and keeps them all
 * (more sampled live blocks than the tracer's table holds). */
#include <pthread.h>
#include <stdlib.h>

#include "common.h"

#define SMALL_PER_THREAD 50000
#define SMALL_SIZE 64
#define BIG_COUNT 200
#define BIG_SIZE (1024 * 1024)
#define CHAINS 2000

static void *small[2][SMALL_PER_THREAD];
static void *big[BIG_COUNT];
static void *chains[CHAINS];

__attribute__((noinline)) static void *small_block(void) {
    void *p = malloc(SMALL_SIZE); /* LINE:small_block */
    KEEP(p);
    NO_TAIL();
    return p;
}

static void small_blocks(int t) {
    for (int i = 0; i < SMALL_PER_THREAD; i++) {
        small[t][i] = small_block();
        *(volatile char *)small[t][i] = (char)i;
    }
    for (int i = 0; i < SMALL_PER_THREAD; i += 2) free(small[t][i]);
}

static void *second_thread(void *arg) {
    (void)arg;
    small_blocks(1);
    return NULL;
}

__attribute__((noinline)) static void *big_block(int i) {
    void *p = (i % 2 == 0) ? malloc(BIG_SIZE) : calloc(1024, 1024); /* LINE:big_block */
    KEEP(p);
    NO_TAIL();
    return p;
}

static const size_t growth[] = {1000, 5000, 30000, 100000, 150000};

__attribute__((noinline)) static void grow(int i) {
    void *p = NULL;
    for (size_t s = 0; s < sizeof growth / sizeof growth[0]; s++) {
        p = realloc(p, growth[s]);
        KEEP(p);
    }
    chains[i] = p;
}

static int keep(long n) {
    for (long i = 0; i < n; i++) KEEP(malloc(32));
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "keep") == 0) return keep(strtol(argv[2], NULL, 10));
    pthread_t thread;
    if (pthread_create(&thread, NULL, second_thread, NULL) != 0) return 1;
    small_blocks(0);
    if (pthread_join(thread, NULL) != 0) return 1;
    for (int i = 0; i < BIG_COUNT; i++) big[i] = big_block(i);
    for (int i = 1; i < BIG_COUNT; i += 2) free(big[i]);
    for (int i = 0; i < CHAINS; i++) grow(i);
    for (int i = 0; i < CHAINS; i++) free(chains[i]);
    return 0;
}
