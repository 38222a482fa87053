/* Three kinds of growth in one request loop, long enough that each call
 * stack's live-bytes series is coarsened (it changes in more buckets than a
 * stack's series keeps points, so neighbouring buckets are merged):
 *   (a) cache_put():    every request adds a 256-byte entry to a cache that is
 *                       never evicted (a steady leak: linear). The entry is
 *                       added through one of STACKS recursion depths (request
 *                       id modulo STACKS), so the leak is spread over STACKS
 *                       distinct call stacks that all start in cache_put.
 *   (b) periodic_job(): every request borrows a 1 KiB scratch block and frees
 *                       it; every 400th request the job keeps 32 of them (a
 *                       periodic leak: jumps at a regular interval, flat in
 *                       between, on a series that changes in every bucket).
 *   (c) load_batch():   the same churn, and at requests 1000, 1600 and 5200
 *                       it keeps 64 blocks of 1 KiB (a step leak: a few
 *                       irregular jumps).
 * Each request then sleeps PAUSE_US microseconds. Usage:
 * rates REQUESTS STACKS PAUSE_US (defaults 8000, 1, 1000); REQUESTS is at
 * least 5200 for the three steps. */
#include <time.h>
#include "common.h"

struct entry {
    struct entry *next;
    char data[248];
};

static struct entry *cache;
static void *kept[1 << 16];
static long kept_count;
static volatile int calls;

__attribute__((noinline)) void cache_put(long id) {
    struct entry *e = malloc(sizeof *e); /* LINE:cache_put */
    e->next = cache;
    e->data[0] = (char)id;
    cache = e;
    NO_TAIL();
}

/* Reaches cache_put through `depth` more frames of its own. */
__attribute__((noinline)) void via(long depth, long id) {
    if (depth > 0)
        via(depth - 1, id);
    else
        cache_put(id);
    NO_TAIL();
}

/* Two call sites of the same shape (each its own stack): call `index` 0 of
 * a run frees its block, the others keep theirs. */
#define KEEPER(name)                                     \
    __attribute__((noinline)) void name(int index) {     \
        void *block = malloc(1024);                      \
        KEEP(block);                                     \
        if (index > 0)                                   \
            kept[kept_count++] = block;                  \
        else                                             \
            free(block);                                 \
        NO_TAIL();                                       \
    }
KEEPER(periodic_job)
KEEPER(load_batch)

int main(int argc, char **argv) {
    long requests = arg_or(argc, argv, 1, 8000);
    long stacks = arg_or(argc, argv, 2, 1);
    long pause_us = arg_or(argc, argv, 3, 1000);
    if (stacks < 1) stacks = 1;
    struct timespec tick = {0, pause_us * 1000};
    for (long id = 1; id <= requests; id++) {
        via(id % stacks, id);
        /* One call site each, so churn and kept blocks share a stack (the
         * counts go through a volatile so the compiler cannot split the
         * loops into a first call and the rest). */
        calls = id % 400 == 0 ? 1 + 32 : 1;
        for (int i = 0; i < calls; i++) periodic_job(i);
        calls = id == 1000 || id == 1600 || id == 5200 ? 1 + 64 : 1;
        for (int i = 0; i < calls; i++) load_batch(i);
        nanosleep(&tick, NULL);
    }
    return 0;
}
