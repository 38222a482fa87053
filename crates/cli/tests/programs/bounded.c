/* A request loop for traces kept under a size limit (heapwise run
 * --max-size), running for a given time:
 *   leak_session(): every 32nd request keeps a 64-byte block (a steady
 *                   leak);
 *   cache_put():    every request puts a 512-byte entry in a cache of 2,048
 *                   entries, evicting the oldest once full (fills, then
 *                   stays flat);
 *   scratch():      every request allocates and frees 1 to 8 blocks of 16
 *                   to 2,048 bytes (churn).
 * Usage: bounded MILLISECONDS PAUSE_US (defaults 2000, 0): PAUSE_US
 * microseconds of sleep after every 16th request. Prints the number of
 * requests, then the blocks leak_session kept. No stdio. */
#include <time.h>

#include "common.h"

#define CACHE 2048

static void *cache[CACHE];
static void **sessions;
static long session_count, session_cap;

__attribute__((noinline)) void leak_session(void) {
    void *p = malloc(64); /* LINE:leak_session */
    KEEP(p);
    if (session_count == session_cap) {
        session_cap = session_cap ? session_cap * 2 : 1024;
        sessions = realloc(sessions, session_cap * sizeof *sessions);
    }
    sessions[session_count++] = p;
    NO_TAIL();
}

__attribute__((noinline)) void cache_put(long request) {
    long slot = request % CACHE;
    free(cache[slot]);
    cache[slot] = malloc(512); /* LINE:cache_put */
    KEEP(cache[slot]);
    NO_TAIL();
}

__attribute__((noinline)) void scratch(long request) {
    void *blocks[8];
    int n = 1 + (int)(request % 8);
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(16 + (size_t)((request * 37 + i * 101) % 2033));
        KEEP(blocks[i]);
    }
    for (int i = 0; i < n; i++) free(blocks[i]);
    NO_TAIL();
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    long duration = arg_or(argc, argv, 1, 2000);
    long pause = arg_or(argc, argv, 2, 0);
    long start = now_ms();
    long request = 0;
    while (now_ms() - start < duration) {
        for (int i = 0; i < 16; i++, request++) {
            if (request % 32 == 0) leak_session();
            cache_put(request);
            scratch(request);
        }
        if (pause > 0) usleep((useconds_t)pause);
    }
    say_number(request);
    say_number(session_count);
    return 0;
}
