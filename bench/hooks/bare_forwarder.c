/*
 * The floor of any LD_PRELOAD interposer (RESEARCH.md): malloc and free
 * forwarded to glibc's __libc_malloc / __libc_free, malloc counting down
 * a per-thread byte budget in initial-exec TLS as a sampler would (and
 * doing nothing when it runs out). bench/hooks.py measures heapwise's
 * hooks against it.
 *
 * gcc -O2 -shared -fPIC -o bare_forwarder.so bench/hooks/bare_forwarder.c
 */
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static __thread long countdown __attribute__((tls_model("initial-exec"))) = 1L << 40;

void *malloc(size_t size) {
    countdown -= (long)size;
    return __libc_malloc(size);
}

void free(void *p) { __libc_free(p); }
void *calloc(size_t n, size_t size) { return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { return __libc_realloc(p, size); }
