/* For the live view: caches 8 blocks of 1 MiB from `cache_insert`, one
 * every 250 ms, saying so on stdout, then holds them. With "stdin" it then
 * waits for a line on stdin and exits (the blocks leak); with a number it
 * waits that many seconds instead. It also says whether its stdout is a
 * terminal (under the live view it must still be one). */
#include "common.h"

#define BLOCK (1024 * 1024)

static void say(const char *text) {
    ssize_t ignored = write(1, text, strlen(text));
    (void)ignored;
}

__attribute__((noinline)) static void *cache_insert(void) {
    void *block = malloc(BLOCK); /* LINE:cache */
    memset(block, 1, BLOCK);
    NO_TAIL();
    return block;
}

int main(int argc, char **argv) {
    static void *cache[8];
    say(isatty(1) ? "live: stdout is a terminal\n" : "live: stdout is not a terminal\n");
    for (int i = 0; i < 8; i++) {
        cache[i] = cache_insert();
        KEEP(cache[i]);
        say("live: cached block ");
        say_number(i + 1);
        usleep(250 * 1000);
    }
    say("live: holding 8 MiB\n");
    if (argc > 1 && strcmp(argv[1], "stdin") == 0) {
        char line[64];
        ssize_t got = read(0, line, sizeof line);
        say(got > 0 ? "live: got a line, bye\n" : "live: no input, bye\n");
    } else {
        sleep((unsigned)arg_or(argc, argv, 1, 3));
    }
    return 0;
}
