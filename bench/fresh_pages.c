/* What touching fresh memory costs on this machine: maps N MiB, touches a
 * byte of every page (the kernel zeroes each page on first touch), writes
 * it all again, unmaps, four times. Huge pages asked for with 1.
 *
 *   gcc -O2 bench/fresh_pages.c -o /tmp/fresh_pages
 *   /tmp/fresh_pages 256 1    # 256 MiB, huge pages
 *   /tmp/fresh_pages 256 0    # 256 MiB, 4 KiB pages
 *
 * On this project's VM the first round in a new process is the slow one
 * (fresh pages: about 2 ns a byte in huge pages); pages just freed by the
 * rounds before come back fast (docs/performance.md, eighth session). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MIB HUGE(0|1)\n", argv[0]);
        return 2;
    }
    size_t n = (size_t)atoi(argv[1]) << 20;
    int huge = atoi(argv[2]);
    for (int round = 0; round < 4; round++) {
        char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        if (huge)
            madvise(p, n, MADV_HUGEPAGE);
        double t0 = now();
        for (size_t i = 0; i < n; i += 4096)
            p[i] = 1;
        double t1 = now();
        memset(p, 0, n);
        double t2 = now();
        printf("round %d: first touch %.3f s (%.2f GB/s), written again %.3f s\n", round, t1 - t0,
               n / (t1 - t0) / 1e9, t2 - t1);
        munmap(p, n);
    }
    return 0;
}
