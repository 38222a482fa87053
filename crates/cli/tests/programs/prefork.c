/* A pre-fork server in miniature: the master builds a table of 100 x 200 B
 * (kept by everyone) and 50 x 64 B of scratch, then forks a worker, which
 * frees the scratch, adds 30 x 96 B of its own and exits 0. The worker's
 * report shows the 100 x 200 B it still holds of the master's, apart from
 * what it allocated itself. The master frees its scratch as soon as fork
 * returns, within a tick of the fork: the worker still inherited it. */
#include <sys/wait.h>
#include "common.h"

static void *table[100], *scratch[50];

__attribute__((noinline)) void build_table(void) {
    for (int i = 0; i < 100; i++) table[i] = malloc(200); /* LINE:build_table */
    NO_TAIL();
}

__attribute__((noinline)) void make_scratch(void) {
    for (int i = 0; i < 50; i++) scratch[i] = malloc(64);
    NO_TAIL();
}

__attribute__((noinline)) void worker_own(void) {
    for (int i = 0; i < 30; i++) KEEP(malloc(96)); /* LINE:worker_own */
    NO_TAIL();
}

int main(void) {
    build_table();
    make_scratch();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 50; i++) free(scratch[i]);
        worker_own();
        exit(0);
    }
    for (int i = 0; i < 50; i++) free(scratch[i]);
    int status;
    waitpid(pid, &status, 0);
    KEEP(table[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
