/* A SIGALRM handler that allocates: every 200 us a timer signal leaks one
 * 48-byte block from on_alarm() while the main thread churns through
 * malloc/free, so signals land inside the tracer's hooks. Prints how many
 * blocks the handler leaked.
 *
 * malloc is not async-signal-safe: a handler that interrupts glibc's
 * malloc inside the same tcache bin can be handed the very block the
 * interrupted call is taking. So the main loop uses sizes whose bins the
 * handler never touches (200..299 bytes), warmed up first so that it only
 * ever hits its thread cache; only the tracer's code and glibc's lock-free
 * paths run when a signal lands. */
#include <signal.h>
#include <sys/time.h>
#include "common.h"

static volatile sig_atomic_t fired;
static void *leaked[100000];

__attribute__((noinline)) void on_alarm(int sig) {
    (void)sig;
    if (fired < 100000) {
        leaked[fired] = malloc(48); /* LINE:on_alarm */
        fired = fired + 1;
    }
    NO_TAIL();
}

int main(int argc, char **argv) {
    long target = arg_or(argc, argv, 1, 300);
    for (size_t size = 200; size < 300; size++) {
        char *p = malloc(size);
        KEEP(p);
        free(p);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval timer = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &timer, NULL);
    long i = 0;
    while (fired < target) {
        char *p = malloc(200 + (size_t)(i++ % 100));
        KEEP(p);
        free(p);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    say_number(fired);
    return 0;
}
