/* Leaks N blocks of 128 bytes, waits long enough for the tracer to write
 * them (it writes at least every second), then is killed with SIGKILL. */
#include <signal.h>
#include <time.h>
#include "common.h"

__attribute__((noinline)) void before_death(long n) {
    for (long i = 0; i < n; i++) KEEP(malloc(128)); /* LINE:before_death */
    NO_TAIL();
}

int main(int argc, char **argv) {
    before_death(arg_or(argc, argv, 1, 500));
    struct timespec pause = {1, 500000000};
    nanosleep(&pause, NULL);
    kill(getpid(), SIGKILL);
    return 0;
}
