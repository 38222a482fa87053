/* The library the tests load: its entry point writes what it was given
 * and the process id to the file named by its argument. */
#include <stdio.h>
#include <unistd.h>

int heapwise_probe(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "attached %d\n", (int)getpid());
    fclose(f);
    return 42;
}
