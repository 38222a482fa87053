// C++ leaks through operator new: N Widgets from make_widget(), M arrays of
// 25 ints from make_array(); temporaries in a std::vector are freed.
#include <cstdlib>
#include <vector>

namespace shop {
struct Widget {
    long id;
    char name[56];
};

__attribute__((noinline)) Widget *make_widget(long id) {
    Widget *w = new Widget(); // LINE:make_widget
    w->id = id;
    return w;
}
}  // namespace shop

__attribute__((noinline)) int *make_array() {
    return new int[25]();  // LINE:make_array
}

static std::vector<void *> kept;

int main(int argc, char **argv) {
    long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100;
    long m = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 50;
    kept.reserve(static_cast<size_t>(n + m));
    for (long i = 0; i < n; i++) kept.push_back(shop::make_widget(i));
    for (long i = 0; i < m; i++) kept.push_back(make_array());
    for (int round = 0; round < 100; round++) {
        std::vector<int> temp(static_cast<size_t>(round) + 1, round);
        __asm__ volatile("" : : "r"(temp.data()) : "memory");
    }
    // `kept` itself is a leak-free static: its buffer is freed by its
    // destructor at exit, after main returns.
    return 0;
}
