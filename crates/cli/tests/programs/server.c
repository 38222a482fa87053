/* A request loop shaped like a server, for the growth report:
 *   (a) cache_add():   every request adds a 64-byte entry to a cache that is
 *                      never evicted (linear growth, a leak)
 *   (b) batch_leak():  every 1000th request leaks 50 blocks of 1 KiB
 *                      (jumps at a regular interval, a leak)
 *   (c) hold_buffer(): every 1500th request takes a 1 MiB buffer, held for
 *                      300 requests, then freed (not a leak)
 *   (d) temporaries:   every request builds and frees per-request buffers
 * Every 1000 requests it pauses 300 ms and prints (no stdio) the exact bytes
 * it holds. Usage: server REQUESTS (default 5000), about 0.5 ms each. */
#include <time.h>
#include "common.h"

struct entry {
    struct entry *next;
    char data[56];
};

static struct entry *cache;
static long held;              /* bytes the program holds right now */
static char *buffer;           /* (c) */
static long buffer_taken_at = -1;
static void *batches[1000];
static int batch_count;

__attribute__((noinline)) void cache_add(long id) {
    struct entry *e = malloc(sizeof *e); /* LINE:cache_add */
    e->next = cache;
    e->data[0] = (char)id;
    cache = e;
    held += sizeof *e;
    NO_TAIL();
}

__attribute__((noinline)) void batch_leak(void) {
    for (int i = 0; i < 50; i++) {
        batches[batch_count++] = malloc(1024); /* LINE:batch_leak */
        KEEP(batches[batch_count - 1]);
    }
    held += 50 * 1024;
    NO_TAIL();
}

__attribute__((noinline)) void hold_buffer(long id) {
    buffer = malloc(1 << 20); /* LINE:hold_buffer */
    memset(buffer, 1, 1 << 20);
    buffer_taken_at = id;
    held += 1 << 20;
    NO_TAIL();
}

__attribute__((noinline)) void handle(long id) {
    char *scratch = malloc(200);      /* freed at once: temporary */
    KEEP(scratch);
    free(scratch);
    char *request = malloc(512);
    char *response = malloc(2048);
    KEEP(request);
    KEEP(response);
    free(request);
    free(response);
    cache_add(id);
    if (id % 1000 == 0) batch_leak();
    if (id % 1500 == 0 && !buffer) hold_buffer(id);
    if (buffer && id - buffer_taken_at >= 300) {
        free(buffer);
        buffer = NULL;
        held -= 1 << 20;
    }
    NO_TAIL();
}

int main(int argc, char **argv) {
    long requests = arg_or(argc, argv, 1, 5000);
    struct timespec tick = {0, 500000};
    struct timespec pause = {0, 300000000};
    for (long id = 1; id <= requests; id++) {
        handle(id);
        nanosleep(&tick, NULL);
        if (id % 1000 == 0) {
            nanosleep(&pause, NULL);
            say_number(held);
        }
    }
    return 0;
}
