// stages/09_http_server/client_context.h — the per-client context, and the registry that owns
// them all.
//
// Stage 09 is main.cpp; these pieces live in a header of their own only so that the unit
// tests (tests/unit/test_client_context.cpp) can check their lifecycle without a network.
// Read main.cpp first.
#pragma once

#include "stages/09_http_server/http.h"
#include "stages/09_http_server/routes.h"

#include "common/winsock.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>

namespace stage09 {

constexpr ULONG buffer_size = 8192;
// A file body is sent a chunk at a time: one chunk is read into the client's chunk buffer,
// sent, and only then is the next one read. So a client holds at most this much of any file,
// however large the file and however slowly the client reads.
constexpr DWORD file_chunk_size = 64 * 1024;

using Clock = std::chrono::steady_clock;

inline long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
}

// No route of this server reads a request's body (it answers GET and HEAD; a POST gets 405),
// so bodies are counted and dropped as they arrive: a client that sends one holds no more of the
// server's memory than a read's worth, however large its Content-Length.
inline http::Limits requests_without_bodies() {
    http::Limits limits;
    limits.keep_bodies = false;
    return limits;
}

// ANCHOR: io_slot
struct ClientContext;

// The OVERLAPPED of a client's operation, with the way back to its context. Stage 08's context
// had the OVERLAPPED as its first member and was itself the OVERLAPPED's address; this one
// holds a parser, strings and a queue, and C++ promises that a pointer to the first member is
// the object's address only for standard-layout types. So the OVERLAPPED lives in a small
// standard-layout struct of its own, which knows its context.
struct IoSlot {
    OVERLAPPED overlapped{};
    ClientContext* context = nullptr;
};
static_assert(std::is_standard_layout_v<IoSlot> && offsetof(IoSlot, overlapped) == 0,
              "the OVERLAPPED must come first in a standard-layout IoSlot");
// ANCHOR_END: io_slot

// ANCHOR: client_context
// Everything the server keeps for one client: one operation in flight at a time — a read, a
// send, or the read of a chunk of the file it is sending — so one OVERLAPPED and one buffer
// of each kind are enough.
//
// Who frees it, and when: the worker that handles the completion after which the client is
// done (0 bytes, a failed completion, or a failure to start the next operation) — or the worker
// that accepted it, if the very first read could not be started. Never earlier: until its
// completion has been dequeued, the kernel may still read or write `io` and the buffers, even
// after the operation was cancelled (cancelling starts the end of the operation; its
// completion finishes it).
struct ClientContext {
    ClientContext(SOCKET s, std::uint64_t client_id, bool refusing)
        : socket(s), id(client_id), refused(refusing), last_progress_ms(now_ms()) {
        io.context = this;
    }
    ClientContext(const ClientContext&) = delete;
    ClientContext& operator=(const ClientContext&) = delete;

    IoSlot io;        // the OVERLAPPED of the one operation in flight
    WSABUF wsabuf{};  // describes `buffer` to WSARecv
    char buffer[buffer_size];
    const SOCKET socket;  // the handle value never changes; only destroy() closes it
    const std::uint64_t id;
    // The operation in flight: a read, a send of queued bytes, the send of a chunk of a file,
    // or the read of the next chunk.
    enum class Doing { receiving, sending, sending_chunk, reading_file } doing = Doing::receiving;

    // The HTTP of it.
    const bool refused;  // over --max-clients: it is here only to be answered 503 and closed
    std::atomic<long long> last_progress_ms;      // a request answered, or bytes of one sent
    std::atomic<const char*> cancelled{nullptr};  // why another thread ended it, if one did
    http::RequestParser parser{requests_without_bodies()};
    Clock::time_point request_started{};  // when the next request's first bytes came

    // ANCHOR: outgoing
    // One response queued and not yet all sent: its head (with a body made in memory) in
    // `bytes`, then, for a file, the file's bytes, a chunk at a time. Also what the access log
    // says of it, when its last byte is sent or when it is cut short.
    struct Outgoing {
        std::string bytes;
        std::size_t bytes_sent = 0;  // handed to the kernel
        routes::UniqueFile file;     // the body, when it is a file
        std::uint64_t file_size = 0;
        std::uint64_t file_sent = 0;  // handed to the kernel
        std::size_t head_size = 0;    // the part of `bytes` before the body
        std::uint64_t body_size = 0;  // what Content-Length says (0 for HEAD)
        std::string what;             // "GET /index.html 200"; empty: not logged (a 100)
        Clock::time_point started;

        bool done() const { return bytes_sent == bytes.size() && file_sent == file_size; }
        std::uint64_t body_sent() const {
            return file ? file_sent : bytes_sent > head_size ? bytes_sent - head_size : 0;
        }
    };
    std::deque<Outgoing> outgoing;
    std::size_t outgoing_bytes = 0;  // of the `bytes` in `outgoing`: what the bound counts
    // The chunk of the file at the front of `outgoing` that was read last, while it is sent:
    // file_chunk_size bytes, allocated while a file is being sent and freed after.
    std::unique_ptr<char[]> chunk;
    DWORD chunk_length = 0;
    DWORD chunk_sent = 0;
    // ANCHOR_END: outgoing
    bool close_after_output = false;  // the last queued response says Connection: close
    bool draining = false;            // our FIN is sent: read and discard until the client closes
};
// ANCHOR_END: client_context

// ANCHOR: client_registry
// The live contexts, owned here: for the connection cap, and so that shutdown can reach every
// client. The lock guards the map, and makes cancelling and destroy() exclusive: a socket is
// never woken after it was closed (its handle value may already belong to another socket). The
// I/O itself never happens under the lock.
class ClientRegistry {
public:
    // `capacity` clients are served at once; beyond that, up to `refusals` more are taken in
    // only to be answered 503 and closed as gracefully as any other (see create()).
    ClientRegistry(std::size_t capacity, std::size_t refusals)
        : capacity_(capacity), refusals_(refusals) {}
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

    // A worker: a context for a newly accepted socket, which it now owns; its `refused` says
    // whether it is over the capacity. nullptr (and the socket left to the caller) beyond the
    // refusals too, or once shutdown has begun (a client created after cancel_all() would never
    // be cancelled).
    ClientContext* create(SOCKET s, std::uint64_t id) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return nullptr;
        const bool refused = live_.size() - refusing_ >= capacity_;
        if (refused && refusing_ >= refusals_) return nullptr;
        auto context = std::make_unique<ClientContext>(s, id, refused);
        ClientContext* raw = context.get();
        live_.emplace(raw, std::move(context));
        if (refused) ++refusing_;
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
        if (context->refused) --refusing_;
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

    // The idle timeout: end every client that made no progress since `deadline_ms`, as
    // cancel_all() ends them all. Returns how many it ended.
    std::size_t cancel_idle(long long deadline_ms) {
        std::size_t ended = 0;
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : live_) {
            if (entry.first->last_progress_ms < deadline_ms &&
                cancel_locked(*entry.first, "idle timeout"))
                ++ended;
        }
        return ended;
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
    // shutdown(SD_BOTH) makes every later WSARecv or WSASend fail at once (WSAESHUTDOWN), and
    // CancelIoEx ends the socket's operation in flight (a file read in flight ends by itself,
    // soon, and the send after it fails). So the context soon has a completion, or a failed
    // call, that tells its worker to destroy it — saying `why`. False if it was ended already.
    static bool cancel_locked(ClientContext& context, const char* why) {
        const char* none = nullptr;
        if (!context.cancelled.compare_exchange_strong(none, why)) return false;
        ::shutdown(context.socket, SD_BOTH);
        ::CancelIoEx(reinterpret_cast<HANDLE>(context.socket), nullptr);
        return true;
    }

    const std::size_t capacity_;
    const std::size_t refusals_;
    std::mutex mutex_;
    std::condition_variable emptied_;
    bool closed_ = false;       // cancel_all() has run
    std::size_t refusing_ = 0;  // of live_, those that are only being refused
    std::unordered_map<ClientContext*, std::unique_ptr<ClientContext>> live_;
};
// ANCHOR_END: client_registry

}  // namespace stage09
