/*
 * The C part of libheapwise_preload.so.
 *
 * 1. Per-thread state in initial-exec TLS. The hooks run inside malloc; a
 *    TLS access through __tls_get_addr may itself call malloc (after a
 *    dlopen, to grow the DTV), so the hot path must only use the
 *    initial-exec model, which is a fixed offset from the thread pointer.
 *    Rust cannot request that model on stable, hence this file.
 * 2. The exec family. Before the program image is replaced, buffered events
 *    must reach the trace; execl/execlp/execle are variadic, which Rust
 *    cannot define on stable. Each wrapper asks the Rust side to flush, then
 *    calls the next definition (glibc's) found with dlsym(RTLD_NEXT).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

struct hw_tls {
    /* 0: idle; 1: inside a hook; 2: internal thread or code (never traced). */
    unsigned char guard;
    /* The thread's stream was released by the thread-exit destructor. */
    unsigned char exited;
    unsigned short pad;
    /* Calls that could not be recorded while no stream was attached. */
    unsigned int lost;
    /* The stream this thread writes (owned by the Rust side). */
    void *stream;
    /* The thread's stack, for bounds-checked reads while unwinding. */
    unsigned long stack_lo;
    unsigned long stack_hi;
    /* Sampled traces (sample.rs): bytes left before the next sample, and
     * the thread's PRNG state (0: not seeded yet). */
    unsigned long sample_left;
    unsigned long rng;
};

/* tls.rs mirrors this layout and checks the same size. */
_Static_assert(sizeof(struct hw_tls) == 48, "struct hw_tls and tls.rs's Tls differ");

/* Hidden, so that only this library sees it; read by tls.rs at a fixed
 * offset from the thread pointer (the offset from the GOT: the
 * initial-exec model, as this file's own accesses use). */
__attribute__((visibility("hidden"))) __thread struct hw_tls heapwise_tls_block
    __attribute__((tls_model("initial-exec")));

/* Implemented in Rust (lifecycle.rs). */
void heapwise_before_exec(void);
void heapwise_after_failed_exec(void);

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);
typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);

static void *next_symbol(const char *name) {
    return dlsym(RTLD_NEXT, name);
}

#define CALL_NEXT(type, name, ...)                                   \
    do {                                                             \
        type next = (type)next_symbol(name);                         \
        if (!next) {                                                 \
            errno = ENOSYS;                                          \
            return -1;                                               \
        }                                                            \
        heapwise_before_exec();                                      \
        int rc = next(__VA_ARGS__);                                  \
        int saved = errno;                                           \
        heapwise_after_failed_exec();                                \
        errno = saved;                                               \
        return rc;                                                   \
    } while (0)

__attribute__((visibility("default"))) int execve(const char *path, char *const argv[], char *const envp[]) {
    CALL_NEXT(execve_fn, "execve", path, argv, envp);
}

__attribute__((visibility("default"))) int execv(const char *path, char *const argv[]) {
    CALL_NEXT(execv_fn, "execv", path, argv);
}

__attribute__((visibility("default"))) int execvp(const char *file, char *const argv[]) {
    CALL_NEXT(execv_fn, "execvp", file, argv);
}

__attribute__((visibility("default"))) int execvpe(const char *file, char *const argv[], char *const envp[]) {
    CALL_NEXT(execvpe_fn, "execvpe", file, argv, envp);
}

__attribute__((visibility("default"))) int fexecve(int fd, char *const argv[], char *const envp[]) {
    CALL_NEXT(fexecve_fn, "fexecve", fd, argv, envp);
}

/* The wrappers under hidden names: what attach.rs redirects a running
 * process's calls to, and what execl* call. Once this library was loaded
 * after glibc (dlopen, by heapwise attach), the exported names, even from
 * this library's own code, resolve to glibc's definitions. */
#define HIDDEN_ALIAS(name) \
    extern __typeof(name) hw_exec_##name __attribute__((alias(#name), copy(name), visibility("hidden")));
HIDDEN_ALIAS(execve)
HIDDEN_ALIAS(execv)
HIDDEN_ALIAS(execvp)
HIDDEN_ALIAS(execvpe)
HIDDEN_ALIAS(fexecve)

/* Collects the variadic arguments of execl* into an array on the stack. */
#define COLLECT_ARGS(first, ap, argv)                                \
    size_t argc = 1;                                                 \
    va_start(ap, first);                                             \
    while (va_arg(ap, const char *) != NULL) argc++;                 \
    va_end(ap);                                                      \
    const char *argv[argc + 1];                                      \
    argv[0] = first;                                                 \
    va_start(ap, first);                                             \
    for (size_t i = 1; i <= argc; i++) argv[i] = va_arg(ap, const char *);

__attribute__((visibility("default"))) int execl(const char *path, const char *arg, ...) {
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    va_end(ap);
    return hw_exec_execv(path, (char *const *)argv);
}

__attribute__((visibility("default"))) int execlp(const char *file, const char *arg, ...) {
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    va_end(ap);
    return hw_exec_execvp(file, (char *const *)argv);
}

__attribute__((visibility("default"))) int execle(const char *path, const char *arg, ...) {
    va_list ap;
    COLLECT_ARGS(arg, ap, argv)
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return hw_exec_execve(path, (char *const *)argv, envp);
}

HIDDEN_ALIAS(execl)
HIDDEN_ALIAS(execlp)
HIDDEN_ALIAS(execle)
