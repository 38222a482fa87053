/* A process to attach to and detach from many times: THREADS threads
 * allocate, fill, grow, check and free blocks of pseudo-random sizes in
 * rounds, each keeping a ring of blocks alive across rounds (so frees of
 * blocks allocated before an attach come during it), and fold what they
 * read back into a checksum. Any block the tracer corrupted, lost or
 * handed out twice changes a checksum.
 *
 *   attach_churn THREADS        runs until a line "stop" (or the end of
 *                               its input); a line "fork" forks a child
 *                               that does a fixed job and exits with part
 *                               of its checksum.
 *   attach_churn THREADS R1 .. RT F
 *                               does exactly R1 .. RT rounds and F forks:
 *                               the same output, untraced, to compare.
 *
 * Output: "ready" once running, "forked" after each fork, then at the end
 * one line per thread ("thread T: R rounds, checksum C") and "children: F
 * forked, checksum C". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include "common.h"

#define MAX_THREADS 16
#define RING 256
#define PER_ROUND 16

struct worker {
    pthread_t thread;
    int index;
    long rounds;       /* done */
    long limit;        /* -1: until told to stop */
    uint64_t checksum;
    volatile int stop;
};

static uint64_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 33;
}

static uint64_t fold(uint64_t sum, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 7) sum = (sum ^ p[i]) * 1099511628211ULL;
    return sum;
}

/* One round: PER_ROUND blocks made (malloc, calloc or realloc of a ring
 * slot), each filled with a pattern and read back, and as many ring slots
 * freed. Deterministic in (seed, round). */
static uint64_t round_of(void **ring, size_t *sizes, uint64_t *rng, uint64_t sum) {
    for (int i = 0; i < PER_ROUND; i++) {
        unsigned slot = (unsigned)(next_random(rng) % RING);
        size_t size = 16 + next_random(rng) % 2000;
        unsigned kind = (unsigned)(next_random(rng) % 4);
        unsigned char *p;
        if (kind == 0 && ring[slot]) {
            /* Grow (or shrink) in place or moved: the old bytes survive. */
            size_t keep = sizes[slot] < size ? sizes[slot] : size;
            p = realloc(ring[slot], size);
            if (!p) abort();
            sum = fold(sum, p, keep);
        } else {
            free(ring[slot]);
            if (kind == 1) {
                p = calloc(1, size);
                if (!p) abort();
                for (size_t j = 0; j < size; j++)
                    if (p[j]) abort();
            } else {
                p = malloc(size);
                if (!p) abort();
            }
        }
        memset(p, (int)(next_random(rng) & 0xff), size);
        p[size - 1] = (unsigned char)i;
        ring[slot] = p;
        sizes[slot] = size;
        sum = fold(sum, p, size);
    }
    return sum;
}

static void *work(void *arg) {
    struct worker *w = arg;
    void *ring[RING] = {0};
    size_t sizes[RING] = {0};
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->index + 1);
    uint64_t sum = 14695981039346656037ULL;
    while (w->limit >= 0 ? w->rounds < w->limit : !w->stop) {
        sum = round_of(ring, sizes, &rng, sum);
        w->rounds++;
        struct timespec ts = {0, 500 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < RING; i++) {
        if (ring[i]) sum = fold(sum, ring[i], sizes[i]);
        free(ring[i]);
    }
    w->checksum = sum;
    return NULL;
}

/* A forked child's fixed job; its exit status is part of the checksum. */
static int child_job(long n) {
    void *ring[RING] = {0};
    size_t sizes[RING] = {0};
    uint64_t rng = 0x51ed2701ULL + (uint64_t)n;
    uint64_t sum = 0;
    for (int r = 0; r < 200; r++) sum = round_of(ring, sizes, &rng, sum);
    return (int)(sum % 101);
}

static uint64_t fork_child(long n, uint64_t sum) {
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) _exit(child_job(n));
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) abort();
    return sum * 31 + (uint64_t)WEXITSTATUS(status);
}

static void say(const char *text) {
    ssize_t ignored = write(1, text, strlen(text));
    (void)ignored;
}

int main(int argc, char **argv) {
    int threads = (int)arg_or(argc, argv, 1, 4);
    if (threads < 1 || threads > MAX_THREADS) return 2;
    int reference = argc > 1 + threads;
    static struct worker workers[MAX_THREADS];
    for (int t = 0; t < threads; t++) {
        workers[t].index = t;
        workers[t].limit = reference ? arg_or(argc, argv, 2 + t, 0) : -1;
        pthread_create(&workers[t].thread, NULL, work, &workers[t]);
    }
    long forks = 0;
    uint64_t children = 0;
    say("ready\n");
    if (reference) {
        long wanted = arg_or(argc, argv, 2 + threads, 0);
        for (; forks < wanted; forks++) {
            children = fork_child(forks, children);
            say("forked\n");
        }
    } else {
        char line[64];
        size_t len = 0;
        for (;;) {
            char c;
            if (read(0, &c, 1) != 1) break;
            if (c != '\n') {
                if (len < sizeof line - 1) line[len++] = c;
                continue;
            }
            line[len] = 0;
            len = 0;
            if (strcmp(line, "stop") == 0) break;
            if (strcmp(line, "fork") == 0) {
                children = fork_child(forks++, children);
                say("forked\n");
            }
        }
        for (int t = 0; t < threads; t++) workers[t].stop = 1;
    }
    char out[128];
    for (int t = 0; t < threads; t++) {
        pthread_join(workers[t].thread, NULL);
        int n = snprintf(out, sizeof out, "thread %d: %ld rounds, checksum %016llx\n", t,
                         workers[t].rounds, (unsigned long long)workers[t].checksum);
        ssize_t ignored = write(1, out, (size_t)n);
        (void)ignored;
    }
    int n = snprintf(out, sizeof out, "children: %ld forked, checksum %016llx\n", forks,
                     (unsigned long long)children);
    ssize_t ignored = write(1, out, (size_t)n);
    (void)ignored;
    return 0;
}
