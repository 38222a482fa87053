/* Leaks 64-byte blocks from leak_forever() until it is killed, counting in
 * a shared file mapping (argv[1]) that outlives it: word 0 is the number of
 * malloc calls started, word 1 the number that returned. The tracer saw
 * between the two. */
#include <fcntl.h>
#include <sys/mman.h>
#include "common.h"

static volatile long *counts;

__attribute__((noinline)) void leak_forever(void) {
    for (;;) {
        counts[0]++;
        KEEP(malloc(64)); /* LINE:leak_forever */
        counts[1]++;
        if ((counts[1] & 1023) == 0) usleep(1000);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) return 2;
    counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (counts == MAP_FAILED) return 2;
    say_number(1); /* ready */
    leak_forever();
    return 0;
}
