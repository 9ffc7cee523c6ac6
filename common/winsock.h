// common/winsock.h — Winsock start-up and the RAII owners every stage uses.
//
// Nothing here is a lesson of its own; it is the plumbing that keeps each stage's main.cpp
// about its one new idea. Include this before any other Windows header: winsock2.h must come
// before windows.h, or windows.h drags in the old winsock.h and the two clash.
#pragma once

// Keep windows.h lean (and without the old winsock.h), and keep it from defining min and max
// as macros, which would break std::min and std::max. Defined here so that the one-line builds
// in the notes need no -D flags.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <string>
#include <utility>

namespace net {

// ANCHOR: winsock_session
// Every Winsock program starts with WSAStartup and ends with WSACleanup. The calls are
// reference counted by Windows, so nested sessions are fine; each object makes one pair.
// Construction throws if Winsock 2.2 is not available, so a live object means "ready".
class WinsockSession {
public:
    WinsockSession();
    ~WinsockSession();
    WinsockSession(const WinsockSession&) = delete;
    WinsockSession& operator=(const WinsockSession&) = delete;
};
// ANCHOR_END: winsock_session

// ANCHOR: unique_resource
// Owns one kernel resource and closes it exactly once: when it goes out of scope, when it
// is reset, or never if release() handed it on. Moves transfer ownership; copies are banned.
template <class Traits>
class UniqueResource {
public:
    using Handle = typename Traits::Handle;

    UniqueResource() noexcept = default;
    explicit UniqueResource(Handle handle) noexcept : handle_(handle) {}
    UniqueResource(UniqueResource&& other) noexcept : handle_(other.release()) {}
    UniqueResource& operator=(UniqueResource&& other) noexcept {
        reset(other.release());
        return *this;
    }
    UniqueResource(const UniqueResource&) = delete;
    UniqueResource& operator=(const UniqueResource&) = delete;
    ~UniqueResource() { reset(); }

    Handle get() const noexcept { return handle_; }
    explicit operator bool() const noexcept { return handle_ != Traits::invalid(); }

    Handle release() noexcept { return std::exchange(handle_, Traits::invalid()); }
    void reset(Handle handle = Traits::invalid()) noexcept {
        Handle old = std::exchange(handle_, handle);
        if (old != Traits::invalid()) Traits::close(old);
    }

private:
    Handle handle_ = Traits::invalid();
};

struct SocketTraits {
    using Handle = SOCKET;
    static Handle invalid() noexcept { return INVALID_SOCKET; }
    static void close(Handle s) noexcept { ::closesocket(s); }
};

// For handles whose "no handle" value is NULL: CreateIoCompletionPort, CreateEvent,
// WSACreateEvent (a WSAEVENT is a HANDLE). Not for CreateFile, which fails with
// INVALID_HANDLE_VALUE instead.
struct HandleTraits {
    using Handle = HANDLE;
    static Handle invalid() noexcept { return nullptr; }
    static void close(Handle h) noexcept { ::CloseHandle(h); }
};

using UniqueSocket = UniqueResource<SocketTraits>;
using UniqueHandle = UniqueResource<HandleTraits>;
// ANCHOR_END: unique_resource

// "127.0.0.1:8080" or "[::1]:8080" for an IPv4 or IPv6 socket address.
std::string address_to_string(const sockaddr* address);

// The local or remote address of a connected or bound socket, as above; "?" if unknown.
std::string local_address(SOCKET s);
std::string peer_address(SOCKET s);

}  // namespace net
