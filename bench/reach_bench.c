/* A heap for timing the reachability scan at exit (bench/reach.py): N
 * blocks (default 10,000,000) of 16-192 bytes, about 1 GiB in all, in
 * chains of 100 linked through their first word, each block's second word
 * pointing back to a block allocated earlier, the rest filled with small
 * integers (not pointers). A global array holds the chains' heads, but
 * every 100th chain's head is dropped: those chains are lost (the head
 * definitely, the rest indirectly — the back pointers only point into
 * blocks that are reachable or in the same chain), but for the last one,
 * whose head main's frame still holds at exit.
 *
 * With "dense" as second argument every word of every block is a pointer
 * to the start of some block: the worst case for the scan's lookups.
 *
 * Prints what it built, then exits (where heapwise scans it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN 100

void **heads;

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000000;
    int dense = argc > 2 && strcmp(argv[2], "dense") == 0;
    long chains = (n + CHAIN - 1) / CHAIN;
    heads = calloc((size_t)chains, sizeof *heads);
    void **all = malloc((size_t)n * sizeof *all);
    uint64_t bytes = 0, lost_blocks = 0;
    for (long c = 0; c < chains; c++) {
        void **previous = NULL;
        for (long i = c * CHAIN; i < n && i < (c + 1) * CHAIN; i++) {
            size_t size = 16 + 8 * (next_random() % 23);
            uint64_t *block = malloc(size);
            bytes += size;
            all[i] = block;
            size_t words = size / 8;
            if (dense) {
                for (size_t w = 0; w < words; w++) block[w] = (uint64_t)all[next_random() % (uint64_t)(i + 1)];
            } else {
                for (size_t w = 2; w < words; w++) block[w] = (uint64_t)(i * 31 + w) & 0xffff;
                /* Back into this chain (or to itself), never into another. */
                long first = c * CHAIN;
                block[1] = (uint64_t)all[first + (long)(next_random() % (uint64_t)(i - first + 1))];
                block[0] = 0;
            }
            if (previous && !dense) previous[0] = block;
            previous = (void **)block;
            if (i == c * CHAIN) heads[c] = block;
        }
        if (c % 100 == 99 && !dense) {
            heads[c] = NULL;
            lost_blocks += (c + 1) * CHAIN <= n ? CHAIN : (uint64_t)(n - c * CHAIN);
        }
    }
    /* The array of every block would make every block reachable. */
    free(all);
    printf("built %ld blocks, %llu bytes, %s; %llu blocks in lost chains\n", n,
           (unsigned long long)bytes, dense ? "every word a pointer" : "chains of 100", (unsigned long long)lost_blocks);
    fflush(stdout);
    exit(0);
}
