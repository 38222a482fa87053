/*
 * A request-serving workload for production-mode measurements: THREADS
 * worker threads serve requests for SECONDS seconds. A request allocates
 * and frees what a small server does (a request object, a few header
 * strings, a response buffer), computes over its buffer (the "work"),
 * and keeps a response in a per-thread cache of CACHE entries (the
 * oldest evicted and freed: the cache fills, then plateaus). Every 32nd
 * request leaks 64 bytes from leak_here().
 *
 * Prints, on stdout: "window T REQUESTS" for every second T (requests
 * completed in that second, all threads), then "requests N",
 * "leaked_bytes L" (the leak's truth), "cache_bytes C" (what the caches
 * hold at the end), "leak_rate_bytes_per_s R".
 *
 * usage: server_bench THREADS SECONDS [CACHE]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int seconds;
static long cache_entries = 10000;
static _Atomic long leaked_bytes, cache_bytes, total;
static _Atomic long windows[3600];
static double start_s;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct leak { struct leak *next; char pad[56]; };
static struct leak *_Atomic leaks;

__attribute__((noinline)) static void leak_here(void) {
    struct leak *l = malloc(sizeof *l);
    memset(l, 0, sizeof *l);
    l->next = atomic_load(&leaks);
    while (!atomic_compare_exchange_weak(&leaks, &l->next, l)) {}
    atomic_fetch_add(&leaked_bytes, (long)sizeof *l);
}

__attribute__((noinline)) static char *header(const char *name, size_t size) {
    char *h = malloc(size);
    size_t n = strlen(name);
    memcpy(h, name, n < size ? n : size - 1);
    h[(n < size ? n : size - 1)] = 0;
    return h;
}

static unsigned long hash(const unsigned char *p, size_t n, unsigned long h) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211UL;
    return h;
}

static void *worker(void *arg) {
    unsigned long seed = (unsigned long)(size_t)arg * 7919 + 1;
    char **cache = calloc((size_t)cache_entries, sizeof *cache);
    size_t *cache_size = calloc((size_t)cache_entries, sizeof *cache_size);
    long next = 0, served = 0;
    while (now() - start_s < seconds) {
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        char *request = malloc(256);
        memset(request, (int)seed, 256);
        char *h1 = header("Host: example.org", 32 + (seed >> 60) * 8);
        char *h2 = header("User-Agent: bench/1.0", 64 + ((seed >> 56) & 7) * 16);
        char *h3 = header("Accept: */*", 24);
        char *h4 = header("Cookie: session=abcdef0123456789", 128 + ((seed >> 52) & 15) * 24);
        size_t response_size = 1024 + ((seed >> 40) & 3) * 1024;
        unsigned char *response = malloc(response_size);
        unsigned long h = hash((unsigned char *)request, 256, 14695981039346656037UL);
        for (size_t i = 0; i < response_size; i++) response[i] = (unsigned char)(h >> (i & 63));
        h = hash(response, response_size, h);
        size_t keep = 48 + (h & 127);
        char *cached = malloc(keep);
        memcpy(cached, response, keep);
        if (cache[next]) {
            free(cache[next]);
            atomic_fetch_sub(&cache_bytes, (long)cache_size[next]);
        }
        cache[next] = cached;
        cache_size[next] = keep;
        atomic_fetch_add(&cache_bytes, (long)keep);
        next = (next + 1) % cache_entries;
        free(response);
        free(h4); free(h3); free(h2); free(h1);
        free(request);
        if (++served % 32 == 0) leak_here();
        long t = (long)(now() - start_s);
        if (t >= 0 && t < 3600) atomic_fetch_add(&windows[t], 1);
    }
    atomic_fetch_add(&total, served);
    /* The caches stay: what the program holds at the end. */
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    seconds = argc > 2 ? atoi(argv[2]) : 10;
    if (argc > 3) cache_entries = atol(argv[3]);
    if (threads < 1 || threads > 64 || seconds < 1 || seconds > 3600 || cache_entries < 1) return 2;
    pthread_t t[64];
    start_s = now();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < seconds; i++) printf("window %d %ld\n", i, atomic_load(&windows[i]));
    printf("requests %ld\n", atomic_load(&total));
    printf("leaked_bytes %ld\n", atomic_load(&leaked_bytes));
    printf("cache_bytes %ld\n", atomic_load(&cache_bytes));
    printf("leak_rate_bytes_per_s %.1f\n", atomic_load(&leaked_bytes) / (double)seconds);
    return 0;
}
