// stages/linux/common/error_text.h — readable text for an errno value.
#pragma once

#include <string>

namespace net {

// "ECONNRESET (104): Connection reset by peer". The twin of common/error_text.h: on Linux a
// failed call returns -1 and leaves its reason in errno (the twin of WSAGetLastError), and the
// sentence comes from the C library (strerror_r, thread-safe, unlike strerror). The symbolic
// name is added for the codes a socket program meets most. Never empty, even for a code
// nobody knows.
std::string error_text(int code);

// The symbolic name alone ("ECONNRESET"), or "" when the code is not in the table.
const char* error_name(int code);

}  // namespace net
