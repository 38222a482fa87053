/*
 * Allocation-heavy workload for comparing tracers.
 *
 * Each thread performs N malloc/free pairs of sizes 8..135 bytes through a
 * few call levels; each block is freed 16 allocations after it was made
 * (a ring of 16 live blocks), as in RESEARCH.md's measurements.
 *
 * Prints the CPU time each worker thread used and the wall time from the
 * start of the program to its end (seconds, two lines: "thread_cpu_s T1 T2
 * ..." and "thread_wall_s T1 T2 ..."), so a harness can tell the time a
 * tracer adds to the program's own threads from the time of its helper
 * threads, and the time the workers waited for a core.
 *
 * usage: alloc_bench THREADS PAIRS_PER_THREAD
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RING 16

static long pairs;

__attribute__((noinline)) static void *level3(size_t size) {
    void *p = malloc(size);
    if (p) *(volatile char *)p = (char)size;
    return p;
}
__attribute__((noinline)) static void *level2(size_t size) { void *p = level3(size); __asm__ volatile("" ::: "memory"); return p; }
__attribute__((noinline)) static void *level1(size_t size) { void *p = level2(size); __asm__ volatile("" ::: "memory"); return p; }

static double cpu_s[64], wall_s[64], start_s;

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *worker(void *arg) {
    void *ring[RING] = {0};
    unsigned seed = (unsigned)(size_t)arg * 2654435761u + 1;
    for (long i = 0; i < pairs; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 8 + (seed >> 16) % 128;
        int slot = (int)(i % RING);
        free(ring[slot]);
        ring[slot] = level1(size);
    }
    for (int i = 0; i < RING; i++) free(ring[i]);
    cpu_s[(size_t)arg] = now(CLOCK_THREAD_CPUTIME_ID);
    wall_s[(size_t)arg] = now(CLOCK_MONOTONIC) - start_s;
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    pairs = argc > 2 ? atol(argv[2]) : 10000000;
    if (threads < 1 || threads > 64 || pairs < 1) {
        fprintf(stderr, "usage: alloc_bench THREADS PAIRS_PER_THREAD\n");
        return 2;
    }
    start_s = now(CLOCK_MONOTONIC);
    pthread_t tids[64];
    for (int t = 0; t < threads; t++) pthread_create(&tids[t], NULL, worker, (void *)(size_t)t);
    for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
    printf("thread_cpu_s");
    for (int t = 0; t < threads; t++) printf(" %.4f", cpu_s[t]);
    printf("\nthread_wall_s");
    for (int t = 0; t < threads; t++) printf(" %.4f", wall_s[t]);
    printf("\n");
    return 0;
}
