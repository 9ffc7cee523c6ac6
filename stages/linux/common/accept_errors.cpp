#include "stages/linux/common/accept_errors.h"

#include "common/log.h"
#include "stages/linux/common/error_text.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

namespace net {

AcceptErrors::Next AcceptErrors::on_error(int error) {
    switch (error) {
        case ECONNABORTED:
        case EINTR:
        case ENETDOWN:
        case EPROTO:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
            log("accept failed: ", error_text(error), "; accepting the next one");
            return Next::accept_now;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            pause_ = short_in_a_row_ ? std::min(2 * pause_, longest_pause) : first_pause;
            short_in_a_row_ = true;
            log("accept failed: ", error_text(error), "; trying again in ", pause_.count(), " ms");
            return Next::accept_later;
        default:
            std::fprintf(stderr, "error: accept failed: %s; no more clients can be accepted\n",
                         error_text(error).c_str());
            return Next::stop;
    }
}

bool AcceptErrors::survive(int error) {
    const Next next = on_error(error);
    if (next == Next::accept_later) std::this_thread::sleep_for(pause_);
    return next != Next::stop;
}

}  // namespace net
