// stages/linux/common/send_all.h — hand every byte to send(), however many calls that takes.
//
// The twin of common/send_all.h: the same loop, on a descriptor, with errno, and with the one
// flag a Linux server must not forget (MSG_NOSIGNAL, below).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>

namespace net {

// ANCHOR: send_all
// send() may take fewer bytes than it was given, even on a blocking socket: when a signal
// interrupts it after some were taken, or when SO_SNDTIMEO runs out (send(2), socket(7)).
// Looping until all are taken is the sender's job. On false, errno says why.
//
// MSG_NOSIGNAL: sending on a connection the peer has reset raises SIGPIPE, whose default action
// ends the whole process — one client's reset would kill the server. With the flag the call
// fails with EPIPE instead, and only that client is lost. (Windows has no SIGPIPE.)
//
// `send_function` is ::send; the unit tests pass a fake one that takes a single byte per call.
template <class SendFunction = decltype(&::send)>
bool send_all(int s, const char* data, std::size_t length, SendFunction send_function = ::send) {
    while (length > 0) {
        const ssize_t sent = send_function(s, data, length, MSG_NOSIGNAL);
        if (sent < 0) return false;
        if (sent == 0 || static_cast<std::size_t>(sent) > length) {  // not a count send() returns
            errno = ECONNABORTED;
            return false;
        }
        data += sent;
        length -= static_cast<std::size_t>(sent);
    }
    return true;
}
// ANCHOR_END: send_all

}  // namespace net
