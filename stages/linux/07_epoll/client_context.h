// stages/linux/07_epoll/client_context.h — the per-client context, and the registry that owns
// them all.
//
// The twin of stages/07_iocp_server/client_context.h. The Linux twin of stage 07 is main.cpp;
// these pieces live in a header of their own only so that the unit tests
// (tests/unit/linux/test_client_context.cpp) can check their lifecycle without a network.
// Read main.cpp first.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace stage07_epoll {

constexpr std::size_t buffer_size = 4096;

// ANCHOR: client_context
// Everything the server keeps for one client: its socket and its number. Its twin on Windows
// also holds an OVERLAPPED and a 4 KiB buffer, because a completion-based read hands the buffer
// to the kernel until the read completes, so each idle client owns one. Readiness lends the
// kernel nothing: epoll only says "a recv() now will not wait", and the worker that hears it
// reads into a buffer of its own, on its stack, for the length of that one call. An idle client
// costs this struct, its place in the registry, and what the kernel keeps for the socket.
//
// Who frees it, and when: the worker that got the client's last event (a FIN, an error, a
// failure to re-arm), or main if the client could not be armed at all, or main at shutdown once
// the workers have stopped. EPOLLONESHOT (main.cpp) is what makes "the worker that got the
// event" one worker: after an event the client is disarmed, and no other worker hears of it
// until the one that has it arms it again.
struct ClientContext {
    ClientContext(int s, std::uint64_t client_id) : socket(s), id(client_id) {}

    const int socket;  // the descriptor never changes; only destroy() closes it
    const std::uint64_t id;
};
// ANCHOR_END: client_context

// ANCHOR: client_registry
// The live contexts, owned here, so that shutdown can reach every client. The lock guards the
// map, and makes cancel_all() and destroy() exclusive: a socket is never shut down after it was
// closed (its number may already belong to another socket: Linux hands out the lowest free one).
// The I/O itself never happens under the lock.
class ClientRegistry {
public:
    ClientRegistry() = default;
    ClientRegistry(const ClientRegistry&) = delete;
    ClientRegistry& operator=(const ClientRegistry&) = delete;

    // Unlike its twin, which must end the process rather than free a context the kernel may
    // still write into, this one may simply close what is left: no read of ours is ever in
    // flight in the kernel.
    ~ClientRegistry() {
        for (auto& entry : live_) ::close(entry.first->socket);
    }

    // main: a context for a newly accepted socket, which it now owns.
    ClientContext* create(int s, std::uint64_t id) {
        auto context = std::make_unique<ClientContext>(s, id);
        std::lock_guard<std::mutex> lock(mutex_);
        ClientContext* raw = context.get();
        live_.emplace(raw, std::move(context));
        return raw;
    }

    // The client is done: close its socket, forget and free the context. Returns how many
    // clients are still live. Closing the descriptor also takes it out of the epoll set (it is
    // its only descriptor: no dup()). `abortive`: close with a reset (SO_LINGER on, timeout 0),
    // so that the kernel drops the connection and whatever it still holds for it at once,
    // instead of trying, outside our count of clients, to deliver bytes to a peer that has
    // stopped reading.
    std::size_t destroy(ClientContext* context, bool abortive = false) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (abortive) {
            const linger reset_on_close{1, 0};
            ::setsockopt(context->socket, SOL_SOCKET, SO_LINGER, &reset_on_close,
                         sizeof reset_on_close);
        }
        ::close(context->socket);
        live_.erase(context);
        return live_.size();
    }

    // Shutdown: end every client without closing its socket (whoever frees the context does
    // that). shutdown(SHUT_RDWR) wakes a send() blocked on a client that does not read (it fails
    // with EPIPE), makes every later send() fail and every recv() return 0 at once, and makes
    // every socket readable, so that each one still armed in the epoll set has an event.
    void cancel_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : live_) ::shutdown(entry.first->socket, SHUT_RDWR);
    }

    // Shutdown, once the workers are gone: any one context still live, or nullptr.
    ClientContext* any() {
        std::lock_guard<std::mutex> lock(mutex_);
        return live_.empty() ? nullptr : live_.begin()->first;
    }

    std::size_t size() {
        std::lock_guard<std::mutex> lock(mutex_);
        return live_.size();
    }

private:
    std::mutex mutex_;
    std::unordered_map<ClientContext*, std::unique_ptr<ClientContext>> live_;
};
// ANCHOR_END: client_registry

}  // namespace stage07_epoll
