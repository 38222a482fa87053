/* A program with its own allocator linked in: malloc, free, calloc and
 * realloc defined in the executable (a bump allocator over a static
 * array), which the dynamic linker binds every call to, libc's included.
 * It "leaks" 200 x 24 B that heapwise cannot see; its report must say why. */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

static char arena[1 << 22];
static size_t used;

void *malloc(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (used + size > sizeof arena) return NULL;
    void *p = arena + used;
    used += size;
    return p;
}
void free(void *p) { (void)p; }
void *calloc(size_t n, size_t size) {
    void *p = malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}
void *realloc(void *old, size_t size) {
    void *p = malloc(size);
    if (p && old) memcpy(p, old, size); /* the arena is contiguous: safe */
    return p;
}

__attribute__((noinline)) void leak_unseen(void) {
    for (int i = 0; i < 200; i++) {
        volatile char *p = malloc(24);
        p[0] = 1;
    }
}

int main(void) {
    leak_unseen();
    return 0;
}
