#include "common/log.h"

#include <cstdio>

namespace net {

void write_line(const std::string& line) noexcept {
    // One fwrite per line: the C runtime locks the stream for the length of each call, so a
    // line is never split by another thread's output. (No lock of our own is needed.)
    try {
        const std::string whole = line + '\n';
        std::fwrite(whole.data(), 1, whole.size(), stdout);
        std::fflush(stdout);
    } catch (...) {  // no memory for the copy: the line is dropped (see log.h)
    }
}

}  // namespace net
