/* Leaks 1,000 x 16 B from leak_then(), then dies at once the way argv[1]
 * says: abort, segv (NULL write in one thread while another churns
 * malloc/free), kill (raise SIGKILL), handler (own SIGSEGV handler that
 * _exit(3)s), term (default SIGTERM), bus, fpe, ill. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include "common.h"

__attribute__((noinline)) void leak_then(void) {
    for (int i = 0; i < 1000; i++) KEEP(malloc(16)); /* LINE:leak_then */
    NO_TAIL();
}

static volatile int stop;
static void *churn(void *arg) {
    (void)arg;
    while (!stop) { void *p = malloc(40); KEEP(p); free(p); }
    return NULL;
}

static void on_segv(int sig) { (void)sig; _exit(3); }

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "abort";
    pthread_t t;
    int threaded = !strcmp(how, "segv") || !strcmp(how, "handler");
    if (threaded) pthread_create(&t, NULL, churn, NULL);
    leak_then();
    if (!strcmp(how, "abort")) abort();
    if (!strcmp(how, "kill")) raise(SIGKILL);
    if (!strcmp(how, "term")) raise(SIGTERM);
    if (!strcmp(how, "bus")) raise(SIGBUS);
    if (!strcmp(how, "fpe")) raise(SIGFPE);
    if (!strcmp(how, "ill")) raise(SIGILL);
    if (!strcmp(how, "handler")) signal(SIGSEGV, on_segv);
    *(volatile int *)0 = 1;
    return 0;
}
