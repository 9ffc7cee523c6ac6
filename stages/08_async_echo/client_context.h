// stages/08_async_echo/client_context.h — the per-client context, and the registry that owns
// them all.
//
// Stage 08 is main.cpp; these pieces live in a header of their own only so that the unit
// tests (tests/unit/test_client_context.cpp) can check their lifecycle without a network.
// Read main.cpp first.
#pragma once

#include "common/winsock.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace stage08 {

constexpr ULONG buffer_size = 4096;

using Clock = std::chrono::steady_clock;

inline long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
}

// ANCHOR: client_context
// Everything the server keeps for one client: one operation in flight at a time — a read, or
// the send of what it read — so one OVERLAPPED and one buffer are enough. OVERLAPPED comes
// first, so the OVERLAPPED* that GetQueuedCompletionStatus returns is also the address of the
// whole context.
//
// Who frees it, and when: the worker that handles the completion after which the client is
// done (0 bytes, a failed completion, or a failure to start the next operation) — or the worker
// that accepted it, if the very first read could not be started. Never earlier: until its
// completion has been dequeued, the kernel may still read or write `overlapped` and `buffer`,
// even after the operation was cancelled (cancelling starts the end of the operation; its
// completion finishes it).
struct ClientContext {
    ClientContext(SOCKET s, std::uint64_t client_id) : socket(s), id(client_id) {}

    OVERLAPPED overlapped{};  // first: see above
    WSABUF wsabuf{};          // describes `buffer` to WSARecv, or the part to send to WSASend
    char buffer[buffer_size];
    const SOCKET socket;  // the handle value never changes; only destroy() closes it
    const std::uint64_t id;
    bool sending = false;  // the operation in flight: false = WSARecv, true = WSASend
    DWORD to_send = 0;     // bytes of `buffer` to echo, and how many are sent already
    DWORD sent = 0;
    // When the send in flight was posted (now_ms()); 0 once a read is posted. So the send
    // timeout counts from posting a send until a worker handles its completion packet: the
    // time the packet waits in the port counts too. Main reads it once a second and ends a
    // client whose send, up to 4 KiB, has not been handled within the timeout (a send that
    // completes just as main looks may still be ended: it took the whole timeout).
    std::atomic<long long> send_posted_ms{0};
    std::atomic<const char*> cancelled{nullptr};  // why another thread ended it, if one did
};
// ANCHOR_END: client_context

// ANCHOR: client_registry
// The live contexts, owned here: for the connection cap, and so that shutdown can reach every
// client. The lock guards the map, and makes cancelling and destroy() exclusive: a socket is
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

    // A worker: a context for a newly accepted socket, which it now owns; nullptr (and the
    // socket left to the caller) when `capacity` clients are live already, or once shutdown
    // has begun (a client created after cancel_all() would never be cancelled).
    ClientContext* create(SOCKET s, std::uint64_t id) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_ || live_.size() >= capacity_) return nullptr;
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
    // completion does that), and take no new ones.
    void cancel_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        for (auto& entry : live_) cancel_locked(*entry.first, "server stopping");
    }

    // ANCHOR: cancel_stalled_sends
    // The send timeout: end every client whose send has been in flight since before
    // `deadline_ms`, as cancel_all() ends them all. Returns how many it ended.
    std::size_t cancel_stalled_sends(long long deadline_ms) {
        std::size_t ended = 0;
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : live_) {
            const long long posted = entry.first->send_posted_ms;
            if (posted != 0 && posted < deadline_ms &&
                cancel_locked(*entry.first, "send timed out"))
                ++ended;
        }
        return ended;
    }
    // ANCHOR_END: cancel_stalled_sends

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
    // ANCHOR: cancel_locked
    // shutdown(SD_BOTH) makes every later WSARecv or WSASend fail at once (WSAESHUTDOWN), and
    // CancelIoEx ends the operation in flight. So the context soon has a completion, or a
    // failed call, that tells its worker to destroy it — saying `why`. False if it was ended
    // already.
    static bool cancel_locked(ClientContext& context, const char* why) {
        const char* none = nullptr;
        if (!context.cancelled.compare_exchange_strong(none, why)) return false;
        ::shutdown(context.socket, SD_BOTH);
        ::CancelIoEx(reinterpret_cast<HANDLE>(context.socket), nullptr);
        return true;
    }
    // ANCHOR_END: cancel_locked

    const std::size_t capacity_;
    std::mutex mutex_;
    std::condition_variable emptied_;
    bool closed_ = false;  // cancel_all() has run
    std::unordered_map<ClientContext*, std::unique_ptr<ClientContext>> live_;
};
// ANCHOR_END: client_registry

}  // namespace stage08
