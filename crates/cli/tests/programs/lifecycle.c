/* Ways a process starts and ends, chosen by argv[1]:
 *   ctor         a constructor leaks 7 x 24 bytes (early_leak) before main
 *   thread-exit  a second thread leaks 11 x 56 bytes (thread_leak_then_exit)
 *                and calls exit(5) while main waits
 *   _exit        leaks 13 x 72 bytes (leak_then__exit), then _exit(3)
 *   exec PROG ARGS...
 *                leaks 9 x 40 bytes (leak_before_exec), then execv(PROG)
 */
#include <pthread.h>
#include "common.h"

__attribute__((noinline)) void early_leak(void) {
    for (int i = 0; i < 7; i++) KEEP(malloc(24)); /* LINE:early_leak */
    NO_TAIL();
}

static int run_ctor;

__attribute__((constructor)) static void before_main(void) {
    /* Constructors run before main; argv is not available here, so the
     * environment says whether to leak. */
    const char *mode = getenv("LIFECYCLE_CTOR");
    if (mode && mode[0] == '1') {
        run_ctor = 1;
        early_leak();
    }
}

__attribute__((noinline)) void thread_leak_then_exit(void) {
    for (int i = 0; i < 11; i++) KEEP(malloc(56)); /* LINE:thread_leak_then_exit */
    exit(5);
}

static void *exiting_thread(void *arg) {
    (void)arg;
    thread_leak_then_exit();
    return NULL;
}

__attribute__((noinline)) void leak_then__exit(void) {
    for (int i = 0; i < 13; i++) KEEP(malloc(72)); /* LINE:leak_then__exit */
    _exit(3);
}

__attribute__((noinline)) void leak_before_exec(void) {
    for (int i = 0; i < 9; i++) KEEP(malloc(40)); /* LINE:leak_before_exec */
    NO_TAIL();
}

int main(int argc, char **argv) {
    if (argc < 2) return run_ctor ? 0 : 2;
    if (strcmp(argv[1], "thread-exit") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exiting_thread, NULL);
        for (;;) pause();
    }
    if (strcmp(argv[1], "_exit") == 0) leak_then__exit();
    if (strcmp(argv[1], "exec") == 0 && argc > 2) {
        leak_before_exec();
        execv(argv[2], &argv[2]);
        return 4;
    }
    return 0;
}
