/* Shapes its anonymous memory over time on purpose, for `heapwise watch`.
 *
 *   shape linear          +10 MiB/s, steadily (1 MiB every 100 ms)
 *   shape sawtooth        0 -> 40 MiB over 1 s, held 0.2 s, released, every 1.5 s
 *   shape plateau         +40 MiB/s for 2.5 s (100 MiB), then flat
 *   shape step            +32 MiB at once every 3 s, first at 1.5 s
 *   shape hold MIB        MIB MiB at once, then flat
 *   shape tree N          itself and N children, 16 MiB each, then flat
 *   shape exit SECONDS    8 MiB, then exits with code 3 after SECONDS
 *
 * Memory is one MAP_NORESERVE anonymous mapping: pages are touched to grow
 * and released with MADV_DONTNEED to shrink, every 100 ms on an absolute
 * schedule, so RssAnon follows the shape to within a page per step. Prints
 * "ready <pid>" once the first step is done. Exits by itself after 120 s
 * ($SHAPE_SECONDS if set), so a failed test leaves nothing behind for long.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)
#define RESERVE (4096UL * 1024 * 1024)
#define TICK_NS 100000000L

static unsigned char *region;
static size_t touched;
static long page;

static void set_size(size_t bytes) {
    bytes = bytes / page * page;
    if (bytes > RESERVE) bytes = RESERVE;
    for (size_t at = touched; at < bytes; at += page) region[at] = 1;
    if (bytes < touched) madvise(region + bytes, touched - bytes, MADV_DONTNEED);
    touched = bytes;
}

static double target_mib(const char *mode, double t, double arg) {
    if (!strcmp(mode, "linear")) return 10.0 * t;
    if (!strcmp(mode, "sawtooth")) {
        double phase = fmod(t, 1.5);
        if (phase < 1.0) return 40.0 * phase;
        return phase < 1.2 ? 40.0 : 0.0;
    }
    if (!strcmp(mode, "plateau")) return 40.0 * (t < 2.5 ? t : 2.5);
    if (!strcmp(mode, "step")) return 32.0 * floor((t + 1.5) / 3.0);
    if (!strcmp(mode, "hold")) return arg;
    if (!strcmp(mode, "tree") || !strcmp(mode, "exit")) return strcmp(mode, "tree") ? 8.0 : 16.0;
    return -1.0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: shape MODE [ARG]\n");
        return 2;
    }
    const char *mode = argv[1];
    double arg = argc > 2 ? atof(argv[2]) : 0.0;
    if (target_mib(mode, 0.0, arg) < 0) {
        fprintf(stderr, "shape: unknown mode %s\n", mode);
        return 2;
    }
    page = sysconf(_SC_PAGESIZE);
    if (!strcmp(mode, "tree")) {
        for (int i = 0; i < (int)arg; i++) {
            if (fork() == 0) break; /* children shape themselves the same way */
        }
    }
    const char *lifetime = getenv("SHAPE_SECONDS"); /* alarms do not survive fork */
    alarm(lifetime ? (unsigned)atoi(lifetime) : 120);
    region = mmap(NULL, RESERVE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct timespec start, next;
    clock_gettime(CLOCK_MONOTONIC, &start);
    next = start;
    for (long tick = 0;; tick++) {
        double t = tick * (TICK_NS / 1e9);
        if (!strcmp(mode, "exit") && t >= arg) return 3;
        set_size((size_t)(target_mib(mode, t, arg) * MIB));
        if (tick == 0) {
            printf("ready %d\n", (int)getpid());
            fflush(stdout);
        }
        next.tv_nsec += TICK_NS;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec += 1;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
}
