// stages/07_iocp_server/client_context.h — the per-client context, who owns it, and the echo's
// send loop.
//
// Stage 07 is main.cpp; these pieces live in a header of their own only so that the unit
// tests (tests/unit/test_client_context.cpp) can check their lifecycle and the send loop
// without a network. Read main.cpp first.
#pragma once

#include "common/winsock.h"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace stage07 {

constexpr ULONG buffer_size = 4096;

// ANCHOR: client_context
// Everything the server keeps for one client: one read in flight at a time, so one OVERLAPPED
// and one buffer are enough. OVERLAPPED comes first, so the OVERLAPPED* that
// GetQueuedCompletionStatus returns is also the address of the whole context.
//
// Who frees it, and when: the worker that dequeues the completion after which the client is
// done (0 bytes, a failed completion, or a failure to re-post the read) — or main, if the very
// first read could not be started. Never earlier: until its completion has been dequeued, the
// kernel may still write into `overlapped` and `buffer`, even after the socket was closed
// (closing starts the cancellation of the read; its completion ends it).
struct ClientContext {
    ClientContext(SOCKET s, std::uint64_t client_id) : socket(s), id(client_id) {}

    OVERLAPPED overlapped{};  // first: see above
    WSABUF wsabuf{};          // describes `buffer` to WSARecv
    char buffer[buffer_size];
    const SOCKET socket;  // the handle value never changes; ClientRegistry closes it, once
    const std::uint64_t id;
    bool open = true;  // guarded by the registry's lock
};
// ANCHOR_END: client_context

// ANCHOR: client_registry
// The live contexts, owned here: for the connection cap, and so that shutdown can reach every
// client. The lock guards the map and each context's `open` flag — the only part of a context
// that two threads may touch at once (a worker finishing it, main closing everything). The
// I/O itself never happens under the lock.
class ClientRegistry {
public:
    explicit ClientRegistry(std::size_t capacity) : capacity_(capacity) {}

    // main: a context for a newly accepted socket, which it now owns; nullptr (and the socket
    // left to the caller) when `capacity` clients are live already.
    ClientContext* create(SOCKET s, std::uint64_t id) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (live_.size() >= capacity_) return nullptr;
        auto context = std::make_unique<ClientContext>(s, id);
        ClientContext* raw = context.get();
        live_.emplace(raw, std::move(context));
        return raw;
    }

    // Any thread: close the context's socket unless it is closed already. Pending I/O on it
    // then completes, with an error.
    void close_socket(ClientContext& context) {
        std::lock_guard<std::mutex> lock(mutex_);
        close_locked(context);
    }

    // The client is done and no I/O of it is outstanding: close its socket if still open,
    // forget and free the context. Returns how many clients are still live.
    std::size_t destroy(ClientContext* context) {
        std::lock_guard<std::mutex> lock(mutex_);
        close_locked(*context);
        live_.erase(context);
        if (live_.empty()) emptied_.notify_all();
        return live_.size();
    }

    // Shutdown: close every client socket. Each pending read completes with an error, and the
    // worker that dequeues it destroys the context.
    void close_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : live_) close_locked(*entry.second);
    }

    // Shutdown: wait until the last context has been destroyed.
    void wait_until_empty() {
        std::unique_lock<std::mutex> lock(mutex_);
        emptied_.wait(lock, [this] { return live_.empty(); });
    }

    std::size_t size() {
        std::lock_guard<std::mutex> lock(mutex_);
        return live_.size();
    }

private:
    static void close_locked(ClientContext& context) {
        if (!context.open) return;
        ::closesocket(context.socket);
        context.open = false;
    }

    const std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable emptied_;
    std::unordered_map<ClientContext*, std::unique_ptr<ClientContext>> live_;
};
// ANCHOR_END: client_registry

// ANCHOR: send_all
// The synchronous echo: hand every byte to `send_some` (::send on the client's socket; a fake
// one in the unit tests), which may take fewer than it is offered. Stops at the first failure.
// A return of 0 cannot happen for a TCP send of at least one byte; it is treated as a failure
// so that a broken socket cannot make this loop spin.
template <class SendSome>
bool send_all(const char* data, int length, SendSome send_some) {
    while (length > 0) {
        const int sent = send_some(data, length);
        if (sent == SOCKET_ERROR || sent <= 0 || sent > length) return false;
        data += sent;
        length -= sent;
    }
    return true;
}
// ANCHOR_END: send_all

}  // namespace stage07
