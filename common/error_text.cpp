#include "common/error_text.h"

#include "common/winsock.h"

#include <string>

namespace net {

namespace {

struct KnownError {
    int code;
    const char* name;
    const char* meaning;  // used when the system has no text (Wine lacks many)
};

// The codes a socket program meets most. Winsock calls report WSA* codes through
// WSAGetLastError; overlapped completions report Win32 ERROR_* codes through GetLastError.
constexpr KnownError known_errors[] = {
    {ERROR_NETNAME_DELETED, "ERROR_NETNAME_DELETED", "the connection was reset or closed"},
    {ERROR_SEM_TIMEOUT, "ERROR_SEM_TIMEOUT", "the connection timed out"},
    {ERROR_OPERATION_ABORTED, "ERROR_OPERATION_ABORTED", "the operation was cancelled"},
    {ERROR_IO_PENDING, "ERROR_IO_PENDING", "the operation was started and will complete later"},
    {ERROR_CONNECTION_ABORTED, "ERROR_CONNECTION_ABORTED", "the connection was aborted locally"},
    {ERROR_CONNECTION_REFUSED, "ERROR_CONNECTION_REFUSED", "the connection was refused"},
    {ERROR_INVALID_HANDLE, "ERROR_INVALID_HANDLE", "the handle is not valid"},
    {ERROR_NOT_ENOUGH_MEMORY, "ERROR_NOT_ENOUGH_MEMORY", "not enough memory"},
    {ERROR_ABANDONED_WAIT_0, "ERROR_ABANDONED_WAIT_0", "the completion port was closed"},
    {WSAEINTR, "WSAEINTR", "a blocking call was interrupted"},
    {WSAEBADF, "WSAEBADF", "bad file handle"},
    {WSAEACCES, "WSAEACCES", "permission denied"},
    {WSAEFAULT, "WSAEFAULT", "bad address"},
    {WSAEINVAL, "WSAEINVAL", "invalid argument"},
    {WSAEMFILE, "WSAEMFILE", "too many open sockets"},
    {WSAEWOULDBLOCK, "WSAEWOULDBLOCK", "the operation would block"},
    {WSAEINPROGRESS, "WSAEINPROGRESS", "a blocking operation is in progress"},
    {WSAENOTSOCK, "WSAENOTSOCK", "not a socket"},
    {WSAEMSGSIZE, "WSAEMSGSIZE", "message too long"},
    {WSAEAFNOSUPPORT, "WSAEAFNOSUPPORT", "address family not supported"},
    {WSAEADDRINUSE, "WSAEADDRINUSE", "address already in use"},
    {WSAEADDRNOTAVAIL, "WSAEADDRNOTAVAIL", "address not available on this machine"},
    {WSAENETDOWN, "WSAENETDOWN", "the network is down"},
    {WSAENETRESET, "WSAENETRESET", "the connection was reset by the network"},
    {WSAECONNABORTED, "WSAECONNABORTED", "the connection was aborted locally"},
    {WSAECONNRESET, "WSAECONNRESET", "the connection was reset by the peer"},
    {WSAENOBUFS, "WSAENOBUFS", "no buffer space available"},
    {WSAENOTCONN, "WSAENOTCONN", "the socket is not connected"},
    {WSAESHUTDOWN, "WSAESHUTDOWN", "the socket was shut down in that direction"},
    {WSAETIMEDOUT, "WSAETIMEDOUT", "the operation timed out"},
    {WSAECONNREFUSED, "WSAECONNREFUSED", "the connection was refused"},
    {WSANOTINITIALISED, "WSANOTINITIALISED", "WSAStartup has not been called"},
    {WSAHOST_NOT_FOUND, "WSAHOST_NOT_FOUND", "host not found"},
};

const KnownError* find_known(int code) {
    for (const KnownError& known : known_errors) {
        if (known.code == code) return &known;
    }
    return nullptr;
}

std::string system_text(int code) {
    char* buffer = nullptr;
    // FORMAT_MESSAGE_ALLOCATE_BUFFER: the system sizes the buffer; LocalFree releases it.
    // Language 0: the user's language, with the fallbacks FormatMessage documents.
    const DWORD length = ::FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, static_cast<DWORD>(code), 0, reinterpret_cast<char*>(&buffer), 0, nullptr);
    std::string text;
    if (length > 0 && buffer) text.assign(buffer, length);
    ::LocalFree(buffer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
        text.pop_back();
    return text;
}

}  // namespace

const char* error_name(int code) {
    const KnownError* known = find_known(code);
    return known ? known->name : "";
}

std::string error_text(int code) {
    const KnownError* known = find_known(code);
    std::string text = system_text(code);
    if (text.empty()) text = known ? known->meaning : "no description from the system";
    const std::string number = std::to_string(code);
    return (known ? std::string(known->name) + " (" + number + ")" : "error " + number) + ": " +
           text;
}

}  // namespace net
