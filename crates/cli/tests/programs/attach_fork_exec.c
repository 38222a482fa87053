/* A process to attach to that forks and execs when told. Meanwhile it
 * leaks 100 bytes from parent_leak every 10 ms. Lines on its input:
 *
 *   fork   a child leaks 1000 blocks from child_leak, prints their
 *          checksum and which module its `malloc` (through its GOT) is in,
 *          and exits with 7; the parent prints how the child ended.
 *   spawn  a child execs this program with --exec-child, which leaks and
 *          prints like a forked child and exits with 3.
 *   exec   the process execs this program with --exec-self, which prints
 *          like a forked child and exits with 0 when its input ends.
 *
 * Every line it prints is the same from run to run (no pids, no times). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <sys/wait.h>
#include "common.h"

static void say(const char *text) {
    ssize_t ignored = write(1, text, strlen(text));
    (void)ignored;
}

__attribute__((noinline)) static void *parent_leak(void) {
    void *p = malloc(100); /* LINE:parent */
    memset(p, 1, 100);
    KEEP(p);
    NO_TAIL();
    return p;
}

__attribute__((noinline)) static unsigned long child_leak(void) {
    unsigned long sum = 0;
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = malloc(64); /* LINE:child */
        memset(p, i & 0xff, 64);
        KEEP(p);
        sum = sum * 31 + p[i % 64] + (unsigned long)i;
    }
    NO_TAIL();
    return sum;
}

/* Where calls of `malloc` from this program go: the module of the address
 * its GOT holds. */
static const char *malloc_module(void) {
    void *(*through_got)(size_t) = malloc;
    KEEP(through_got);
    Dl_info info;
    if (!dladdr((void *)through_got, &info) || !info.dli_fname) return "?";
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

static void child_report(const char *who) {
    char out[160];
    unsigned long sum = child_leak();
    int n = snprintf(out, sizeof out, "%s: checksum %lu, malloc in %s\n", who, sum,
                     malloc_module());
    ssize_t ignored = write(1, out, (size_t)n);
    (void)ignored;
}

static void reap(pid_t pid) {
    int status = 0;
    char out[64];
    if (waitpid(pid, &status, 0) != pid) abort();
    int n = WIFEXITED(status)
                ? snprintf(out, sizeof out, "child exited with %d\n", WEXITSTATUS(status))
                : snprintf(out, sizeof out, "child killed by signal %d\n", WTERMSIG(status));
    ssize_t ignored = write(1, out, (size_t)n);
    (void)ignored;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--exec-child") == 0) {
        child_report("exec'd child");
        return 3;
    }
    if (argc > 1 && strcmp(argv[1], "--exec-self") == 0) {
        child_report("exec'd");
        /* Runs on until its input ends. */
        char c;
        while (read(0, &c, 1) == 1) {
        }
        say("exec'd program done\n");
        return 0;
    }
    say("ready\n");
    char line[32];
    size_t len = 0;
    for (;;) {
        KEEP(parent_leak());
        struct pollfd in = {0, POLLIN, 0};
        if (poll(&in, 1, 10) != 1) continue;
        char c;
        if (read(0, &c, 1) != 1) return 0;
        if (c != '\n') {
            if (len < sizeof line - 1) line[len++] = c;
            continue;
        }
        line[len] = 0;
        len = 0;
        if (strcmp(line, "fork") == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                child_report("forked child");
                exit(7);
            }
            reap(pid);
        } else if (strcmp(line, "spawn") == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                execl(argv[0], argv[0], "--exec-child", (char *)NULL);
                _exit(127);
            }
            reap(pid);
        } else if (strcmp(line, "exec") == 0) {
            say("exec'ing\n");
            execl(argv[0], argv[0], "--exec-self", (char *)NULL);
            say("exec failed\n");
            return 1;
        }
    }
}
