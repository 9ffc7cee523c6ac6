#include "common/accept_errors.h"

#include "common/error_text.h"
#include "common/log.h"
#include "common/winsock.h"

#include <algorithm>
#include <cstdio>
#include <thread>

namespace net {

namespace {

// The lines that say what happened: dropped, rather than thrown, when even their text cannot be
// allocated — on_error() runs on the way back from a failure, often with the system short of
// memory, and in stage 08 under the lock of the accepts posted ahead.
template <class... Then>
void say(int error, const Then&... then) noexcept {
    try {
        log("accept failed: ", error_text(error), then...);
    } catch (...) {
    }
}

void say_on_stderr(int error, const char* then) noexcept {
    try {
        std::fprintf(stderr, "error: accept failed: %s%s\n", error_text(error).c_str(), then);
    } catch (...) {
    }
}

}  // namespace

AcceptErrors::Next AcceptErrors::on_error(int error) noexcept {
    switch (error) {
        // One connection failed, not the listener: a client that reset or gave up before it
        // was taken. accept() reports it as WSAECONNRESET; an AcceptEx completion can say the
        // same thing as WSAECONNABORTED or WSAENETRESET, and Wine says WSAENOTCONN.
        case WSAECONNRESET:
        case WSAECONNABORTED:
        case WSAENETRESET:
        case WSAENOTCONN:
            say(error, "; accepting the next one");
            return Next::accept_now;
        case WSAEMFILE:
        case WSAENOBUFS:
            pause_ = short_in_a_row_ ? std::min(2 * pause_, longest_pause) : first_pause;
            short_in_a_row_ = true;
            say(error, "; trying again in ", pause_.count(), " ms");
            return Next::accept_later;
        default:
            say_on_stderr(error, "; no more clients can be accepted");
            return Next::stop;
    }
}

bool AcceptErrors::survive(int error) {
    const Next next = on_error(error);
    if (next == Next::accept_later) std::this_thread::sleep_for(pause_);
    return next != Next::stop;
}

}  // namespace net
