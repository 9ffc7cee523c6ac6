// Stage 08 — the fully asynchronous IOCP echo server: AcceptEx and WSASend.
//
// Base: stage 07. New since then: the two limits that stage 07 kept on purpose, lifted, and
// its send timeout kept.
//   - AcceptEx instead of accept(): several accepts are posted on the listener before any
//     client arrives (--accepts, default 16). Each completes to the port like a read, and the
//     worker that takes it starts the new client — what stage 07's accept loop did — and posts
//     the accept again. No thread waits in accept(); main waits for Ctrl+C, and posts again an
//     accept that had to wait for a socket.
//   - WSASend instead of send(): the echo is an overlapped operation too. A client that does
//     not read holds its own pending send and its 4 KiB, never a worker. Each client still has
//     one operation in flight — its read, or the send of what it read — so a client whose echo
//     is not sent yet is not read from: back-pressure, and no queue that can grow.
//   - The send timeout: SO_SNDTIMEO bounds a blocking send() only, so main now ends, once a
//     second, a client whose send has been in flight for --send-timeout-ms.
// Every completion, however fast it came, is a packet through the port, taken first in,
// first out: each client waits its turn behind the packets already queued.
//
//   a worker:  GetQueuedCompletionStatus -> an accept completed: start the client (first
//              WSARecv), post the accept again | a read completed: WSASend the bytes | a send
//              completed: send the rest, or post the next WSARecv; on 0 bytes or a failure,
//              free the client
//   main:      post the accepts -> wait for Ctrl+C, ending stalled sends once a second -> stop
//              accepting -> cancel every client -> wait until the workers have freed them all
//              -> one exit packet per worker
//
// What it still leaves out: a protocol (stage 09 parses HTTP/1.1 on this engine), and the
// fast path of an operation that succeeds at once (stage 10).
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/08_async_echo/main.cpp common/*.cpp -o stage08_async_echo.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\08_async_echo\main.cpp common\*.cpp ws2_32.lib
#include "stages/08_async_echo/client_context.h"

#include "common/accept_errors.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/refuse.h"
#include "common/winsock.h"
#include "common/worker_pool.h"

#include <mswsock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using stage08::ClientContext;
using stage08::ClientRegistry;

static_assert(std::is_standard_layout_v<ClientContext> && offsetof(ClientContext, overlapped) == 0,
              "the OVERLAPPED must be the context's first member");

// ANCHOR: packet_keys
// The completion key of a packet: set when a socket is associated with the port, or given to
// PostQueuedCompletionStatus. Exit packets carry no OVERLAPPED, as in the original design
// (notes/00_the_design.md): PostQueuedCompletionStatus(port, 0, 0, nullptr).
enum PacketKey : ULONG_PTR {
    exit_key = 0,      // "this worker is done": lpOverlapped is null (net::WorkerPool)
    client_key = 1,    // a read or a send of a client completed: the OVERLAPPED is its context's
    listener_key = 2,  // an AcceptEx completed: the OVERLAPPED is its AcceptOp's
};
// ANCHOR_END: packet_keys

// Shared by the workers, so atomic.
struct Counters {
    std::atomic<std::uint64_t> bytes_echoed{0};
    std::atomic<bool> stopping{false};  // set before shutdown cancels the clients' operations
    std::atomic<std::uint64_t> clients_served{0};
    std::atomic<std::uint64_t> connections{0};  // accepted, refused ones included: the ids
};

// ANCHOR: extensions
// AcceptEx and GetAcceptExSockaddrs are Microsoft's extensions to Winsock. mswsock.lib exports
// them, but the documented way is to ask the socket's provider for its own implementation,
// with WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER).
struct Extensions {
    LPFN_ACCEPTEX accept_ex = nullptr;
    LPFN_GETACCEPTEXSOCKADDRS get_sockaddrs = nullptr;
};

template <class Function>
bool load_extension(SOCKET s, GUID id, Function& function) {
    DWORD bytes = 0;
    return WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &function,
                    sizeof function, &bytes, nullptr, nullptr) == 0;
}
// ANCHOR_END: extensions

// ANCHOR: post_recv
// As in stage 06: SOCKET_ERROR with WSA_IO_PENDING means "started", not "failed".
bool io_failed(int result) { return result == SOCKET_ERROR && WSAGetLastError() != WSA_IO_PENDING; }

// Start the client's next read. A return of 0 (the data was already there) and a pending read
// both mean that a completion packet will be queued. A failure means no packet will ever come
// for this read, so the caller must clean up now — and only the caller, and only once.
bool post_recv(ClientContext& context) {
    context.sending = false;
    context.send_posted_ms = 0;
    context.overlapped = OVERLAPPED{};
    context.wsabuf.buf = context.buffer;
    context.wsabuf.len = stage08::buffer_size;
    DWORD flags = 0;
    const int result =
        WSARecv(context.socket, &context.wsabuf, 1, nullptr, &flags, &context.overlapped, nullptr);
    return !io_failed(result);
}

// Start sending the part of the buffer not sent yet: the same promise as post_recv's. The
// send may complete having taken fewer bytes than asked; handle_io then sends the rest.
bool post_send(ClientContext& context) {
    context.sending = true;
    context.send_posted_ms = stage08::now_ms();  // the send timeout counts from here
    context.overlapped = OVERLAPPED{};
    context.wsabuf.buf = context.buffer + context.sent;
    context.wsabuf.len = context.to_send - context.sent;
#ifdef ECHO_TEST_SEND_CAP
    // A test build only (tests/clients/test_iocp_server.py): every send asks for at most this
    // many bytes, so that each echo takes several sends, as a short send would make it.
    context.wsabuf.len = std::min<ULONG>(context.wsabuf.len, ECHO_TEST_SEND_CAP);
#endif
    const int result =
        WSASend(context.socket, &context.wsabuf, 1, nullptr, 0, &context.overlapped, nullptr);
    return !io_failed(result);
}
// ANCHOR_END: post_recv

// ANCHOR: finish
// The client is done and nothing of it is in flight: free it, then say why — `what` ended it,
// and `error` (when not 0) is the Winsock or Windows error code that says why. The context goes
// first, before anything that allocates: whatever happens next, it must be gone. At shutdown,
// or after the send timeout, the reason is ours, whatever the completion looked like.
// `abortive`: see destroy().
void finish(ClientRegistry& registry, const Counters& counters, ClientContext* context,
            const char* what, int error = 0, bool abortive = false) {
    const char* cancelled = context->cancelled;
    const std::uint64_t id = context->id;
    const std::size_t live = registry.destroy(context, abortive);
    if (counters.stopping) {
        net::log("client ", id, " disconnected: server stopping (", live, " live)");
    } else if (cancelled) {
        net::log("client ", id, " disconnected: ", cancelled, " (", live, " live)");
    } else if (error != 0) {
        net::log("client ", id, " disconnected: ", what, ": ", net::error_text(error), " (", live,
                 " live)");
    } else {
        net::log("client ", id, " disconnected: ", what, " (", live, " live)");
    }
}
// ANCHOR_END: finish

// ANCHOR: handle_io
// One operation of the client is over, and its packet came through the port: start the next.
// After a read, the send of what arrived; after a send, the rest of it, or the next read.
void handle_io(ClientRegistry& registry, Counters& counters, ClientContext* context, bool ok,
               int error, DWORD bytes) {
    if (!ok) {  // a reset, or our own cancellation: that client is done
        // After a failed send, closed with a reset: the bytes it never read go with it.
        finish(registry, counters, context, context->sending ? "send failed" : "read failed",
               error, context->sending);
        return;
    }
    bool posted;
    if (!context->sending) {
        if (bytes == 0) {  // the FIN: all it sent has been echoed already
            finish(registry, counters, context, "closed by the client");
            return;
        }
        context->to_send = bytes;
        context->sent = 0;
        posted = post_send(*context);
    } else {
        context->sent += bytes;
        counters.bytes_echoed += bytes;
        // A send may complete with fewer bytes than asked: send the rest before reading.
        posted = context->sent < context->to_send ? post_send(*context) : post_recv(*context);
    }
    // Posted: a packet will come, and another worker may already be handling it: the context
    // is not ours any more. Not posted: no packet will ever come, so the client ends here.
    if (!posted)
        finish(registry, counters, context, context->sending ? "WSASend failed" : "WSARecv failed",
               WSAGetLastError());
}
// ANCHOR_END: handle_io

// ANCHOR: acceptor
// ANCHOR: accept_op
// AcceptEx wants room for each address plus 16 bytes (its documentation says so).
constexpr DWORD address_space = sizeof(sockaddr_in6) + 16;

// One accept posted ahead: AcceptEx needs the socket that the connection will use, created
// before the client arrives, and a buffer for the two addresses it reports.
struct AcceptOp {
    OVERLAPPED overlapped{};  // first: a completion's OVERLAPPED* is the AcceptOp
    SOCKET socket = INVALID_SOCKET;
    char addresses[2 * address_space];
};
static_assert(std::is_standard_layout_v<AcceptOp> && offsetof(AcceptOp, overlapped) == 0,
              "the OVERLAPPED must come first in a standard-layout AcceptOp");

// The accepts posted ahead, and the rule that keeps their number: an AcceptOp is always either
// posted, or being handled by the worker that dequeued it, or waiting to be posted again — it
// is never dropped. A call that cannot be made (no socket or buffer to spare: WSAEMFILE,
// WSAENOBUFS) waits the pause of common/accept_errors.h and is posted again by main; a client
// that reset before it was taken is forgotten and the accept posted again at once; an error
// that retrying cannot mend stops the server (failed()). Everything here happens under one
// lock, taken by the workers and by main; an accept is a rare event next to reads and sends.
// ANCHOR_END: accept_op
class Acceptor {
public:
    Acceptor(SOCKET listener, int family, const Extensions& extensions, unsigned count)
        : listener_(listener), family_(family), extensions_(extensions) {
        for (unsigned i = 0; i < count; ++i) ops_.push_back(std::make_unique<AcceptOp>());
        // Each op is waiting at most once: with room for all of them made now, putting one in
        // the waiting list never allocates (it happens when the system is short of memory).
        waiting_.reserve(count);
        wake_main_.reset(CreateEventW(nullptr, FALSE, FALSE, nullptr));
        if (!wake_main_) throw std::runtime_error("CreateEvent failed");
    }

    // main, once: post them all.
    void start() {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& op : ops_) post_locked(*op);
    }

    // ANCHOR: accept_complete
    // A worker: the AcceptEx of `op` completed (`ok`) or failed. Returns the connected socket,
    // now the caller's, with the client's address in `peer` — or INVALID_SOCKET. The op is
    // posted again either way (unless the server is stopping). Throws nothing, so that nothing
    // can come between taking the socket and posting the op again.
    SOCKET complete(AcceptOp& op, bool ok, sockaddr_storage& peer) {
        std::lock_guard<std::mutex> lock(mutex_);
        --in_flight_;
        if (in_flight_ == 0) all_back_.notify_all();
        const SOCKET s = std::exchange(op.socket, INVALID_SOCKET);
        if (stopping_) {  // cancelled at shutdown, or a client that came just before it
            closesocket(s);
            return INVALID_SOCKET;
        }
        if (!ok) {
            DWORD bytes = 0, flags = 0;
            WSAGetOverlappedResult(listener_, &op.overlapped, &bytes, FALSE, &flags);
            const int error = WSAGetLastError();  // the Winsock code of the failed accept
            closesocket(s);
            if (after_failure(op, error)) post_locked(op);
            return INVALID_SOCKET;
        }
        errors_.on_success();
        // The accepted socket does not take on the listener's properties until told so; the
        // SOL_SOCKET options page says to set this before getpeername, getsockname, getsockopt
        // or setsockopt on it (setsockopt: the abortive close's SO_LINGER). Should it fail, the
        // connection still works: say so, and go on.
        if (setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                       reinterpret_cast<const char*>(&listener_), sizeof listener_) != 0) {
            const int error = WSAGetLastError();
            try {  // the line is dropped, not thrown, if even its text cannot be allocated
                net::log("accepted socket: SO_UPDATE_ACCEPT_CONTEXT failed: ",
                         net::error_text(error));
            } catch (...) {
            }
        }
        // The addresses are in the op's buffer already: copy them out before it is reused.
        sockaddr *local = nullptr, *remote = nullptr;
        int local_length = 0, remote_length = 0;
        extensions_.get_sockaddrs(op.addresses, 0, address_space, address_space, &local,
                                  &local_length, &remote, &remote_length);
        peer = sockaddr_storage{};
        std::memcpy(&peer, remote, std::min(static_cast<std::size_t>(remote_length), sizeof peer));
        post_locked(op);  // keep the same number of accepts ahead
        return s;
    }
    // ANCHOR_END: accept_complete

    // main: post again the ops whose pause is over. Returns how long main may wait before the
    // next one is due (INFINITE when none is waiting).
    DWORD post_waiting() {
        std::lock_guard<std::mutex> lock(mutex_);
        const Clock::time_point now = Clock::now();
        std::vector<Waiting> due;
        const auto first_due = std::partition(waiting_.begin(), waiting_.end(),
                                              [now](const Waiting& w) { return w.due > now; });
        due.assign(first_due, waiting_.end());
        waiting_.erase(first_due, waiting_.end());
        for (const Waiting& entry : due) post_locked(*entry.op);  // may wait again
        DWORD timeout = INFINITE;
        for (const Waiting& entry : waiting_) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(entry.due - now).count();
            timeout = std::min(timeout, static_cast<DWORD>(std::max<long long>(left, 1)));
        }
        return timeout;
    }

    // Set when an accept must wait (main must look at post_waiting() again) or has failed.
    HANDLE wake_main() const { return wake_main_.get(); }

    bool failed() {
        std::lock_guard<std::mutex> lock(mutex_);
        return failed_;
    }

    // Shutdown, first step: no accept is posted from now on; the pending ones are cancelled,
    // and this waits until each has completed (the kernel owns the AcceptOps until then).
    void stop() {
        std::unique_lock<std::mutex> lock(mutex_);
        stopping_ = true;
        waiting_.clear();
        CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr);
        all_back_.wait(lock, [this] { return in_flight_ == 0; });
    }

private:
    using Clock = std::chrono::steady_clock;
    struct Waiting {
        AcceptOp* op;
        Clock::time_point due;
    };

    // ANCHOR: accept_post
    // One AcceptEx, with a fresh socket. With no receive buffer (0), it completes as soon as
    // a client connects rather than when it first sends: a client that connects and stays
    // silent must not hold an accept.
    void post_locked(AcceptOp& op) {
        while (!stopping_) {
            op.socket =
                WSASocketW(family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
            if (op.socket == INVALID_SOCKET) {
                if (!after_failure(op, WSAGetLastError())) return;
                continue;
            }
            op.overlapped = OVERLAPPED{};
            DWORD bytes = 0;
            if (extensions_.accept_ex(listener_, op.socket, op.addresses, 0, address_space,
                                      address_space, &bytes, &op.overlapped) ||
                WSAGetLastError() == ERROR_IO_PENDING) {
                ++in_flight_;  // TRUE or pending: a packet will come either way
                return;
            }
            const int error = WSAGetLastError();
            closesocket(std::exchange(op.socket, INVALID_SOCKET));
            if (!after_failure(op, error)) return;
        }
    }
    // ANCHOR_END: accept_post

    // An accept failed with `error` (common/accept_errors.h writes the line). True: post it
    // again now. Otherwise it waits for main to post it after a pause, or the server has
    // failed; main is woken either way.
    bool after_failure(AcceptOp& op, int error) {
        switch (errors_.on_error(error)) {
            case net::AcceptErrors::Next::accept_now:
                return true;
            case net::AcceptErrors::Next::accept_later:
                waiting_.push_back({&op, Clock::now() + errors_.pause()});
                break;
            case net::AcceptErrors::Next::stop:
                failed_ = true;
                break;
        }
        SetEvent(wake_main_.get());
        return false;
    }

    const SOCKET listener_;
    const int family_;
    const Extensions extensions_;
    std::vector<std::unique_ptr<AcceptOp>> ops_;
    net::UniqueHandle wake_main_;
    std::mutex mutex_;
    std::condition_variable all_back_;
    net::AcceptErrors errors_;      // guarded by mutex_, as is everything below
    std::vector<Waiting> waiting_;  // ops to post again at `due`
    int in_flight_ = 0;             // AcceptEx calls whose completion has not been handled
    bool stopping_ = false;
    bool failed_ = false;
};
// ANCHOR_END: acceptor

// ANCHOR: handle_new_client
// A worker, with a connection that an AcceptEx has just taken: what stage 07's accept loop did
// with an accepted socket, done here.
void handle_new_client(SOCKET s, const sockaddr_storage& peer, HANDLE port,
                       ClientRegistry& registry, Counters& counters, unsigned max_clients) {
    net::UniqueSocket accepted(s);
    // Stage 07 did this on main, where running out of memory ended the server in order. On a
    // worker, an exception that escapes is std::terminate: so here it ends this client only.
    std::string address;
    ClientContext* context = nullptr;
    try {
        address = net::address_to_string(reinterpret_cast<const sockaddr*>(&peer));
        context = registry.create(accepted.get(), ++counters.connections);
        if (!context) {  // full, or stopping
            if (!counters.stopping)
                net::refuse(accepted.get(),
                            "server full (" + std::to_string(max_clients) + " clients)");
            return;
        }
    } catch (const std::bad_alloc&) {  // the registry did not take the socket: it closes here
        net::log("refused a client: out of memory");
        return;
    }
    accepted.release();  // the registry owns the socket now
    // From here until the first read is posted, nothing may throw (net::log does not): a
    // context must have an operation in flight, or the shutdown would wait for it forever.
    ++counters.clients_served;
    net::log("client ", context->id, " connected from ", address, " (", registry.size(), " live)");

    // From now on, completions of this socket's I/O are queued to our port, with client_key.
    if (!CreateIoCompletionPort(reinterpret_cast<HANDLE>(context->socket), port, client_key, 0)) {
        finish(registry, counters, context, "CreateIoCompletionPort failed",
               static_cast<int>(GetLastError()));
        return;
    }
    // The first read. Once it is posted, another worker may finish and free the context at
    // any moment: this one does not touch it again.
    if (!post_recv(*context))
        finish(registry, counters, context, "WSARecv failed", WSAGetLastError());
}
// ANCHOR_END: handle_new_client

// ANCHOR: worker_loop
// Each worker: take a packet, act on it, come back for the next. GetQueuedCompletionStatus
// has four outcomes, and all four are told apart here:
//   1. TRUE, lpOverlapped set:    an operation completed; for a read, `bytes` is how much
//                                 arrived, 0 = the FIN;
//   2. FALSE, lpOverlapped set:   an operation completed with an error — a reset, or our own
//                                 cancellation (at shutdown, or a timeout). Which error does
//                                 not matter: that client (or that accept) is done, the
//                                 worker goes on;
//   3. FALSE, lpOverlapped null, GetLastError() == WAIT_TIMEOUT: nothing within the timeout
//                                 (we wait INFINITE, so it does not happen);
//   4. FALSE, lpOverlapped null, another error: the wait itself failed, for instance because
//                                 the port was closed. The worker cannot go on.
// And a packet with lpOverlapped null and TRUE is our exit packet. The key says whose the
// OVERLAPPED is: a client's, or an accept's.
void worker_loop(HANDLE port, Acceptor& acceptor, ClientRegistry& registry, Counters& counters,
                 unsigned max_clients) {
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED* overlapped = nullptr;
        const BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &overlapped, INFINITE);
        const int error = ok ? 0 : static_cast<int>(GetLastError());  // before any other call
        if (!ok && overlapped == nullptr) {                           // outcomes 3 and 4
            net::log("worker: GetQueuedCompletionStatus failed: ", net::error_text(error));
            return;
        }
        if (key == exit_key) return;
        if (overlapped == nullptr) continue;  // a packet of a kind this server never posts
        if (key == listener_key) {
            sockaddr_storage peer{};
            const SOCKET s =
                acceptor.complete(*reinterpret_cast<AcceptOp*>(overlapped), ok != FALSE, peer);
            if (s != INVALID_SOCKET)
                handle_new_client(s, peer, port, registry, counters, max_clients);
            continue;
        }
        auto* context = reinterpret_cast<ClientContext*>(overlapped);  // OVERLAPPED is first
        handle_io(registry, counters, context, ok != FALSE, error, bytes);
        // Once the next operation is pending, another worker may already be handling its
        // completion — and may free the context. handle_io does not touch it after that.
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: orderly_shutdown
// How the server stops, in order:
//   1. Stop accepting (Acceptor::stop): no AcceptEx is posted from now on, the pending ones
//      are cancelled, and their completions are waited for.
//   2. End every client (ClientRegistry::cancel_all): each pending read or send completes with
//      an error, every later call on a client socket fails at once, and no new client is
//      created.
//   3. Wait until the workers have freed every context: only then is no operation in flight,
//      and no OVERLAPPED or buffer of ours the kernel's any more. The workers must still be
//      running for this, since they are the ones who dequeue those completions.
//   4. One exit packet per worker, and join them all (net::WorkerPool::stop). Any earlier,
//      and a worker could take its exit packet while completions were still queued.
// main runs it after the main loop; the destructor runs it if main leaves by an exception,
// before ~WorkerPool, ~ClientRegistry and the port's CloseHandle.
class OrderlyShutdown {
public:
    OrderlyShutdown(Acceptor& acceptor, ClientRegistry& registry, net::WorkerPool& pool,
                    Counters& counters)
        : acceptor_(acceptor), registry_(registry), pool_(pool), counters_(counters) {}
    ~OrderlyShutdown() { run(); }
    OrderlyShutdown(const OrderlyShutdown&) = delete;
    OrderlyShutdown& operator=(const OrderlyShutdown&) = delete;

    void run() {
        if (done_) return;
        done_ = true;
        acceptor_.stop();
        counters_.stopping = true;
        registry_.cancel_all();
        registry_.wait_until_empty();
        pool_.stop();
    }

private:
    Acceptor& acceptor_;
    ClientRegistry& registry_;
    net::WorkerPool& pool_;
    Counters& counters_;
    bool done_ = false;
};
// ANCHOR_END: orderly_shutdown

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    // Twice the processors, as in stage 07 — though no worker blocks in send() any more: this
    // keeps the comparison of the two stages fair, and costs idle threads only.
    unsigned workers = 2 * net::processor_count();
    unsigned max_clients = 10000;
    unsigned accepts = 16;
    unsigned send_timeout_ms = 5000;
    net::CommandLine command_line(
        "stage08_async_echo",
        "A fully asynchronous TCP echo server: AcceptEx, overlapped WSARecv and WSASend, an I/O "
        "completion port and a pool of worker threads.",
        options);
    command_line.add_option("--workers", "N", "worker threads", workers, 1, 256);
    command_line.add_option("--max-clients", "N", "clients served at once; more are refused",
                            max_clients, 1, 1000000);
    command_line.add_option("--accepts", "N", "AcceptEx calls kept posted ahead", accepts, 1, 1024);
    command_line.add_option("--send-timeout-ms", "MS",
                            "a client that takes nothing of its echo for this long is "
                            "disconnected (checked once a second)",
                            send_timeout_ms, 1, 3600000);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        net::WinsockSession winsock;

        // ANCHOR: ctrl_c
        // As in stage 06, Ctrl+C only sets an event: no thread is blocked in a Winsock call
        // any more, and main's wait below includes the event.
        const net::UniqueHandle stop_event(CreateEventW(nullptr, TRUE, FALSE, nullptr));
        if (!stop_event) throw std::runtime_error("CreateEvent failed");
        net::CtrlCHandler ctrl_c([&stop_event] { SetEvent(stop_event.get()); });
        // ANCHOR_END: ctrl_c

        const net::UniqueSocket listener = net::make_listener(options);
        if (!listener) return 1;
        sockaddr_storage bound{};
        int bound_length = sizeof bound;
        getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length);
        Extensions extensions;
        if (!load_extension(listener.get(), WSAID_ACCEPTEX, extensions.accept_ex) ||
            !load_extension(listener.get(), WSAID_GETACCEPTEXSOCKADDRS, extensions.get_sockaddrs)) {
            std::fprintf(stderr, "error: cannot load AcceptEx: %s\n",
                         net::error_text(WSAGetLastError()).c_str());
            return 1;
        }

        // ANCHOR: create_port
        // Concurrency value 0: the port lets as many workers run at once as there are
        // processors. The listener is associated with the port too: its AcceptEx completions
        // come as packets with listener_key.
        const net::UniqueHandle port(CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0));
        if (!port || !CreateIoCompletionPort(reinterpret_cast<HANDLE>(listener.get()), port.get(),
                                             listener_key, 0)) {
            std::fprintf(stderr, "error: CreateIoCompletionPort: %s\n",
                         net::error_text(static_cast<int>(GetLastError())).c_str());
            return 1;
        }
        ClientRegistry registry(max_clients);
        Counters counters;
        Acceptor acceptor(listener.get(), bound.ss_family, extensions, accepts);
        net::WorkerPool pool(port.get(), workers, [&] {
            worker_loop(port.get(), acceptor, registry, counters, max_clients);
        });
        OrderlyShutdown orderly_shutdown(acceptor, registry, pool, counters);
        // ANCHOR_END: create_port
        acceptor.start();
        net::log(workers, " workers waiting on the completion port, ", accepts,
                 " accepts posted ahead");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        // All the work is the workers'. Main waits for Ctrl+C, and meanwhile posts again the
        // accepts that had to wait for sockets or buffers, and once a second ends the clients
        // whose send has been in flight for --send-timeout-ms: a client that reads nothing
        // would otherwise hold its pending send, and its place among --max-clients, for ever.
        const HANDLE events[] = {stop_event.get(), acceptor.wake_main()};
        for (;;) {
            const DWORD woken = WaitForMultipleObjects(
                2, events, FALSE, std::min<DWORD>(acceptor.post_waiting(), 1000));
            if (woken == WAIT_OBJECT_0 || woken == WAIT_FAILED || acceptor.failed()) break;
            registry.cancel_stalled_sends(stage08::now_ms() - send_timeout_ms);
        }
        // ANCHOR_END: main_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
        // ANCHOR_END: shutdown
        // On the way out, in reverse order of creation: the port is closed, then WSACleanup.

        net::log("stopped: ", counters.clients_served.load(), " clients served, ",
                 counters.bytes_echoed.load(), " bytes echoed");
        return acceptor.failed() ? 1 : 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
