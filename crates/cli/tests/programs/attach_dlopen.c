/* A process to attach to that loads a library later: when a line arrives
 * on its standard input it dlopens the plugin (argv[1]), leaks 500 blocks
 * through it at once, and from then on calls plugin_leak(1) every 10 ms,
 * printing how many blocks the plugin has leaked so far. */
#include <dlfcn.h>
#include <poll.h>
#include <time.h>
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    void (*leak)(long) = NULL;
    say_number(0);
    for (long leaked = 0;;) {
        struct pollfd in = {0, POLLIN, 0};
        if (!leak && poll(&in, 1, 0) == 1) {
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
