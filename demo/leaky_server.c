/*
 * A small "server" that leaks the way real servers do, for heapwise's
 * quick start. It handles REQUESTS requests (default 20000); each request:
 *   - builds a response in temporary buffers and frees them (no leak);
 *   - stores its session in a cache that is never evicted (a leak that
 *     grows with every request: 200 bytes each);
 *   - every 1000th request, registers a 4 KiB "listener" that nobody
 *     removes (a step-wise leak).
 * Run it under heapwise:   heapwise run -- ./leaky_server
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct session {
    struct session *next;
    long id;
    char token[184];
};

static struct session *cache;      /* grows forever: nobody evicts */
static void **listeners;
static size_t listener_count;

static char *render_response(long id) {
    char *header = malloc(256);
    char *body = malloc(1024 + (size_t)(id % 512));
    snprintf(header, 256, "HTTP/1.1 200 OK\r\nX-Request: %ld\r\n", id);
    memset(body, 'x', 1024);
    size_t len = strlen(header) + 1024;
    char *response = malloc(len + 1);
    memcpy(response, header, strlen(header));
    memcpy(response + strlen(header), body, 1024);
    response[len] = 0;
    free(header);
    free(body);
    return response;
}

static void remember_session(long id) {
    struct session *s = malloc(sizeof *s);
    s->id = id;
    snprintf(s->token, sizeof s->token, "session-%ld", id);
    s->next = cache;
    cache = s;
}

static void add_listener(void) {
    listeners = realloc(listeners, (listener_count + 1) * sizeof *listeners);
    listeners[listener_count++] = calloc(1, 4096);
}

static void handle_request(long id) {
    char *response = render_response(id);
    remember_session(id);
    if (id % 1000 == 0) add_listener();
    free(response);
}

int main(int argc, char **argv) {
    long requests = argc > 1 ? atol(argv[1]) : 20000;
    struct timespec tick = {0, 10000000}; /* 10 ms every 100 requests: ~2 s */
    for (long id = 1; id <= requests; id++) {
        handle_request(id);
        if (id % 100 == 0) nanosleep(&tick, NULL);
    }
    printf("served %ld requests\n", requests);
    return 0;
}
