// stages/07_iocp_server/client_context.h — the per-client context, and the registry that owns
// them all.
//
// Stage 07 is main.cpp; these pieces live in a header of their own only so that the unit
// tests (tests/unit/test_client_context.cpp) can check their lifecycle without a network.
// Read main.cpp first.
#pragma once

#include "common/winsock.h"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
// kernel may still write into `overlapped` and `buffer`, even after the read was cancelled
// (cancelling starts the end of the read; its completion finishes it).
struct ClientContext {
    ClientContext(SOCKET s, std::uint64_t client_id) : socket(s), id(client_id) {}

    OVERLAPPED overlapped{};  // first: see above
    WSABUF wsabuf{};          // describes `buffer` to WSARecv
    char buffer[buffer_size];
    const SOCKET socket;  // the handle value never changes; only destroy() closes it
    const std::uint64_t id;
};
// ANCHOR_END: client_context

// ANCHOR: client_registry
// The live contexts, owned here: for the connection cap, and so that shutdown can reach every
// client. The lock guards the map, and makes cancel_all() and destroy() exclusive: a socket is
// never woken after it was closed (its handle value may already belong to another socket). The
// I/O itself never happens under the lock.
class ClientRegistry {
public:
    explicit ClientRegistry(std::size_t capacity) : capacity_(capacity) {}
    ClientRegistry(const ClientRegistry&) = delete;
    ClientRegistry& operator=(const ClientRegistry&) = delete;

    // Freeing a context whose read may still be in flight would let the kernel write into
    // freed memory, so a registry that is destroyed with contexts in it does not free them: it
    // says so and ends the process. (Shutdown waits until it is empty; see main.cpp.)
    ~ClientRegistry() {
        if (live_.empty()) return;
        std::fprintf(stderr,
                     "error: %zu client contexts still live at exit: their reads may still be "
                     "in flight, so they cannot be freed\n",
                     live_.size());
        std::fflush(stderr);
        std::abort();
    }

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

    // The client is done and no I/O of it is outstanding: close its socket, forget and free
    // the context. Returns how many clients are still live. `abortive`: close with a reset
    // (SO_LINGER on, timeout 0), so that the system drops the connection and whatever it still
    // holds for it at once, instead of trying, outside our count of clients, to deliver bytes
    // to a peer that has stopped reading.
    std::size_t destroy(ClientContext* context, bool abortive = false) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (abortive) {
            const linger reset_on_close{1, 0};
            ::setsockopt(context->socket, SOL_SOCKET, SO_LINGER,
                         reinterpret_cast<const char*>(&reset_on_close), sizeof reset_on_close);
        }
        ::closesocket(context->socket);
        live_.erase(context);
        if (live_.empty()) emptied_.notify_all();
        return live_.size();
    }

    // Shutdown: end every client without closing its socket (the worker that sees its last
    // completion does that). shutdown(SD_BOTH) makes every later WSARecv or send() fail at
    // once (WSAESHUTDOWN), and CancelIoEx ends the read in flight and a send() blocked on a
    // client that does not read. So every context soon has a completion, or a failed call,
    // that tells its worker to destroy it.
    void cancel_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : live_) {
            ::shutdown(entry.first->socket, SD_BOTH);
            ::CancelIoEx(reinterpret_cast<HANDLE>(entry.first->socket), nullptr);
        }
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
    const std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable emptied_;
    std::unordered_map<ClientContext*, std::unique_ptr<ClientContext>> live_;
};
// ANCHOR_END: client_registry

}  // namespace stage07
