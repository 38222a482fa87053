// A C++ program that frees everything it allocates: strings, a map, an
// exception thrown and caught. What is left at exit is libstdc++'s
// emergency exception pool, held by the runtime by design: no leak.
#include <map>
#include <stdexcept>
#include <string>

__attribute__((noinline)) int work(int n) {
    std::map<int, std::string> m;
    for (int i = 0; i < n; i++) m[i] = std::string(100, 'x');
    int caught = 0;
    try {
        throw std::runtime_error("checked");
    } catch (const std::exception &) {
        caught = 1;
    }
    return static_cast<int>(m.size()) + caught;
}

int main() { return work(500) == 501 ? 0 : 1; }
