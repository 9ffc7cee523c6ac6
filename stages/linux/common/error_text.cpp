#include "stages/linux/common/error_text.h"

#include <cerrno>
#include <cstring>

namespace net {

namespace {

struct KnownError {
    int code;
    const char* name;
};

// Each name as <errno.h> spells it; EAGAIN and EWOULDBLOCK are one value on Linux.
const KnownError known_errors[] = {
    {EINTR, "EINTR"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {EPIPE, "EPIPE"},
    {ENOTSOCK, "ENOTSOCK"},
    {EPROTO, "EPROTO"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {ENETDOWN, "ENETDOWN"},
    {ENETUNREACH, "ENETUNREACH"},
    {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"},
    {ENOBUFS, "ENOBUFS"},
    {ENOTCONN, "ENOTCONN"},
    {ESHUTDOWN, "ESHUTDOWN"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
};

// strerror_r comes in two versions with one name: POSIX's returns int and fills the buffer,
// GNU's returns the text (which may or may not be in the buffer). g++ on glibc gets GNU's; these
// two overloads take whichever this C library has.
[[maybe_unused]] const char* text_of(int result, const char* buffer) {
    return result == 0 ? buffer : "";
}
[[maybe_unused]] const char* text_of(const char* result, const char*) { return result; }

}  // namespace

const char* error_name(int code) {
    for (const KnownError& known : known_errors) {
        if (known.code == code) return known.name;
    }
    return "";
}

std::string error_text(int code) {
    char buffer[256] = {};
    std::string text = text_of(::strerror_r(code, buffer, sizeof buffer), buffer);
    if (text.empty()) text = "no description from the system";
    const std::string name = error_name(code);
    const std::string number = std::to_string(code);
    return (name.empty() ? "error " + number : name + " (" + number + ")") + ": " + text;
}

}  // namespace net
