// Stage 08, Linux twin — the io_uring echo server: completions again, as with IOCP.
//
// Twin of: stage 08 (stages/08_async_echo/main.cpp). `scripts/diff.sh linux/08` shows the two
// side by side; notes/linux_08_io_uring.md walks through what differs and why.
//
// The same design: every operation is asynchronous — accepting, receiving, sending — and each
// client has one operation in flight at a time, its receive or the send of what it received, so
// a client that does not read is not read from (back-pressure) and holds no thread. io_uring is
// completion-based, like a completion port: the program asks for an operation, the kernel
// performs it, and a completion says how it went. What differs:
//   - Submission is a queue too. A worker writes entries into its ring's submission queue and
//     hands the whole batch to the kernel with one system call, the same one that waits for
//     completions (io_uring_submit_and_wait).
//   - One ring per worker thread, not one port for all: a ring is meant for one thread. Main
//     has a ring of its own, with one multishot accept armed on the listener — a completion per
//     connection — and hands each new client to the next worker's ring with a message
//     (IORING_OP_MSG_RING), the twin of PostQueuedCompletionStatus. A client stays on that ring.
//   - A receive takes a buffer from a ring of provided buffers when bytes arrive, not when it
//     is posted: an idle client holds no buffer. The echo is sent from that buffer, which goes
//     back to the ring once the send has completed.
//   - Cancellation goes through the ring the operation was submitted to: at shutdown each
//     worker cancels every operation of its own ring with one request.
//
//   main:      arm the multishot accept -> a connection: message it to a worker's ring -> on
//              Ctrl+C: stop accepting -> message every ring "cancel" -> wait until the workers
//              have freed every client -> message every ring "exit", join
//   a worker:  submit what is queued and wait -> for each completion: a new client: its first
//              receive | a receive: send the bytes | a send: the rest, or the next receive; on
//              0 bytes or a failure, free the client
//
// What it still leaves out: a protocol, as stage 08 does.
//
// Build without CMake, from the repository root (liburing-dev, Linux 5.19 or later):
//   g++ -std=c++17 -O2 -Istages/linux/stand_in -I. stages/linux/08_io_uring/main.cpp stages/linux/common/*.cpp common/options.cpp common/log.cpp -o stage08_io_uring -pthread -luring
#include "stages/linux/08_io_uring/client_context.h"
#include "stages/linux/08_io_uring/provided_buffers.h"

#include "common/log.h"
#include "common/options.h"
#include "stages/linux/common/accept_errors.h"
#include "stages/linux/common/blocking_sockets.h"
#include "stages/linux/common/ctrl_c.h"
#include "stages/linux/common/descriptor_limit.h"
#include "stages/linux/common/error_text.h"
#include "stages/linux/common/listener.h"
#include "stages/linux/common/refuse.h"
#include "stages/linux/common/sockets.h"
#include "stages/linux/common/worker_pool.h"

#include <liburing.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using stage08_io_uring::buffer_size;
using stage08_io_uring::ClientContext;
using stage08_io_uring::ClientRegistry;
using stage08_io_uring::ProvidedBuffers;

// ANCHOR: packet_keys
// What a completion is about: the 64 bits of user_data given to its submission, which come back
// unchanged — the twin of the completion key and the OVERLAPPED pointer together. A client's
// receive or send carries its context's address (a heap address, never one of the small numbers
// below); everything else carries a tag. A message from another ring (IORING_OP_MSG_RING) comes
// as a completion whose user_data and res the sender chose: "32+64 bits of data"
// (io_uring_prep_msg_ring(3)).
enum Tag : std::uint64_t {
    // On a worker's ring:
    new_client_tag = 1,  // from main: res is an accepted socket, now this worker's
    cancel_tag = 2,      // from main: shutdown; cancel every operation of this ring
    exit_tag = 3,        // from main: "this worker is done" (the twin of an exit packet)
    // On main's ring:
    accept_tag = 4,   // the multishot accept: res is a new socket, or an error
    pause_tag = 5,    // the pause after an accept failed for want of descriptors or memory
    message_tag = 6,  // a message to a worker's ring was delivered, or not (res < 0); the
                      // socket it carried, if any, is in the bits above the tag (message_data)
    // On either: the completion of a cancel request (its count of cancelled operations).
    cancelled_tag = 7,
};

std::uint64_t message_data(int s) { return message_tag | (static_cast<std::uint64_t>(s + 1) << 8); }
int socket_of(std::uint64_t data) { return static_cast<int>(data >> 8) - 1; }
// ANCHOR_END: packet_keys

// Shared by the workers, so atomic — or locked.
struct Counters {
    std::atomic<std::uint64_t> bytes_echoed{0};
    std::atomic<bool> stopping{false};  // set before shutdown cancels the clients' operations
    std::atomic<std::uint64_t> clients_served{0};
    std::atomic<std::uint64_t> connections{0};  // accepted, refused ones included: the ids
    std::atomic<std::uint64_t> buffer_waits{0};  // receives that found no buffer free
    // Held while a client is added or freed *and* its line, with the new count of live clients,
    // is written, so that the lines come in the order of the changes (notes/linux_07_epoll.md).
    std::mutex lines;
};

// ANCHOR: ring
// Owns one io_uring: its two queues, shared with the kernel, and the descriptor that names it.
// The completion queue is made larger than the submission queue's default of twice its size:
// with up to one operation in flight per client, a burst of clients can complete more at once
// than a small queue holds. None is lost when it is full (IORING_FEAT_NODROP, Linux 5.5: the
// kernel keeps the excess until there is room), but a multishot accept ends then (Acceptor).
class Ring {
public:
    explicit Ring(unsigned entries, unsigned completion_entries = 4096) {
        io_uring_params params{};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = completion_entries;
        if (const int error = io_uring_queue_init_params(entries, &ring_, &params); error < 0)
            throw std::system_error(-error, std::generic_category(), "io_uring_queue_init");
    }
    ~Ring() { io_uring_queue_exit(&ring_); }  // cancels whatever is still in flight
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    io_uring& get() { return ring_; }
    int fd() const { return ring_.ring_fd; }

private:
    io_uring ring_{};
};

// The next free entry of the ring's submission queue. The loops that reap completions stop
// while there is room for two more entries (the most one completion queues), so the queue is
// never full here in practice; if it were, what it holds goes to the kernel first, to make room.
// (A failure other than "try again" would mean the ring itself is broken, with operations of
// ours in it that nothing could ever complete.)
io_uring_sqe* next_sqe(io_uring& ring) {
    for (;;) {
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring)) return sqe;
        const int submitted = io_uring_submit(&ring);
        if (submitted < 0 && submitted != -EINTR && submitted != -EAGAIN && submitted != -EBUSY) {
            std::fprintf(stderr, "error: io_uring_submit: %s\n", net::error_text(-submitted).c_str());
            std::abort();
        }
    }
}

// Queues a message for another ring: a completion {user_data: tag, res: value} will appear on
// the ring whose descriptor is `target` (IORING_OP_MSG_RING, Linux 5.18) — the twin of
// PostQueuedCompletionStatus. The message's own completion comes on `from`, with `own_data`.
void post_message(io_uring& from, int target, Tag tag, int value, std::uint64_t own_data) {
    io_uring_sqe* sqe = next_sqe(from);
    io_uring_prep_msg_ring(sqe, target, static_cast<unsigned>(value), tag, 0);
    io_uring_sqe_set_data64(sqe, own_data);
}
// ANCHOR_END: ring

// ANCHOR: extensions
// Stage 08 asks Winsock for AcceptEx, an extension. io_uring's operations are all the kernel's,
// but which ones exist depends on its version, and the kernel says which (io_uring_get_probe).
// What the probe cannot tell — multishot accept, rings of provided buffers, cancelling every
// operation at once — came with Linux 5.19 together: registering the buffer ring fails before
// that (ProvidedBuffers throws), so a server that starts has them all.
std::string missing_operations(io_uring& ring) {
    const std::unique_ptr<io_uring_probe, decltype(&io_uring_free_probe)> probe(
        io_uring_get_probe_ring(&ring), io_uring_free_probe);
    if (!probe) return "io_uring_get_probe";
    const struct {
        int operation;
        const char* name;
    } needed[] = {{IORING_OP_ACCEPT, "ACCEPT"}, {IORING_OP_RECV, "RECV"}, {IORING_OP_SEND, "SEND"},
                  {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}, {IORING_OP_TIMEOUT, "TIMEOUT"},
                  {IORING_OP_MSG_RING, "MSG_RING"}};
    std::string missing;
    for (const auto& each : needed)
        if (!io_uring_opcode_supported(probe.get(), each.operation))
            missing += std::string(missing.empty() ? "" : ", ") + "IORING_OP_" + each.name;
    return missing;
}
// ANCHOR_END: extensions

// ANCHOR: worker_pool
// One ring per worker thread, where stage 08 has one completion port for all its workers. A
// completion port is built to be shared: any waiting worker takes the next packet. An io_uring
// is built for one thread: its queues are memory shared with the kernel, with no lock between
// two threads on the program's side, and the kernel runs the work of completing its operations
// on the thread that submitted them. So each worker owns a ring, and a buffer group of its own
// in it, and serves the clients main hands it; main's messages are the only thing another
// thread puts into a worker's ring.
struct Worker {
    Worker(unsigned number, unsigned buffer_count)
        : index(number), ring(256), buffers(ring.get(), buffer_count, 0) {}

    const unsigned index;  // for the log
    Ring ring;
    ProvidedBuffers buffers;
    std::deque<ClientContext*> starved;  // waiting for a buffer, with nothing in flight
    bool cancelled = false;              // main's cancel message has come: queue nothing more
    bool said_dry = false;               // the log has said once that the buffers ran out
};

class WorkerPool {
public:
    WorkerPool(io_uring& main_ring, unsigned count, unsigned buffer_count) : main_ring_(main_ring) {
        for (unsigned i = 0; i < count; ++i)
            workers_.push_back(std::make_unique<Worker>(i + 1, buffer_count));
    }
    ~WorkerPool() { stop(); }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // A thread per ring, started with SIGINT and SIGTERM blocked, as net::WorkerPool's are: the
    // handler must run on main only (stages/linux/common/blocking_sockets.h says why).
    void start(const std::function<void(Worker&)>& work) {
        const net::CtrlCBlocked blocked_while_starting;
        for (auto& worker : workers_) threads_.emplace_back(work, std::ref(*worker));
    }

    // main: the ring the next new client goes to. In turn: a connection is spread, not each
    // operation, as a shared port does.
    Worker& next() { return *workers_[next_++ % workers_.size()]; }

    // Shutdown: every worker cancels what its ring holds (worker_loop, cancel_ring).
    void cancel_all() { tell_everyone(cancel_tag); }

    // One "exit" message per worker, and join them all. Idempotent.
    void stop() {
        if (threads_.empty()) return;
        tell_everyone(exit_tag);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

    std::size_t size() const { return workers_.size(); }

private:
    // A message to every worker's ring, and the wait for each to be delivered. If one cannot be
    // (the kernel could not allocate the completion), that worker would never learn it: there
    // is no way on that is safe, so the process ends, saying why.
    void tell_everyone(Tag tag) {
        for (std::size_t i = 0; i < threads_.size(); ++i)
            post_message(main_ring_, workers_[i]->ring.fd(), tag, 0, message_data(-1));
        std::size_t delivered = 0;
        while (delivered < threads_.size()) {
            io_uring_cqe* cqe = nullptr;
            const int waited = io_uring_submit_and_wait(&main_ring_, 1);
            if (waited < 0 && waited != -EINTR) fail("io_uring_submit_and_wait", -waited);
            while (io_uring_peek_cqe(&main_ring_, &cqe) == 0) {
                const std::uint64_t data = cqe->user_data;
                const int result = cqe->res;
                io_uring_cqe_seen(&main_ring_, cqe);
                if (data != message_data(-1)) continue;  // a late cancel's count: nothing to do
                if (result < 0) fail("a message to a worker's ring", -result);
                ++delivered;
            }
        }
    }

    [[noreturn]] static void fail(const char* what, int error) {
        std::fprintf(stderr, "error: %s failed at shutdown: %s\n", what,
                     net::error_text(error).c_str());
        std::abort();
    }

    io_uring& main_ring_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::vector<std::thread> threads_;
    std::size_t next_ = 0;
};
// ANCHOR_END: worker_pool

// ANCHOR: post_recv
// Queue the client's next receive: up to buffer_size bytes, into whichever provided buffer the
// kernel picks when they arrive (IOSQE_BUFFER_SELECT, from the worker's group). Queued, not yet
// started: the worker hands its whole queue to the kernel at once, at the top of worker_loop.
void post_recv(Worker& worker, ClientContext& context) {
    context.sending = false;
    io_uring_sqe* sqe = next_sqe(worker.ring.get());
    io_uring_prep_recv(sqe, context.socket, nullptr, buffer_size, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = worker.buffers.group();
    io_uring_sqe_set_data(sqe, &context);
}

// Queue the send of the part of the echo not sent yet, from the buffer the receive filled.
// MSG_NOSIGNAL, as for send() (stages/linux/common/send_all.h): a send to a client that has
// reset would otherwise raise SIGPIPE, whose default action ends the whole process.
void post_send(Worker& worker, ClientContext& context) {
    context.sending = true;
    io_uring_sqe* sqe = next_sqe(worker.ring.get());
    io_uring_prep_send(sqe, context.socket, worker.buffers.data(context.buffer) + context.sent,
                       context.to_send - context.sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, &context);
}
// ANCHOR_END: post_recv

// ANCHOR: finish
// The client is done and nothing of it is in flight: free it, then say why — `what` ended it,
// and `error` (when not 0) is the errno value that says why. The context goes first, before
// anything that allocates: whatever happens next, it must be gone. At shutdown the reason is
// ours, whatever the completion looked like. `abortive`: see destroy().
void finish(ClientRegistry& registry, Counters& counters, ClientContext* context,
            const char* what, int error = 0, bool abortive = false) {
    const std::lock_guard<std::mutex> in_order(counters.lines);
    const std::uint64_t id = context->id;
    const std::size_t live = registry.destroy(context, abortive);
    if (counters.stopping) {
        net::log("client ", id, " disconnected: server stopping (", live, " live)");
    } else if (error != 0) {
        net::log("client ", id, " disconnected: ", what, ": ", net::error_text(error), " (", live,
                 " live)");
    } else {
        net::log("client ", id, " disconnected: ", what, " (", live, " live)");
    }
}
// ANCHOR_END: finish

// ANCHOR: starved
// A receive failed with ENOBUFS: when it went to take a buffer, every buffer of the ring was
// lent out, each holding an echo that is still being sent. Stage 08 cannot run out this way
// (each client owns its buffer), and pays 4 KiB for every idle client instead. Here the client
// waits, with nothing in flight, until a buffer comes back; give_back() then posts its receive
// again, first come first served.
void wait_for_buffer(Worker& worker, Counters& counters, ClientContext* context) {
    ++counters.buffer_waits;
    if (!worker.said_dry) {
        worker.said_dry = true;
        net::log("worker ", worker.index, ": all ", worker.buffers.count(),
                 " receive buffers are lent out; clients wait for one (said once)");
    }
    worker.starved.push_back(context);
}

// The echo held in `buffer` is sent (or never will be): the buffer goes back to the ring, and
// the client that has waited longest for one, if any, receives again.
void give_back(Worker& worker, std::uint16_t buffer) {
    worker.buffers.give_back(buffer);
    if (worker.starved.empty() || worker.cancelled) return;
    ClientContext* waiting = worker.starved.front();
    worker.starved.pop_front();
    post_recv(worker, *waiting);
}
// ANCHOR_END: starved

// ANCHOR: handle_io
// One operation of the client is over — its completion came — so queue the next: after a
// receive, the send of what arrived; after a send, the rest of it, or the next receive.
// `result` is the completion's res: a count of bytes, or an error as a negative errno value
// ("io_uring never uses errno", io_uring_prep_accept(3)). Unlike stage 08 there is no second
// way in: every operation completes through the queue, even one that could be done at once,
// and no call that starts one can fail — submitting is writing an entry, and a failure comes
// back as a completion like any other result.
void handle_io(Worker& worker, ClientRegistry& registry, Counters& counters,
               ClientContext* context, int result, std::uint32_t flags) {
    if (!context->sending) {
        // A receive that took a buffer says which one (cqe->flags); only bytes need it.
        if ((flags & IORING_CQE_F_BUFFER) != 0) context->buffer = worker.buffers.taken(flags);
        if (result <= 0 && (flags & IORING_CQE_F_BUFFER) != 0) give_back(worker, context->buffer);
        if (result == -ENOBUFS && !worker.cancelled) {
            wait_for_buffer(worker, counters, context);
            return;
        }
        if (result == 0) {  // the FIN: all it sent has been echoed already
            finish(registry, counters, context, "closed by the client");
            return;
        }
        if (result < 0) {  // a reset, or our own cancellation at shutdown
            finish(registry, counters, context, "recv failed", -result);
            return;
        }
        context->to_send = static_cast<std::uint32_t>(result);
        context->sent = 0;
        if (worker.cancelled) {  // the receive had completed before the cancel came
            give_back(worker, context->buffer);
            finish(registry, counters, context, "server stopping");
            return;
        }
        post_send(worker, *context);
        return;
    }
    if (result <= 0) {  // a reset, a client gone, or our own cancellation at shutdown
        give_back(worker, context->buffer);
        // After a failed send, closed with a reset: the bytes it never read go with it.
        finish(registry, counters, context, "send failed", -result, true);
        return;
    }
    context->sent += static_cast<std::uint32_t>(result);
    counters.bytes_echoed += static_cast<std::uint64_t>(result);
    // A send may complete with fewer bytes than asked: send the rest before receiving again.
    if (context->sent < context->to_send && !worker.cancelled) {
        post_send(worker, *context);
        return;
    }
    give_back(worker, context->buffer);
    if (worker.cancelled) {
        finish(registry, counters, context, "server stopping");
        return;
    }
    post_recv(worker, *context);
}
// ANCHOR_END: handle_io

// ANCHOR: acceptor
// Stage 08 keeps --accepts AcceptEx calls posted ahead, each with a socket made in advance, and
// posts each again as soon as its completion is handled. Here one multishot accept
// (io_uring_prep_multishot_accept, Linux 5.19), submitted once, stays armed on the listener and
// completes once per connection, with the new socket in res: the kernel makes the socket when
// the client comes, so there is nothing to prepare ahead and no --accepts. A completion without
// IORING_CQE_F_MORE says the accept is armed no longer — it failed, or its completion found the
// queue full — and it is armed again, which is this twin's "an accept is never lost": at once,
// after a pause (a timeout operation on the same ring), or never, when the server has failed,
// by the rules of net::AcceptErrors (stages/linux/common/accept_errors.h). Each new client is
// handed to a worker's ring with a message. All of it is main's, on main's ring: no lock.
class Acceptor {
public:
    Acceptor(io_uring& ring, int listener, const net::BlockingSockets& blocking,
             WorkerPool& workers)
        : ring_(ring), listener_(listener), blocking_(blocking), workers_(workers) {}

    // main, once.
    void start() { arm(); }

    // main: hand what is queued to the kernel, wait for at least one completion of main's ring,
    // and handle every one that came. Returns at once if a signal interrupts the wait.
    void wait_and_handle() {
        const int waited = io_uring_submit_and_wait(&ring_, 1);
        if (waited < 0 && waited != -EINTR)
            throw std::system_error(-waited, std::generic_category(), "io_uring_submit_and_wait");
        io_uring_cqe* cqe = nullptr;
        while (io_uring_sq_space_left(&ring_) >= 2 && io_uring_peek_cqe(&ring_, &cqe) == 0) {
            const std::uint64_t data = cqe->user_data;
            const int result = cqe->res;
            const std::uint32_t flags = cqe->flags;
            io_uring_cqe_seen(&ring_, cqe);
            complete(data, result, flags);
        }
    }

    bool failed() const { return failed_; }

    // Shutdown, first step: nothing is armed from now on; the accept and a pause are cancelled,
    // and this waits until every operation of main's ring has completed — the accept, the pause,
    // and every message that carried a new client. Only then is each client main accepted on a
    // worker's completion queue, ahead of the cancel message that comes next.
    void stop() {
        stopping_ = true;
        io_uring_sqe* sqe = next_sqe(ring_);
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
        io_uring_sqe_set_data64(sqe, cancelled_tag);
        while (armed_ || pausing_ || handing_off_ > 0) wait_and_handle();
    }

private:
    void complete(std::uint64_t data, int result, std::uint32_t flags) {
        if (data == accept_tag) {
            if ((flags & IORING_CQE_F_MORE) == 0) armed_ = false;
            if (blocking_.stopping()) stopping_ = true;  // Ctrl+C shut the listener down: EINVAL
            if (result >= 0) {
                errors_.on_success();
                hand_off(result);
            } else if (!stopping_ && !after_failure(-result)) {
                return;  // paused, or failed: not armed again now
            }
            if (!armed_ && !stopping_) arm();
        } else if (data == pause_tag) {
            pausing_ = false;
            if (!stopping_) arm();
        } else if ((data & 0xff) == message_tag) {
            --handing_off_;
            if (result < 0) {  // the worker never got it: the socket is still main's
                net::log("a new client was lost: the message to a worker failed: ",
                         net::error_text(-result));
                ::close(socket_of(data));
            }
        }
        // cancelled_tag: how many operations stop() cancelled; nothing to do.
    }

    void arm() {
        io_uring_sqe* sqe = next_sqe(ring_);
        io_uring_prep_multishot_accept(sqe, listener_, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, accept_tag);
        armed_ = true;
    }

    // A new socket: to the next worker, as a message its ring will complete with res = s. At
    // shutdown, closed instead: the workers are about to be told to cancel everything.
    void hand_off(int s) {
        if (stopping_) {
            ::close(s);
            return;
        }
        post_message(ring_, workers_.next().ring.fd(), new_client_tag, s, message_data(s));
        ++handing_off_;
    }

    // The accept failed with `error` (net::AcceptErrors writes the line). True: arm it again
    // now. Otherwise it is armed again by the pause's completion, or never (failed()).
    bool after_failure(int error) {
        switch (errors_.on_error(error)) {
            case net::AcceptErrors::Next::accept_now:
                return true;
            case net::AcceptErrors::Next::accept_later: {
                const long long ms = errors_.pause().count();
                pause_ = __kernel_timespec{ms / 1000, ms % 1000 * 1000000};
                io_uring_sqe* sqe = next_sqe(ring_);
                io_uring_prep_timeout(sqe, &pause_, 0, 0);
                io_uring_sqe_set_data64(sqe, pause_tag);
                pausing_ = true;
                return false;
            }
            case net::AcceptErrors::Next::stop:
                failed_ = true;
                return false;
        }
        return false;
    }

    io_uring& ring_;
    const int listener_;
    const net::BlockingSockets& blocking_;
    WorkerPool& workers_;
    net::AcceptErrors errors_;
    __kernel_timespec pause_{};  // read by the kernel when the timeout is submitted
    bool armed_ = false;         // the multishot accept will complete again
    bool pausing_ = false;       // a pause is in flight; its completion arms the accept
    int handing_off_ = 0;        // messages with a new client whose completion has not come
    bool stopping_ = false;
    bool failed_ = false;
};
// ANCHOR_END: acceptor

// ANCHOR: handle_new_client
// A worker, with a connection main has just accepted and handed to its ring: what stage 08's
// worker did after its AcceptEx completed.
void handle_new_client(int s, Worker& worker, ClientRegistry& registry, Counters& counters,
                       unsigned max_clients) {
    net::UniqueFd accepted(s);
    // The multishot accept could report each client's address, but into one buffer for all,
    // overwritten by the next connection before main reads it: ask the socket instead.
    const std::string address = net::peer_address(accepted.get());
    ClientContext* context = nullptr;
    {
        const std::lock_guard<std::mutex> in_order(counters.lines);
        context = registry.create(accepted.get(), ++counters.connections);
        if (context) {
            accepted.release();  // the registry owns the socket now
            ++counters.clients_served;
            net::log("client ", context->id, " connected from ", address, " (", registry.size(),
                     " live)");
        }
    }
    if (!context) {  // full, or stopping
        if (!counters.stopping)
            net::refuse(accepted.get(),
                        "server full (" + std::to_string(max_clients) + " clients)");
        return;
    }
    // The first receive, queued: from now on, the client's completions come to this ring.
    post_recv(worker, *context);
}
// ANCHOR_END: handle_new_client

// ANCHOR: cancel_ring
// Shutdown, on each worker, when main's cancel message comes: one request cancels every
// operation in flight on the ring (IORING_ASYNC_CANCEL_ANY, with _ALL: every one that matches,
// not the first). The twin of stage 08's CancelIoEx on each client's socket — but an io_uring
// operation can be cancelled only through the ring it was submitted to, so each worker cancels
// its own. Each cancelled receive or send completes, with -ECANCELED, and handle_io frees its
// client. An operation that completed just before has its completion queued already; handle_io,
// seeing `cancelled`, queues nothing after it. Clients waiting for a buffer have nothing in
// flight: they are done now.
void cancel_ring(Worker& worker, ClientRegistry& registry, Counters& counters) {
    worker.cancelled = true;
    io_uring_sqe* sqe = next_sqe(worker.ring.get());
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, cancelled_tag);
    for (ClientContext* context : worker.starved)
        finish(registry, counters, context, "server stopping");
    worker.starved.clear();
}
// ANCHOR_END: cancel_ring

// ANCHOR: worker_loop
// Each worker: hand its ring's queue of submissions to the kernel and wait for at least one
// completion — one system call for both — then handle every completion that has come, and go
// round again — or sooner, when the submission queue has room for fewer than two entries (what
// one completion may queue): the completions left wait for the next round. Each completion is
// copied out and its slot given back at once: the kernel may fill the slot while this one is
// being handled. The user_data says what it is: a message from
// main (a new client, cancel, exit), or a client's receive or send. Where stage 08's workers
// tell apart the four outcomes of GetQueuedCompletionStatus, here there is one: a completion,
// whose res says how the operation went. The wait itself cannot fail for a reason that retrying
// would mend other than a signal (blocked here) or a moment's shortage.
void worker_loop(Worker& worker, ClientRegistry& registry, Counters& counters,
                 unsigned max_clients) {
    io_uring& ring = worker.ring.get();
    for (;;) {
        const int waited = io_uring_submit_and_wait(&ring, 1);
        if (waited < 0 && waited != -EINTR && waited != -EAGAIN && waited != -EBUSY) {
            // Nobody else can reap this ring's completions: its clients could never be freed.
            std::fprintf(stderr, "error: worker %u: io_uring_submit_and_wait: %s\n", worker.index,
                         net::error_text(-waited).c_str());
            std::abort();
        }
        io_uring_cqe* cqe = nullptr;
        while (io_uring_sq_space_left(&ring) >= 2 && io_uring_peek_cqe(&ring, &cqe) == 0) {
            const std::uint64_t data = cqe->user_data;
            const int result = cqe->res;
            const std::uint32_t flags = cqe->flags;
            io_uring_cqe_seen(&ring, cqe);
            switch (data) {
                case new_client_tag:
                    handle_new_client(result, worker, registry, counters, max_clients);
                    break;
                case cancel_tag:
                    cancel_ring(worker, registry, counters);
                    break;
                case exit_tag:  // main sends it once every client is gone
                    return;
                case cancelled_tag:  // how many operations cancel_ring cancelled
                    break;
                default:
                    handle_io(worker, registry, counters, reinterpret_cast<ClientContext*>(data),
                              result, flags);
            }
        }
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: orderly_shutdown
// How the server stops, in order:
//   1. Stop accepting (Acceptor::stop): the multishot accept is cancelled, and main's ring is
//      drained, so every message that carried a new client has been delivered.
//   2. End every client: no new one is created (ClientRegistry::close), and a message goes
//      to each worker's ring (WorkerPool::cancel_all), behind the new clients already there; the
//      worker cancels every operation of its ring, and queues no new one after that. Each
//      cancelled receive or send completes, and its client is freed.
//   3. Wait until the workers have freed every context: only then is no operation in flight,
//      and no buffer of ours, or address, the kernel's any more. The workers must still be
//      running for this, since they are the ones who reap those completions.
//   4. One exit message per worker, and join them all (WorkerPool::stop). Any earlier, and a
//      worker could return with completions of its clients still to come.
// main runs it after the main loop; the destructor runs it if main leaves by an exception,
// before ~WorkerPool (which closes the rings), ~ClientRegistry and main's ring.
class OrderlyShutdown {
public:
    OrderlyShutdown(Acceptor& acceptor, ClientRegistry& registry, WorkerPool& pool,
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
        registry_.close();
        pool_.cancel_all();
        registry_.wait_until_empty();
        pool_.stop();
    }

private:
    Acceptor& acceptor_;
    ClientRegistry& registry_;
    WorkerPool& pool_;
    Counters& counters_;
    bool done_ = false;
};
// ANCHOR_END: orderly_shutdown

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    // One worker per processor: none ever blocks on a client, so more would only take turns.
    // (Stage 08 keeps twice the processors, stage 07's number, to compare the two fairly.)
    unsigned workers = net::processor_count();
    unsigned max_clients = 10000;
    unsigned buffers = 512;
    net::CommandLine command_line(
        "stage08_io_uring",
        "A fully asynchronous TCP echo server on io_uring: a multishot accept, receives into "
        "provided buffers, sends as completions, and a ring per worker thread.",
        options);
    command_line.add_option("--workers", "N", "worker threads, each with its own ring", workers, 1,
                            256);
    command_line.add_option("--max-clients", "N", "clients served at once; more are refused",
                            max_clients, 1, 1000000);
    command_line.add_option("--buffers", "N",
                            "receive buffers of 4 KiB per worker, lent to the kernel (a power of "
                            "two)",
                            buffers, 1, 32768);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;
    if ((buffers & (buffers - 1)) != 0) {
        std::fprintf(stderr, "error: --buffers %u is not a power of two\n%s", buffers,
                     command_line.usage().c_str());
        return 2;
    }

    try {
        // ANCHOR: ctrl_c
        // As in the twin of stage 07: SIGINT's handler shuts the adopted listener down. The
        // multishot accept then completes with EINVAL, which wakes main's wait on its ring if the
        // signal did not interrupt it already (EINTR); an accept armed later fails at once. The
        // workers start with the signals blocked (WorkerPool), and learn of the stop from main.
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c(blocking);
        // ANCHOR_END: ctrl_c

        // ANCHOR: descriptor_limit
        // One descriptor per client, as for every Linux twin: raise the limit as far as allowed,
        // and refuse clients before an accept would run out of descriptors. Each ring is a
        // descriptor too: one per worker, and main's.
        const unsigned fit = net::clients_within(net::raise_descriptor_limit(), workers + 1);
        if (max_clients > fit) {
            net::log("at most ", fit, " clients at once: the descriptor limit (ulimit -n)");
            max_clients = fit;
        }
        // ANCHOR_END: descriptor_limit

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;

        // ANCHOR: create_port
        // Main's ring: the accept, and the messages to the workers. Each worker's ring comes with
        // it, and its buffers (WorkerPool); its thread starts once everything it uses exists.
        Ring main_ring(256);
        const std::string missing = missing_operations(main_ring.get());
        if (!missing.empty()) {
            std::fprintf(stderr, "error: this kernel's io_uring lacks %s (Linux 5.19 or later)\n",
                         missing.c_str());
            return 1;
        }
        ClientRegistry registry(max_clients);
        Counters counters;
        WorkerPool pool(main_ring.get(), workers, buffers);
        Acceptor acceptor(main_ring.get(), listener.get(), blocking, pool);
        OrderlyShutdown orderly_shutdown(acceptor, registry, pool, counters);
        pool.start([&](Worker& worker) { worker_loop(worker, registry, counters, max_clients); });
        // ANCHOR_END: create_port
        acceptor.start();
        net::log(workers, " workers, each with its own ring and ", buffers,
                 " receive buffers; one multishot accept on main's ring");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        // Main accepts and deals the new clients out; the workers do everything else. Ctrl+C
        // ends the loop.
        while (!blocking.stopping() && !acceptor.failed()) acceptor.wait_and_handle();
        // ANCHOR_END: main_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
        // ANCHOR_END: shutdown
        // On the way out, in reverse order of creation: the workers' rings, main's ring, the
        // listener.

        if (counters.buffer_waits > 0)
            net::log(counters.buffer_waits.load(), " receives found every buffer lent out and "
                     "waited for one");
        net::log("stopped: ", counters.clients_served.load(), " clients served, ",
                 counters.bytes_echoed.load(), " bytes echoed");
        return acceptor.failed() ? 1 : 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}
