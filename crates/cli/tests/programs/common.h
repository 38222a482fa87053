/* Helpers shared by heapwise's end-to-end test programs. The programs
 * avoid stdio (whose buffers would add allocations the test does not know
 * about) and keep every pointer alive in the compiler's eyes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes `p` escape so the compiler keeps the allocation. */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")
/* Stops the compiler from turning a call into a tail jump, which would
 * remove the caller's frame. */
#define NO_TAIL() __asm__ volatile("" : : : "memory")

static long arg_or(int argc, char **argv, int i, long fallback) {
    return argc > i ? strtol(argv[i], NULL, 10) : fallback;
}

/* Writes a decimal number and a newline to fd 1 without stdio. */
static void say_number(long n) {
    char buf[32];
    int len = 0;
    char tmp[32];
    if (n == 0) tmp[len++] = '0';
    while (n > 0) { tmp[len++] = (char)('0' + n % 10); n /= 10; }
    for (int i = 0; i < len; i++) buf[i] = tmp[len - 1 - i];
    buf[len] = '\n';
    ssize_t ignored = write(1, buf, (size_t)len + 1);
    (void)ignored;
}
