// common/log.h — one line of log output, whole, from any thread.
#pragma once

#include <sstream>
#include <string>

namespace net {

// Writes `line` and a newline to stdout as one piece, then flushes, so that lines written by
// different threads never mix and whoever reads the other end of a pipe (the tests do) sees
// each line as soon as it is written.
void write_line(const std::string& line) noexcept;

// log("client ", id, " connected from ", address): the parts streamed into one line.
// Never throws: when memory runs out the line is dropped, rather than an exception thrown from
// a worker thread (which would end the process) or from the middle of a shutdown.
template <class... Parts>
void log(const Parts&... parts) noexcept {
    try {
        std::ostringstream line;
        (line << ... << parts);
        write_line(line.str());
    } catch (...) {
    }
}

}  // namespace net
