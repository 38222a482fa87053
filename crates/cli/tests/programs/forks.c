/* The parent leaks P blocks of 40 bytes from parent_leak(); the child it
 * forks leaks C blocks of 88 bytes from child_leak() and exits 7. The
 * parent waits and exits with the child's status + 1. */
#include <sys/wait.h>
#include "common.h"

__attribute__((noinline)) void parent_leak(long n) {
    for (long i = 0; i < n; i++) KEEP(malloc(40)); /* LINE:parent_leak */
    NO_TAIL();
}

__attribute__((noinline)) void child_leak(long n) {
    for (long i = 0; i < n; i++) KEEP(malloc(88)); /* LINE:child_leak */
    NO_TAIL();
}

int main(int argc, char **argv) {
    long p = arg_or(argc, argv, 1, 20);
    long c = arg_or(argc, argv, 2, 30);
    parent_leak(p);
    pid_t pid = fork();
    if (pid == 0) {
        child_leak(c);
        exit(7);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) + 1 : 99;
}
