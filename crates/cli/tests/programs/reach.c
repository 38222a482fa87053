/* Blocks still allocated at exit, each held (or not) in one way, for the
 * reachability scan at exit; valgrind is the oracle. Every case allocates
 * from a function of its own, so each leak group names its case, and says
 * on stdout what it did. With arguments, only the cases named run.
 *
 *   held_by_global            1000 B  pointer in a global          still reachable
 *   held_by_thread_stack      1100 B  local of a live thread       still reachable
 *   held_by_thread_tls        1200 B  __thread of a live thread    still reachable
 *   held_by_main_tls          1300 B  __thread of the main thread  still reachable
 *   held_in_register          1400 B  only in r12 of a live thread still reachable
 *   held_by_interior_pointer  1500 B  a global points 16 B inside  possibly lost
 *   held_by_unaligned_pointer 1600 B  stored at an odd address     definitely lost
 *   lost_tree_root / _node    48 B + 6 x 32 B, root dropped        definitely / indirectly
 *   lost_cycle_node           3 x 40 B in a ring, none held        1 definitely, 2 indirectly
 *   lost_chain_head / _link   56 B -> 4 x 24 B, head dropped       definitely / indirectly
 *   interior_then_start_*     200 B reached through an interior pointer, and
 *                             the 210 B it points to               possibly / possibly
 *   lost_small                24 B, the last block carved          definitely lost
 *   held_by_big_mapping       1700 B  pointer 20 MiB into a 32 MiB
 *                                     anonymous mapping (a root the
 *                                     scan reads in pieces)        still reachable
 *
 * Before exit the main thread clears the stack below it, so that no stale
 * copy of a pointer stays where exit's frames do not overwrite it:
 * valgrind knows which stack words were written since, heapwise cannot. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")
#define NOINLINE __attribute__((noinline))

static atomic_int ready;

static void say(const char *text) {
    ssize_t ignored = write(1, text, strlen(text));
    (void)ignored;
}

static void *filled(size_t size) {
    void *p = malloc(size);
    memset(p, 0, size);
    return p;
}

/* --- still reachable ---------------------------------------------------- */

void *global_ptr;
NOINLINE void held_by_global(void) {
    global_ptr = malloc(1000);
    memset(global_ptr, 0, 1000);
    say("held_by_global: 1000 bytes, pointer in a global\n");
}

NOINLINE void *thread_stack_main(void *arg) {
    void *volatile local = malloc(1100);
    memset(local, 0, 1100);
    atomic_fetch_add(&ready, 1);
    for (;;) pause();
    return arg;
}
NOINLINE void held_by_thread_stack(void) {
    pthread_t t;
    pthread_create(&t, NULL, thread_stack_main, NULL);
    say("held_by_thread_stack: 1100 bytes, pointer in a local of a live thread\n");
}

/* Not static: the compiler must keep every store to it. */
__thread void *tls_ptr;
NOINLINE void *thread_tls_main(void *arg) {
    tls_ptr = malloc(1200);
    memset(tls_ptr, 0, 1200);
    atomic_fetch_add(&ready, 1);
    for (;;) pause();
    return arg;
}
NOINLINE void held_by_thread_tls(void) {
    pthread_t t;
    pthread_create(&t, NULL, thread_tls_main, NULL);
    say("held_by_thread_tls: 1200 bytes, pointer in a __thread variable of a live thread\n");
}

NOINLINE void held_by_main_tls(void) {
    tls_ptr = malloc(1300);
    memset(tls_ptr, 0, 1300);
    say("held_by_main_tls: 1300 bytes, pointer in a __thread variable of the main thread\n");
}

/* The pointer lives in r12 only: the stack below the thread's frame (where
 * malloc's frames were) is cleared, then it spins without a call. */
NOINLINE void *thread_register_main(void *arg) {
    register void *held __asm__("r12") = malloc(1400);
    __asm__ volatile("" : "+r"(held));
    __asm__ volatile("lea -8192(%%rsp), %%rdi\n\t"
                     "mov $1024, %%ecx\n\t"
                     "xor %%eax, %%eax\n\t"
                     "rep stosq"
                     :
                     :
                     : "rdi", "rcx", "rax", "memory");
    atomic_fetch_add(&ready, 1);
    for (;;) __asm__ volatile("pause" : "+r"(held));
    return arg;
}
NOINLINE void held_in_register(void) {
    pthread_t t;
    pthread_create(&t, NULL, thread_register_main, NULL);
    say("held_in_register: 1400 bytes, pointer only in r12 of a live thread\n");
}

/* --- possibly lost ------------------------------------------------------ */

char *global_interior;
NOINLINE void held_by_interior_pointer(void) {
    global_interior = (char *)filled(1500) + 16;
    say("held_by_interior_pointer: 1500 bytes, a global points 16 bytes into it\n");
}

/* A reachable block holds a pointer into the middle of X; X holds a pointer
 * to the start of Y: both only possibly reachable. */
void **global_holder;
NOINLINE void *interior_then_start_target(void) { return filled(210); }
NOINLINE void *interior_then_start_middle(void) { return filled(200); }
NOINLINE void interior_then_start(void) {
    global_holder = malloc(sizeof(void *));
    char *middle = interior_then_start_middle();
    *(void **)middle = interior_then_start_target();
    global_holder[0] = middle + 40;
    say("interior_then_start: 200 bytes reached through an interior pointer, holding the 210 bytes it points to\n");
}

/* --- lost --------------------------------------------------------------- */

unsigned char unaligned[32];
NOINLINE void held_by_unaligned_pointer(void) {
    void *p = filled(1600);
    memcpy(unaligned + 3, &p, sizeof p);
    say("held_by_unaligned_pointer: 1600 bytes, its only pointer stored at an odd address\n");
}

struct tree {
    struct tree *left, *right;
    long pad[2];
};
NOINLINE struct tree *lost_tree_node(int depth) {
    struct tree *node = filled(32);
    if (depth > 0) {
        node->left = lost_tree_node(depth - 1);
        node->right = lost_tree_node(depth - 1);
    }
    return node;
}
NOINLINE struct tree *lost_tree_root(void) {
    struct tree *root = filled(48);
    root->left = lost_tree_node(1);
    root->right = lost_tree_node(1);
    return root;
}
NOINLINE void lost_tree(void) {
    KEEP(lost_tree_root());
    say("lost_tree: a 48-byte root over 6 nodes of 32 bytes, root dropped\n");
}

NOINLINE void *lost_cycle_node(void) {
    void *node = filled(40);
    KEEP(node);
    return node;
}
NOINLINE void lost_cycle(void) {
    void **ring[3];
    for (int i = 0; i < 3; i++) ring[i] = lost_cycle_node();
    for (int i = 0; i < 3; i++) ring[i][0] = ring[(i + 1) % 3];
    KEEP(ring[0]);
    say("lost_cycle: 3 blocks of 40 bytes in a ring, none held\n");
}

NOINLINE void *lost_chain_link(void *next) {
    void **link = filled(24);
    link[0] = next;
    return link;
}
NOINLINE void *lost_chain_head(void *next) {
    void **head = filled(56);
    head[0] = next;
    return head;
}
NOINLINE void lost_chain(void) {
    void *next = NULL;
    for (int i = 0; i < 4; i++) next = lost_chain_link(next);
    KEEP(lost_chain_head(next));
    say("lost_chain: a 56-byte head over 4 links of 24 bytes, head dropped\n");
}

NOINLINE void lost_small(void) {
    void *volatile p = filled(24);
    p = NULL;
    say("lost_small: 24 bytes, dropped\n");
}

NOINLINE void held_by_big_mapping(void) {
    char *area = mmap(NULL, 32 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return;
    void *block = malloc(1700);
    memset(block, 0, 1700);
    memcpy(area + (20 << 20), &block, sizeof block);
    block = NULL;
    say("held_by_big_mapping: 1700 bytes, pointer 20 MiB into a 32 MiB mapping\n");
}

/* Clears the stack below the caller. */
NOINLINE void clear_stack(void) {
    volatile char area[64 << 10];
    memset((char *)area, 0, sizeof area);
    KEEP(area);
}

static const struct {
    const char *name;
    void (*run)(void);
    int threads;
} cases[] = {
    {"held_by_global", held_by_global, 0},
    {"held_by_thread_stack", held_by_thread_stack, 1},
    {"held_by_thread_tls", held_by_thread_tls, 1},
    {"held_by_main_tls", held_by_main_tls, 0},
    {"held_in_register", held_in_register, 1},
    {"held_by_interior_pointer", held_by_interior_pointer, 0},
    {"interior_then_start", interior_then_start, 0},
    {"held_by_unaligned_pointer", held_by_unaligned_pointer, 0},
    {"lost_tree", lost_tree, 0},
    {"lost_cycle", lost_cycle, 0},
    {"lost_chain", lost_chain, 0},
    {"lost_small", lost_small, 0},
    {"held_by_big_mapping", held_by_big_mapping, 0},
};

int main(int argc, char **argv) {
    int threads = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], cases[i].name) == 0;
        if (wanted) {
            cases[i].run();
            threads += cases[i].threads;
        }
    }
    while (atomic_load(&ready) < threads) usleep(1000);
    clear_stack();
    exit(0);
}
