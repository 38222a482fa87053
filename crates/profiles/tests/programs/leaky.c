/* leaky: a C program whose heap has known shapes, run under Debian's
 * libjemalloc2 with its heap profiler on (crates/profiles/tests/README.md
 * says how its dumps were taken).
 *
 * Every iteration allocates the same 11,264 bytes:
 *   - 1,024 B that are never freed (the leak: 1 KiB per iteration);
 *   - a 2,048 B cache entry: the cache fills up to 1,024 entries (2 MiB)
 *     and then every new entry evicts the oldest (a plateau);
 *   - an 8,192 B buffer freed at once (garbage).
 * jemalloc dumps a profile every 2^lg_prof_interval bytes allocated, so
 * with lg_prof_interval:23 (8 MiB) the leak per dump interval is
 * 8 MiB × 1,024 / 11,264 = 762,601 B. The program prints what it leaked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAK 1024
#define ENTRY 2048
#define ENTRIES 1024
#define GARBAGE 8192

static void *cache[ENTRIES];
static void **leaked;

__attribute__((noinline)) static void *leak_one(void) {
    void *p = malloc(LEAK);
    memset(p, 1, LEAK);
    return p;
}

__attribute__((noinline)) static void cache_put(long i) {
    void *entry = malloc(ENTRY);
    memset(entry, 2, ENTRY);
    free(cache[i % ENTRIES]);
    cache[i % ENTRIES] = entry;
}

__attribute__((noinline)) static void garbage(void) {
    char *volatile p = malloc(GARBAGE);
    p[0] = 3;
    free(p);
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 9000;
    /* One array, allocated once: it is not a second growing stack. */
    leaked = calloc((size_t)iterations, sizeof *leaked);
    for (long i = 0; i < iterations; i++) {
        leaked[i] = leak_one();
        cache_put(i);
        garbage();
        usleep(200);
    }
    printf("iterations %ld leaked_blocks %ld leaked_bytes %ld cache_bytes %d "
           "allocated_per_iteration %d\n",
           iterations, iterations, iterations * LEAK, ENTRIES * ENTRY,
           LEAK + ENTRY + GARBAGE);
    return 0;
}
