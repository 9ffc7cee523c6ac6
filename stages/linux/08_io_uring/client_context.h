// stages/linux/08_io_uring/client_context.h — the per-client context, and the registry that owns
// them all.
//
// The twin of stages/08_async_echo/client_context.h. The Linux twin of stage 08 is main.cpp;
// these pieces live in a header of their own only so that the unit tests
// (tests/unit/linux/test_io_uring_registry.cpp) can check their lifecycle without a network.
// Read main.cpp first.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace stage08_io_uring {

// ANCHOR: client_context
// Everything the server keeps for one client: one operation in flight at a time — a receive, or
// the send of what it received — as in stage 08. What it does not hold is stage 08's OVERLAPPED
// and 4 KiB buffer. A completion names its operation by the 64 bits of user_data we gave the
// submission, here the context's address, so the kernel needs no structure of ours to fill in;
// and a receive keeps a buffer of the ring's provided buffers only once bytes have arrived
// (provided_buffers.h), so `buffer` is an id, valid while the echo of those bytes is being sent.
//
// Who frees it, and when: the worker whose ring it lives on, when it handles the completion
// after which the client is done (0 bytes, a failed completion, or shutdown). Never earlier:
// until that completion has been reaped the kernel may still use the context's address, and
// the bytes of a send in flight. A completion always comes — one per submission, cancelled or
// not — so there is no failure to start an operation to handle: submitting is writing a queue
// entry, and whatever goes wrong comes back as a completion.
struct ClientContext {
    ClientContext(int s, std::uint64_t client_id) : socket(s), id(client_id) {}

    const int socket;  // the descriptor never changes; only destroy() closes it
    const std::uint64_t id;
    bool sending = false;      // the operation in flight: false = a receive, true = a send
    std::uint16_t buffer = 0;  // while sending: the provided buffer that holds the echo
    std::uint32_t to_send = 0;  // bytes of that buffer to echo, and how many are sent already
    std::uint32_t sent = 0;
};
// ANCHOR_END: client_context

// ANCHOR: client_registry
// The live contexts, owned here: for the connection cap, and so that shutdown knows when the
// last one is gone. Shared by every worker's ring, so the lock guards the map. The I/O itself
// never happens under the lock, and neither does cancellation: an io_uring operation can be
// cancelled only through the ring it was submitted to, so each worker cancels its own clients'
// (main.cpp, cancel_ring). What is left of stage 08's cancel_all() is its first line: close(),
// after which no client is created.
class ClientRegistry {
public:
    explicit ClientRegistry(std::size_t capacity) : capacity_(capacity) {}
    ClientRegistry(const ClientRegistry&) = delete;
    ClientRegistry& operator=(const ClientRegistry&) = delete;

    // Freeing a context whose receive or send may still be in flight would let the kernel
    // write into a buffer, and complete to an address, that are no longer ours; so, as in
    // stage 08, a registry that is destroyed with contexts in it does not free them: it says so
    // and ends the process. (Shutdown waits until it is empty; see main.cpp.)
    ~ClientRegistry() {
        if (live_.empty()) return;
        std::fprintf(stderr,
                     "error: %zu client contexts still live at exit: their operations may still "
                     "be in flight, so they cannot be freed\n",
                     live_.size());
        std::fflush(stderr);
        std::abort();
    }

    // A worker: a context for a newly accepted socket, which it now owns; nullptr (and the
    // socket left to the caller) when `capacity` clients are live already, or once shutdown
    // has begun (a client created after close() could come after wait_until_empty() returned).
    ClientContext* create(int s, std::uint64_t id) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_ || live_.size() >= capacity_) return nullptr;
        auto context = std::make_unique<ClientContext>(s, id);
        ClientContext* raw = context.get();
        live_.emplace(raw, std::move(context));
        return raw;
    }

    // The client is done and no operation of it is in flight: close its socket, forget and free
    // the context. Returns how many clients are still live. `abortive`: close with a reset
    // (SO_LINGER on, timeout 0), so that the kernel drops the connection and whatever it still
    // holds for it at once, instead of trying, outside our count of clients, to deliver bytes
    // to a peer that has stopped reading.
    std::size_t destroy(ClientContext* context, bool abortive = false) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (abortive) {
            const linger reset_on_close{1, 0};
            ::setsockopt(context->socket, SOL_SOCKET, SO_LINGER, &reset_on_close,
                         sizeof reset_on_close);
        }
        ::close(context->socket);
        live_.erase(context);
        if (live_.empty()) emptied_.notify_all();
        return live_.size();
    }

    // Shutdown: take no new clients. A socket main accepted may still be on its way to a
    // worker — handed over, a message the worker has not handled yet — while the registry
    // is empty: without this, wait_until_empty() would return then, and the worker would create
    // the client after it.
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
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
    bool closed_ = false;  // close() has run
    std::unordered_map<ClientContext*, std::unique_ptr<ClientContext>> live_;
};
// ANCHOR_END: client_registry

}  // namespace stage08_io_uring
