/* A forked child whose first allocation happens inside pthread_create
 * (glibc's per-thread vector, with calloc): the child starts a thread, joins
 * it, then leaks argv[1] blocks of 40 bytes from after_join() and exits. */
#include <pthread.h>
#include <sys/wait.h>
#include "common.h"
static void *nothing(void *a) { return a; }
__attribute__((noinline)) void after_join(long n) {
    for (long i = 0; i < n; i++) KEEP(malloc(40)); /* LINE:after_join */
    NO_TAIL();
}
int main(int argc, char **argv) {
    long n = arg_or(argc, argv, 1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        pthread_create(&t, NULL, nothing, NULL);
        pthread_join(t, NULL);
        after_join(n);
        exit(0);
    }
    int st; waitpid(pid, &st, 0);
    return WEXITSTATUS(st);
}
