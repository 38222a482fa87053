/* A program that is being traced by a debugger-like process when it exits:
 * a forked child seizes its parent with ptrace (and keeps it running,
 * passing every signal on), then the parent leaks 5 x 48 bytes
 * (leak_while_traced) and exits with code 7. Says what it did on stdout. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include "common.h"

__attribute__((noinline)) void leak_while_traced(void) {
    for (int i = 0; i < 5; i++) KEEP(malloc(48)); /* LINE:leak_while_traced */
    NO_TAIL();
}

int main(void) {
    int ready[2];
    if (pipe(ready) != 0) return 2;
    pid_t parent = getpid();
    pid_t tracer = fork();
    if (tracer == 0) {
        if (ptrace(PTRACE_SEIZE, parent, 0, 0) != 0) _exit(3);
        ssize_t ignored = write(ready[1], "t", 1);
        (void)ignored;
        for (;;) {
            int status;
            if (waitpid(parent, &status, __WALL) != parent) _exit(0);
            if (WIFEXITED(status) || WIFSIGNALED(status)) _exit(0);
            if (WIFSTOPPED(status)) {
                int sig = WSTOPSIG(status);
                ptrace(PTRACE_CONT, parent, 0, status >> 16 ? 0 : sig);
            }
        }
    }
    char byte;
    if (read(ready[0], &byte, 1) != 1) return 4;
    leak_while_traced();
    printf("traced by process %d, leaked 5 x 48 bytes, exiting with 7\n", (int)tracer);
    fflush(stdout);
    return 7;
}
