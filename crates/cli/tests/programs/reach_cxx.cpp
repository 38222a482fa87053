// C++ blocks still allocated at exit that only valgrind's heuristics call
// reachable, and C++ leaks; valgrind is the oracle. Each case allocates from
// a function of its own and says on stdout what it did.
//
//   cookie_array        new Counted[5] held through the pointer new[]
//                       returns, 8 bytes past the block's start (the element
//                       count before it): reachable by valgrind's newarray
//   second_base         a Both held through a Right*, which points past its
//                       Left part: reachable by multipleinheritance
//   owned_string        a std::string held in a global, its 200-character
//                       buffer reached from it: both still reachable
//   lost_string         the same, dropped: 1 definitely, 1 indirectly lost
//   lost_vector         a std::vector<int*> of 8 blocks, dropped
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#define NOINLINE __attribute__((noinline))

static void say(const char *text) {
    ssize_t ignored = write(1, text, strlen(text));
    (void)ignored;
}

struct Counted {
    long value = 0;
    ~Counted() { value = -1; }
};

Counted *global_array;
NOINLINE void cookie_array() {
    global_array = new Counted[5];
    say("cookie_array: new Counted[5] (8 + 40 bytes), held through the element pointer\n");
}

struct Left {
    virtual ~Left() {}
    long left = 1;
};
struct Right {
    virtual ~Right() {}
    long right = 2;
};
struct Both : Left, Right {
    long both = 3;
};

Right *global_right;
NOINLINE void second_base() {
    global_right = new Both;
    say("second_base: a Both (40 bytes) held through a Right* that points 16 bytes into it\n");
}

std::string *global_string;
NOINLINE std::string *make_string() { return new std::string(200, 'x'); }
NOINLINE void owned_string() {
    global_string = make_string();
    say("owned_string: a std::string (32 bytes) and its 201-byte buffer, held in a global\n");
}

NOINLINE void lost_string() {
    std::string *volatile dropped = make_string();
    dropped = nullptr;
    say("lost_string: the same, dropped\n");
}

NOINLINE int *lost_vector_element(int i) { return new int(i); }
NOINLINE void lost_vector() {
    auto *volatile v = new std::vector<int *>();
    v->reserve(8);
    for (int i = 0; i < 8; i++) v->push_back(lost_vector_element(i));
    v = nullptr;
    say("lost_vector: a std::vector (24 bytes), its 64-byte array and 8 ints, dropped\n");
}

NOINLINE void clear_stack() {
    volatile char area[64 << 10];
    memset(const_cast<char *>(area), 0, sizeof area);
}

int main() {
    cookie_array();
    second_base();
    owned_string();
    lost_string();
    lost_vector();
    clear_stack();
    return 0;
}
