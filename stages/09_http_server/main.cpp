// Stage 09 — an HTTP/1.1 server on the asynchronous IOCP engine of stage 08.
//
// Base: stage 08. New since then: a protocol. The engine — AcceptEx posted ahead, a worker pool
// on a completion port, one operation in flight per client, the orderly shutdown — is stage
// 08's; what a client's completions do is now HTTP/1.1:
//   - requests parsed from bytes in any split (http.h); keep-alive (HTTP/1.1's default,
//     Connection: close, HTTP/1.0); pipelined requests answered in order, a bounded number of
//     responses queued ahead; Expect: 100-continue answered;
//   - a table of handlers and static files (routes.h), opened and checked by what the system
//     opened, not by the spelling of the request (links, junctions, 8.3 short names);
//   - files streamed: a 64 KiB chunk read with overlapped ReadFile, completed to the same port,
//     then sent, then the next, so a client holds one chunk of any file at most;
//   - an idle timeout, swept by main once a second, in the place of 08's send timeout (a client
//     that takes nothing of a response makes no progress: it is idle); an access-log line per
//     response, finished or cut short; a 503 for clients beyond --max-clients, closed as
//     gracefully as any other;
//   - running out of memory ends the connection that ran into it, not the server.
//
//   a worker:  an accept completed: start the client (first WSARecv), post the accept again |
//              a read completed: parse, answer what is complete, send | a send completed: send
//              the rest, or the file's next chunk (ReadFile), or read the next request; after
//              the last response of a connection that closes: our FIN, then read until the
//              client's
//   main:      post the accepts -> wait for Ctrl+C, ending idle connections once a second ->
//              the orderly shutdown of stage 08
//
// What it still leaves out: see notes/09_http_server.md (TLS, chunked bodies, ranges, caching,
// HTTP/2...).
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/09_http_server/*.cpp common/*.cpp -o stage09_http_server.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\09_http_server\*.cpp common\*.cpp ws2_32.lib
#include "stages/09_http_server/client_context.h"
#include "stages/09_http_server/http.h"
#include "stages/09_http_server/routes.h"

#include "common/accept_errors.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
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
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using stage09::ClientContext;
using stage09::ClientRegistry;

// Pipelined requests are answered ahead of sending, but at most this many responses are queued
// for a client, and at most this many bytes of them in memory (heads, and bodies made in
// memory: a file is read a chunk at a time as it is sent); further requests wait.
constexpr std::size_t max_queued_responses = 16;
constexpr std::size_t max_queued_output = 64 * 1024;
// Beyond --max-clients, up to this many more clients at a time are taken in only to be refused
// with a 503 and a graceful close (see queue_refusal); beyond that too, at once.
constexpr std::size_t max_refusals = 64;

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
    std::atomic<bool> stopping{false};  // set before shutdown cancels the clients' operations
    std::atomic<std::uint64_t> clients_served{0};
    std::atomic<std::uint64_t> connections{0};  // accepted, refused ones included: the ids
};

// What serving a client over HTTP needs besides the engine: the port (a file's reads complete
// to it too), the site it serves, and the live counters of its /stats page.
struct Serving {
    HANDLE port;
    const routes::Site& site;
    routes::Stats& stats;
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
    context.doing = ClientContext::Doing::receiving;
    context.io.overlapped = OVERLAPPED{};
    context.wsabuf.buf = context.buffer;
    context.wsabuf.len = stage09::buffer_size;
    DWORD flags = 0;
    const int result = WSARecv(context.socket, &context.wsabuf, 1, nullptr, &flags,
                               &context.io.overlapped, nullptr);
    return !io_failed(result);
}

// Start sending the queued bytes of the responses at the front, gathered into one WSASend: up
// to the first response with a file behind its head, whose file must come next. The same
// promise as post_recv's; the send may take fewer bytes than asked (take_in counts them).
bool post_send(ClientContext& context) {
    WSABUF buffers[max_queued_responses];
    DWORD count = 0;
    for (ClientContext::Outgoing& o : context.outgoing) {
        if (o.bytes_sent < o.bytes.size())
            buffers[count++] = WSABUF{static_cast<ULONG>(o.bytes.size() - o.bytes_sent),
                                      o.bytes.data() + o.bytes_sent};
        if (o.file_sent < o.file_size || count == max_queued_responses) break;
    }
    context.doing = ClientContext::Doing::sending;
    context.io.overlapped = OVERLAPPED{};
    const int result =
        WSASend(context.socket, buffers, count, nullptr, 0, &context.io.overlapped, nullptr);
    return !io_failed(result);
}
// ANCHOR_END: post_recv

// ANCHOR: file_io
// A file body, a chunk at a time: read one into the client's chunk buffer with ReadFile, which
// completes to the port like the socket's operations (the file is associated with the port,
// with client_key, and the read uses the client's OVERLAPPED); then send it; then read the next.
// One operation in flight per client, as ever, and one chunk of memory. (No TransmitFile: the
// client versions of Windows run at most two at a time, for the whole machine.)
bool post_file_read(ClientContext& context) {
    ClientContext::Outgoing& front = context.outgoing.front();
    if (!context.chunk) context.chunk.reset(new char[stage09::file_chunk_size]);  // not zeroed
    const auto length = static_cast<DWORD>(
        std::min<std::uint64_t>(stage09::file_chunk_size, front.file_size - front.file_sent));
    context.doing = ClientContext::Doing::reading_file;
    context.chunk_length = context.chunk_sent = 0;
    context.io.overlapped = OVERLAPPED{};  // an overlapped read says where it reads from
    context.io.overlapped.Offset = static_cast<DWORD>(front.file_sent);
    context.io.overlapped.OffsetHigh = static_cast<DWORD>(front.file_sent >> 32);
    return ReadFile(front.file.get(), context.chunk.get(), length, nullptr,
                    &context.io.overlapped) ||
           GetLastError() == ERROR_IO_PENDING;
}

// Start sending the part of the chunk read last that is not sent yet.
bool post_send_chunk(ClientContext& context) {
    context.doing = ClientContext::Doing::sending_chunk;
    context.io.overlapped = OVERLAPPED{};
    WSABUF buffer{context.chunk_length - context.chunk_sent,
                  context.chunk.get() + context.chunk_sent};
    const int result =
        WSASend(context.socket, &buffer, 1, nullptr, 0, &context.io.overlapped, nullptr);
    return !io_failed(result);
}
// ANCHOR_END: file_io

// ANCHOR: finish
// The client is done and nothing of it is in flight: free it, then say why — `what` ended it,
// and `error` (when not 0) is the Winsock or Windows error code that says why. Responses still
// queued get their access-log line first, with how much of them went out. Then the context
// goes, before anything else that allocates: whatever happens next, it must be gone. When
// another thread ended it (shutdown, the idle timeout), the reason is that thread's, whatever
// the completion looked like. `abortive`: see destroy(). Never throws: it also ends the
// clients that ran out of memory.
void finish(ClientRegistry& registry, const Counters& counters, Serving& serving, ClientContext* context,
            const char* what, int error = 0, bool abortive = false) noexcept {
    const char* cancelled = context->cancelled;
    const char* why = cancelled ? cancelled : counters.stopping ? "server stopping" : what;
    const bool with_error = !cancelled && !counters.stopping && error != 0;
    for (const ClientContext::Outgoing& o : context->outgoing) {
        if (o.what.empty()) continue;  // an interim 100 Continue: not logged
        net::log("client ", context->id, ": ", o.what, " aborted after ", o.body_sent(), " of ",
                 o.body_size, " bytes: ", why);
    }
    const std::uint64_t id = context->id;
    if (!context->refused) --serving.stats.connections_open;
    const std::size_t live = registry.destroy(context, abortive);
    if (with_error) {
        try {
            net::log("client ", id, " disconnected: ", why, ": ", net::error_text(error), " (",
                     live, " live)");
            return;
        } catch (const std::bad_alloc&) {  // the line without the error's text, then
        }
    }
    net::log("client ", id, " disconnected: ", why, " (", live, " live)");
}
// ANCHOR_END: finish

// ANCHOR: answer_buffered_requests
http::Response error_response(int status) {
    http::Response response;
    response.status = status;
    response.body = std::to_string(status) + " " + http::reason_phrase(status) + "\n";
    return response;
}

// One response into the client's queue: its head, and its body when made in memory; a file
// body stays in its file, to be read a chunk at a time as it is sent.
void queue(ClientContext& c, Serving& serving, const std::string& what, routes::Reply reply,
           bool head_only, bool keep_alive_header) {
    // The file's reads complete to the port, like the socket's operations, with the same key.
    // (Should that fail, the request gets a 500 rather than a file it cannot send.)
    if (reply.file && !head_only &&
        !CreateIoCompletionPort(reply.file.get(), serving.port, client_key, 0)) {
        reply.response = error_response(500);
        reply.file.reset();
    }
    const http::Response& response = reply.response;
    ClientContext::Outgoing o;
    o.bytes = http::serialize(response, head_only, keep_alive_header, std::time(nullptr));
    o.head_size = o.bytes.size() - (head_only || response.file_size ? 0 : response.body.size());
    o.body_size = head_only ? 0 : response.content_length();
    if (reply.file && !head_only) {
        o.file = std::move(reply.file);
        o.file_size = *response.file_size;
    }
    o.what = what + " " + std::to_string(response.status);
    o.started = c.request_started;
    c.close_after_output = response.close;
    c.outgoing.push_back(std::move(o));
    c.outgoing_bytes += c.outgoing.back().bytes.size();
}

// "HTTP/1.1 100 Continue": queued like a response, but never logged.
void queue_interim(ClientContext& c, std::string_view bytes) {
    ClientContext::Outgoing o;
    o.bytes.assign(bytes);
    o.head_size = o.bytes.size();
    c.outgoing.push_back(std::move(o));
    c.outgoing_bytes += bytes.size();
}

// Turn every complete request the parser holds into its response, in order (pipelining),
// until the queue's bounds are reached or a response closes the connection. A request whose
// body is still to come and whose client waits for our word (Expect: 100-continue) gets an
// interim "100 Continue". True if it queued anything.
bool answer_buffered_requests(ClientContext& c, Serving& serving) {
    const std::size_t queued_before = c.outgoing.size();
    while (!c.close_after_output && c.outgoing.size() < max_queued_responses &&
           c.outgoing_bytes < max_queued_output) {
        const http::RequestParser::Status status = c.parser.feed({});
        if (status == http::RequestParser::Status::incomplete) {
            if (c.parser.take_continue_expectation()) queue_interim(c, http::continue_response);
            break;
        }
        if (status == http::RequestParser::Status::error) {
            http::Response response = error_response(http::status_of(c.parser.error()));
            response.close = true;
            queue(c, serving, "- (unparsable request)", routes::Reply{std::move(response), {}}, false,
                  false);
            break;
        }
        const http::Request request = c.parser.take();
        ++serving.stats.requests;
        routes::Reply reply;
        try {
            reply = routes::respond(request, serving.site);
        } catch (const std::bad_alloc&) {
            throw;  // not this request's fault: it ends the connection (handle_io)
        } catch (const std::exception& error) {  // a file system error: this request only
            reply.response = error_response(500);
            reply.response.body += std::string(error.what()) + "\n";
            reply.file.reset();
        }
        if (!request.keep_alive) reply.response.close = true;
        const bool keep_alive_header = request.minor_version == 0 && !reply.response.close;
        queue(c, serving, request.method + " " + request.target, std::move(reply),
              request.method == "HEAD", keep_alive_header);
        c.last_progress_ms = stage09::now_ms();
        if (c.parser.started()) c.request_started = stage09::Clock::now();
    }
    return c.outgoing.size() > queued_before;
}
// ANCHOR_END: answer_buffered_requests

// ANCHOR: refusal
// Beyond --max-clients a client is told so in HTTP: it is taken in with just a 503 queued,
// which then closes like any other response that closes (our FIN, then reading until the
// client closes): a client that sent its request before it was refused still reads the 503,
// where a close with its bytes unread would reset the connection and could destroy the 503
// before it is read.
void queue_refusal(ClientContext& c, Serving& serving) {
    http::Response busy;
    busy.status = 503;
    busy.body = "503 Service Unavailable: the server is full; try again later\n";
    busy.close = true;
    c.request_started = stage09::Clock::now();
    queue(c, serving, "- (refused: server full)", routes::Reply{std::move(busy), {}}, false, false);
}

// Beyond the refusals too (a flood of them), or out of memory: the 503 and a close at once,
// which resets the connection if the client has sent anything already.
void refuse_at_once(SOCKET s) noexcept {
    static const char busy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send(s, busy, sizeof busy - 1, 0);
    shutdown(s, SD_SEND);
    net::log("refused a client at once: the server is full, or out of memory");
}
// ANCHOR_END: refusal

// ANCHOR: access_log
// One line per response, once its last byte has been handed to the kernel: who, what, the
// status, the body's size, and how long since its request's bytes arrived. The response then
// leaves the queue (its file is closed, and the chunk buffer freed).
void log_sent_responses(ClientContext& c) {
    while (!c.outgoing.empty() && c.outgoing.front().done()) {
        ClientContext::Outgoing& done = c.outgoing.front();
        if (!done.what.empty()) {
            const double ms =
                std::chrono::duration<double, std::milli>(stage09::Clock::now() - done.started)
                    .count();
            char duration[32];
            std::snprintf(duration, sizeof duration, "%.2f ms", ms);
            net::log("client ", c.id, ": ", done.what, " ", done.body_size, " bytes ", duration);
        }
        if (done.file) {
            c.chunk.reset();
            c.chunk_length = c.chunk_sent = 0;
        }
        c.outgoing_bytes -= done.bytes.size();
        c.outgoing.pop_front();
    }
}
// ANCHOR_END: access_log

// ANCHOR: handle_io
// What an operation did, taken in. Returns why the client is done (its FIN, or a file that
// ended early), or nullptr.
const char* take_in(ClientContext& c, Serving& serving, DWORD bytes) {
    switch (c.doing) {
        case ClientContext::Doing::receiving:
            if (bytes == 0)
                return c.draining ? "closed after our last response" : "closed by the client";
            if (c.draining) return nullptr;  // after our FIN: what the client sends is discarded
            if (!c.parser.started()) c.request_started = stage09::Clock::now();
            c.parser.feed(std::string_view(c.buffer, bytes));
            return nullptr;
        case ClientContext::Doing::reading_file:
            if (bytes == 0)
                return "the file ended before its size";  // it shrank: Content-Length lies
            c.chunk_length = bytes;
            c.chunk_sent = 0;
            return nullptr;
        case ClientContext::Doing::sending_chunk:
            c.chunk_sent += bytes;
            c.outgoing.front().file_sent += bytes;
            break;
        case ClientContext::Doing::sending: {
            std::size_t left = bytes;  // a gathered send: the responses' bytes in order
            for (ClientContext::Outgoing& o : c.outgoing) {
                const std::size_t taken = std::min(left, o.bytes.size() - o.bytes_sent);
                o.bytes_sent += taken;
                left -= taken;
                if (left == 0) break;
            }
            break;
        }
    }
    c.last_progress_ms = stage09::now_ms();  // bytes were handed to the kernel: progress
    serving.stats.bytes_sent += bytes;
    return nullptr;
}

// The client's next operation. What is queued goes out first: the responses' queued bytes,
// and behind a head its file, a chunk read, then sent, then the next read. When everything is
// sent: our FIN if the last response closes, then reads until the client closes; otherwise
// the requests already received are answered (queueing more), and when there are none, a
// read. Starts one operation and does nothing after it; false if it could not be started.
bool start_next_operation(ClientContext& c, Serving& serving) {
    for (;;) {
        log_sent_responses(c);
        if (!c.outgoing.empty()) {
            const ClientContext::Outgoing& front = c.outgoing.front();
            if (front.bytes_sent < front.bytes.size()) return post_send(c);
            if (c.chunk_sent < c.chunk_length) return post_send_chunk(c);
            return post_file_read(c);
        }
        if (c.close_after_output && !c.draining) {
            // Our FIN, then read until the client closes: closing with its unread bytes
            // pending would make the system reset the connection, and on Windows a reset can
            // destroy the response before the client has read it.
            shutdown(c.socket, SD_SEND);
            c.draining = true;
        }
        if (c.draining || !answer_buffered_requests(c, serving)) return post_recv(c);
    }
}

const char* failure_of(ClientContext::Doing doing) {
    switch (doing) {
        case ClientContext::Doing::receiving:
            return "read failed";
        case ClientContext::Doing::reading_file:
            return "file read failed";
        default:
            return "send failed";
    }
}

// One operation of the client is over, and its packet came through the port: take in what it
// did, and start the next. Running out of memory (std::bad_alloc) anywhere in here ends this
// client, and only this one: nothing can throw once an operation is in flight
// (start_next_operation() starts one as its very last step), so it can be freed at once.
void handle_io(ClientRegistry& registry, Counters& counters, Serving& serving, ClientContext* context,
               bool ok, int error, DWORD bytes) {
    try {
        if (!ok) {  // a reset, or another thread's cancellation: that client is done
            const bool sending = context->doing != ClientContext::Doing::receiving &&
                                 context->doing != ClientContext::Doing::reading_file;
            // After a failed send, closed with a reset: the bytes it never read go with it.
            finish(registry, counters, serving, context, failure_of(context->doing), error,
                   sending);
            return;
        }
        if (const char* done = take_in(*context, serving, bytes)) {
            finish(registry, counters, serving, context, done);
            return;
        }
        // Posted: a packet will come, and another worker may already be handling it: the
        // context is not ours any more. Not posted: no packet will ever come, so the client
        // ends here.
        if (!start_next_operation(*context, serving)) {
            const int failure = static_cast<int>(GetLastError());  // WSAGetLastError's too
            finish(registry, counters, serving, context, failure_of(context->doing), failure);
        }
    } catch (const std::bad_alloc&) {
        finish(registry, counters, serving, context, "out of memory");
    }
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
                       ClientRegistry& registry, Counters& counters, Serving& serving) {
    net::UniqueSocket accepted(s);
    std::string address;
    ClientContext* context = nullptr;
    try {
        address = net::address_to_string(reinterpret_cast<const sockaddr*>(&peer));
        context = registry.create(accepted.get(), ++counters.connections);
    } catch (const std::bad_alloc&) {  // the registry did not take the socket
    }
    if (!context) {  // full beyond the refusals too, stopping, or out of memory
        if (!counters.stopping) refuse_at_once(accepted.get());
        return;
    }
    accepted.release();  // the registry owns the socket now
    // From here until the first operation is posted, nothing may escape (net::log does not
    // throw, and out of memory ends this client): a context must have an operation in flight,
    // or the shutdown would wait for it forever.
    ++serving.stats.connections_total;
    if (context->refused) {
        net::log("client ", context->id, " from ", address, " refused: server full (",
                 registry.size(), " live)");
    } else {
        ++counters.clients_served;
        ++serving.stats.connections_open;
        net::log("client ", context->id, " connected from ", address, " (", registry.size(),
                 " live)");
    }

    // From now on, completions of this socket's I/O are queued to our port, with client_key.
    if (!CreateIoCompletionPort(reinterpret_cast<HANDLE>(context->socket), port, client_key, 0)) {
        finish(registry, counters, serving, context, "CreateIoCompletionPort failed",
               static_cast<int>(GetLastError()));
        return;
    }
    // A response leaves in pieces: its head, then its file a chunk at a time. By Nagle's
    // algorithm a small piece waits while the one before it is unacknowledged, and the client
    // may hold its acknowledgement back (delayed ACK: up to 200 ms on Windows, from 40 ms on
    // Linux): a small file's body would wait for it, request after request. So each piece goes
    // at once. (Should the option not be set, responses are only slower.)
    const BOOL no_delay = TRUE;
    setsockopt(context->socket, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&no_delay),
               sizeof no_delay);
    // The first operation: the read of its first request — or, for a client that is refused,
    // the send of its 503. Once it is posted, another worker may finish and free the context
    // at any moment: this one does not touch it again.
    bool first = false;
    try {
        if (context->refused) queue_refusal(*context, serving);
        first = start_next_operation(*context, serving);
    } catch (const std::bad_alloc&) {
        finish(registry, counters, serving, context, "out of memory");
        return;
    }
    if (!first)
        finish(registry, counters, serving, context, failure_of(context->doing),
               static_cast<int>(GetLastError()));
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
                 Serving& serving) {
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
            if (s != INVALID_SOCKET) handle_new_client(s, peer, port, registry, counters, serving);
            continue;
        }
        ClientContext* context = reinterpret_cast<stage09::IoSlot*>(overlapped)->context;
        handle_io(registry, counters, serving, context, ok != FALSE, error, bytes);
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

std::filesystem::path default_root() {
    std::wstring path(MAX_PATH, L'\0');
    for (;;) {  // a program installed deeper than MAX_PATH: a larger buffer, until it fits
        const DWORD length =
            GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size()));
        if (length == 0) return {};
        if (length < path.size()) {
            path.resize(length);
            return std::filesystem::path(path).parent_path() / "www";
        }
        path.resize(2 * path.size());
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    std::string root;  // empty: the www folder beside the program
    // Twice the processors, as in stage 07 — though no worker blocks in send() any more: this
    // keeps the comparison of the two stages fair, and costs idle threads only.
    unsigned workers = 2 * net::processor_count();
    unsigned max_clients = 10000;
    unsigned accepts = 16;
    unsigned idle_timeout = 15;
    net::CommandLine command_line(
        "stage09_http_server",
        "An HTTP/1.1 server on I/O completion ports: AcceptEx, WSARecv/WSASend, keep-alive, "
        "pipelining, a /stats page and static files.",
        options);
    command_line.add_option("--root", "DIR", "the folder served (default: www beside the program)",
                            root);
    command_line.add_option("--workers", "N", "worker threads", workers, 1, 256);
    command_line.add_option("--max-clients", "N", "clients served at once; more get a 503",
                            max_clients, 1, 1000000);
    command_line.add_option("--accepts", "N", "AcceptEx calls kept posted ahead", accepts, 1, 1024);
    command_line.add_option("--idle-timeout", "SECONDS",
                            "close a connection that has not completed a request for this long",
                            idle_timeout, 1, 86400);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    // The folder must exist: that is a bad argument too (exit code 2). The path is taken as
    // argv spells it — in the ANSI code page with MSVC's main(), which is what path(std::string)
    // converts from; std::filesystem::u8path would read it as UTF-8 instead.
    const std::filesystem::path root_path =
        root.empty() ? default_root() : std::filesystem::path(root);
    std::error_code root_error;
    if (!std::filesystem::is_directory(root_path, root_error)) {
        std::fprintf(stderr, "stage09_http_server: --root: '%s' is not a folder\n\n%s",
                     root.c_str(), command_line.usage().c_str());
        return 2;
    }

    try {
        routes::Stats stats;
        const routes::Site site = routes::make_site(root_path, stats);
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
        ClientRegistry registry(max_clients, max_refusals);
        Counters counters;
        Serving serving{port.get(), site, stats};
        Acceptor acceptor(listener.get(), bound.ss_family, extensions, accepts);
        net::WorkerPool pool(port.get(), workers,
                             [&] { worker_loop(port.get(), acceptor, registry, counters, serving); });
        OrderlyShutdown orderly_shutdown(acceptor, registry, pool, counters);
        // ANCHOR_END: create_port
        acceptor.start();
        net::log(workers, " workers waiting on the completion port, ", accepts,
                 " accepts posted ahead");
        net::log("serving ", root_path.u8string());
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        // All the work is the workers'. Main waits for Ctrl+C, and meanwhile posts again the
        // accepts that had to wait for sockets or buffers, and once a second ends the
        // connections that have made no progress for --idle-timeout seconds.
        const HANDLE events[] = {stop_event.get(), acceptor.wake_main()};
        for (;;) {
            const DWORD woken = WaitForMultipleObjects(
                2, events, FALSE, std::min<DWORD>(acceptor.post_waiting(), 1000));
            if (woken == WAIT_OBJECT_0 || woken == WAIT_FAILED || acceptor.failed()) break;
            registry.cancel_idle(stage09::now_ms() - 1000LL * idle_timeout);
        }
        // ANCHOR_END: main_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
        // ANCHOR_END: shutdown
        // On the way out, in reverse order of creation: the port is closed, then WSACleanup.

        net::log("stopped: ", counters.clients_served.load(), " clients served, ",
                 stats.requests.load(), " requests, ", stats.bytes_sent.load(), " bytes sent");
        return acceptor.failed() ? 1 : 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
