// common/send_all.h — hand every byte to send(), however many calls that takes.
//
// Stage 01 teaches it (see notes/01_blocking_echo.md); every stage that sends with a blocking
// send() uses it as it is.
#pragma once

#include "common/winsock.h"

namespace net {

// ANCHOR: send_all
// send() may take fewer bytes than it was given ("can be less than the number requested",
// says its documentation), even on a blocking socket. Looping until all are taken is the
// sender's job. On false, WSAGetLastError() says why. `send_function` is ::send; the unit
// tests pass a fake one that takes a single byte per call.
template <class SendFunction = decltype(&::send)>
bool send_all(SOCKET s, const char* data, int length, SendFunction send_function = ::send) {
    while (length > 0) {
        const int sent = send_function(s, data, length, 0);
        if (sent == SOCKET_ERROR) return false;
        if (sent <= 0 || sent > length) {  // not a count send() may return: give up, and say so
            ::WSASetLastError(WSAECONNABORTED);
            return false;
        }
        data += sent;
        length -= sent;
    }
    return true;
}
// ANCHOR_END: send_all

}  // namespace net
