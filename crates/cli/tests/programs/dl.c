/* dlopens the plugin given as argv[1], calls plugin_leak(N), and dlcloses
 * it before exiting: the leak's frames are in a library that is gone. */
#include <dlfcn.h>
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long n = arg_or(argc, argv, 2, 30);
    void *handle = dlopen(argv[1], RTLD_NOW);
    if (!handle) return 3;
    void (*leak)(long) = (void (*)(long))dlsym(handle, "plugin_leak");
    if (!leak) return 4;
    leak(n);
    if (dlclose(handle) != 0) return 5;
    return 0;
}
