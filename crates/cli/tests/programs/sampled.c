/* Known sizes for sampled traces (heapwise run --sample).
 *
 * 100,000 blocks of 64 bytes, half on the main thread and half on a second
 * thread; each thread frees every other one of its own. 200 blocks of
 * 1 MiB on the main thread, every other one from calloc(1024, 1024); the
 * odd ones are freed. Then 2,000 blocks grown by realloc from 1,000 to
 * 150,000 bytes and freed, so that realloc is seen with either side
 * sampled, both, or neither. Then 2,000 blocks of 2 KiB filled with 0xAB and
 * freed, and 2,000 callocs of 2 KiB, which may reuse them. No stdio.
 *
 * The program checks what the tracer must not change, sampled block or
 * not: each realloc keeps the block's bytes, each calloc's block is zero.
 * It exits with 3 if one does not.
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

static int broken;

__attribute__((noinline)) static void grow(int i) {
    unsigned char *p = NULL;
    size_t had = 0;
    for (size_t s = 0; s < sizeof growth / sizeof growth[0]; s++) {
        p = realloc(p, growth[s]);
        KEEP(p);
        if (!p) {
            broken = 1;
            return;
        }
        for (size_t b = 0; b < had; b++)
            if (p[b] != (unsigned char)(b * 7 + i)) broken = 1;
        for (size_t b = had; b < growth[s]; b++) p[b] = (unsigned char)(b * 7 + i);
        had = growth[s];
    }
    chains[i] = p;
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t b = 0; b < n; b++)
        if (p[b]) return 0;
    return 1;
}

#define DIRTY 2000
#define DIRTY_SIZE 2048
static void *dirty[DIRTY];

/* callocs of memory that held other bytes before. */
static void dirty_callocs(void) {
    for (int i = 0; i < DIRTY; i++) {
        dirty[i] = malloc(DIRTY_SIZE);
        if (dirty[i]) memset(dirty[i], 0xAB, DIRTY_SIZE);
    }
    for (int i = 0; i < DIRTY; i++) free(dirty[i]);
    for (int i = 0; i < DIRTY; i++) {
        dirty[i] = calloc(1, DIRTY_SIZE);
        if (!dirty[i] || !all_zero(dirty[i], DIRTY_SIZE)) broken = 1;
    }
    for (int i = 0; i < DIRTY; i++) free(dirty[i]);
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
    for (int i = 0; i < BIG_COUNT; i++) {
        big[i] = big_block(i);
        if (i % 2 == 1 && !all_zero(big[i], BIG_SIZE)) broken = 1;
    }
    for (int i = 1; i < BIG_COUNT; i += 2) free(big[i]);
    for (int i = 0; i < CHAINS; i++) grow(i);
    for (int i = 0; i < CHAINS; i++) free(chains[i]);
    dirty_callocs();
    return broken ? 3 : 0;
}
