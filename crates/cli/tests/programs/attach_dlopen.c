/* A process to attach to that loads a library later: one second after it
 * starts it dlopens the plugin (argv[1]), leaks 500 blocks through it at
 * once, and from then on calls plugin_leak(1) every 10 ms, printing how
 * many blocks the plugin has leaked so far. */
#include <dlfcn.h>
#include <time.h>
#include "common.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    double start = now();
    void (*leak)(long) = NULL;
    say_number(0);
    for (long leaked = 0;;) {
        if (!leak && now() - start > 1.0) {
            void *handle = dlopen(argv[1], RTLD_NOW);
            if (!handle) return 3;
            leak = (void (*)(long))dlsym(handle, "plugin_leak");
            leak(500);
            leaked += 500;
        }
        if (leak) {
            leak(1);
            say_number(++leaked);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
