/* Damages its own trace while it is being written, as a disk or another
 * program might: allocates until the trace file ($HEAPWISE_OUTPUT) holds
 * more than its header, writes 32 bytes of garbage over the end of the
 * last block there, and goes on allocating for 400 ms, so that whole
 * blocks follow the damaged one. Prints the file's length when it
 * scribbled. No stdio. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "common.h"

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

__attribute__((noinline)) static void churn(long ms) {
    long end = now_ms() + ms;
    while (now_ms() < end) {
        for (int i = 0; i < 1000; i++) {
            void *p = malloc(32 + (size_t)(i % 100));
            KEEP(p);
            free(p);
        }
    }
    NO_TAIL();
}

int main(void) {
    const char *path = getenv("HEAPWISE_OUTPUT");
    if (!path) return 2;
    int fd = open(path, O_WRONLY);
    if (fd < 0) return 3;
    struct stat st;
    long deadline = now_ms() + 10000;
    do {
        churn(50);
        if (fstat(fd, &st) != 0) return 4;
    } while (st.st_size < 16384 && now_ms() < deadline);
    if (st.st_size < 16384) return 5;
    char garbage[32];
    memset(garbage, 0xA5, sizeof garbage);
    if (pwrite(fd, garbage, sizeof garbage, st.st_size - 32) != (ssize_t)sizeof garbage) return 6;
    close(fd);
    churn(400);
    say_number(st.st_size);
    return 0;
}
