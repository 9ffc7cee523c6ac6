// Stage 08, Linux twin — the io_uring echo server: completions again, as with IOCP.
//
// Twin of: stage 08 (stages/08_async_echo/main.cpp). `scripts/diff.sh linux/08` shows the two
// side by side; notes/linux_08_io_uring.md walks through what differs and why.
//
// The same design: accepting, receiving and sending are all asynchronous, and each client has
// one operation in flight, its receive or the send of what it received — so a client that does
// not read is not read from (back-pressure), and holds no thread. io_uring is completion-based,
// like a completion port: the kernel performs the operation, and a completion says how it went.
// What differs:
//   - Submission is a queue too: a worker queues entries, then hands them all to the kernel in
//     the system call that also waits for completions (io_uring_submit_and_wait).
//   - A ring per worker thread, not one port for all: a ring is meant for one thread. Main's own
//     ring has one multishot accept — a completion per connection — and main hands each new
//     client to the next worker's ring with a message (IORING_OP_MSG_RING), the twin of
//     PostQueuedCompletionStatus. The client stays on that ring.
//   - A receive takes a buffer from the ring's provided buffers when bytes arrive: an idle
//     client holds none. The echo is sent from it, and it goes back once the send completed.
//   - An operation is cancelled through its own ring: at shutdown each worker cancels all its
//     ring holds, with one request.
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
// Build without CMake, from the repository root (liburing-dev; runs on Linux 6.1 or later):
//   g++ -std=c++17 -O2 -Istages/linux/stand_in -I. stages/linux/08_io_uring/main.cpp stages/linux/common/*.cpp common/options.cpp common/log.cpp -o stage08_io_uring -pthread -luring
#include "stages/linux/08_io_uring/client_context.h"
#include "stages/linux/08_io_uring/provided_buffers.h"
#include "stages/linux/08_io_uring/ring.h"

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
#include <condition_variable>
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
using stage08_io_uring::Ring;

// ANCHOR: packet_keys
// What a completion is about: the 64 bits of user_data given to its submission, back unchanged —
// the twin of the completion key and the OVERLAPPED pointer together. A client's receive or send
// carries its context's address (never one of the small numbers below), anything else a tag. A
// message from another ring comes with the user_data and res its sender chose.
enum Tag : std::uint64_t {
    // On a worker's ring:
    new_client_tag = 1,  // from main: res is an accepted socket, now this worker's
    cancel_tag = 2,      // from main: shutdown; cancel every operation of this ring
    exit_tag = 3,        // from main: "this worker is done" (the twin of an exit packet)
    // On main's ring:
    accept_tag = 4,   // the multishot accept: res is a new socket, or an error
    pause_tag = 5,    // the pause after an accept failed for want of descriptors or memory
    message_tag = 6,  // a message to a worker was handed over, or not (res < 0); the socket
                      // it carried, if any, is in the bits above the tag (message_data)
    cancelled_tag = 7,  // either ring: a cancel request is done (res: how many it cancelled)
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

// ANCHOR: submissions
// The next free entry of the ring's submission queue. The loops that reap completions go on only
// while there is room for two (the most one completion queues), so it is not full here; were it,
// what it holds would go to the kernel first. Any failure but "try again" is a broken ring, with
// operations of ours in it that nothing could ever complete.
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

// Hands the ring's queued entries to the kernel and waits for a completion, in one system call.
// EINTR (a signal), EAGAIN and EBUSY (completions must be reaped before the kernel takes more)
// send the caller on to reap what came; any other failure is a broken ring, with operations of
// ours in it that nothing could ever complete. `who` names the ring's thread in the last line.
void submit_and_wait(io_uring& ring, const char* who) {
    const int waited = io_uring_submit_and_wait(&ring, 1);
    if (waited < 0 && waited != -EINTR && waited != -EAGAIN && waited != -EBUSY) {
        std::fprintf(stderr, "error: %s: io_uring_submit_and_wait: %s\n", who,
                     net::error_text(-waited).c_str());
        std::abort();
    }
}

// Queues a message: a completion {user_data: tag, res: value} will appear on the ring whose
// descriptor is `target` (IORING_OP_MSG_RING) — the twin of PostQueuedCompletionStatus. The
// message's own completion comes on `from`, with `own_data`, once it is handed over: queued for
// the target, behind every message sent to it before. Not necessarily in its completion queue
// yet: to a DEFER_TASKRUN ring (ring.h) a message is work for the ring's thread, which it runs,
// in order, when it next asks for completions (measured on Linux 6.18).
void post_message(io_uring& from, int target, Tag tag, int value, std::uint64_t own_data) {
    io_uring_sqe* sqe = next_sqe(from);
    io_uring_prep_msg_ring(sqe, target, static_cast<unsigned>(value), tag, 0);
    io_uring_sqe_set_data64(sqe, own_data);
}
// ANCHOR_END: submissions

// ANCHOR: worker_pool
// A ring per worker thread, where stage 08 has one completion port for all. A port is built to
// be shared: any waiting worker takes the next packet. A ring is built for one thread: its
// queues are memory shared with the kernel, with no lock for two threads on our side, and the
// kernel completes operations on the thread that submitted them. So each worker makes, uses and
// closes a ring of its own (ring.h tells the kernel so), with its own buffer group, and serves
// the clients main hands it; main's messages are all that another thread puts into it.
//
// A Worker is made and destroyed on its thread (WorkerPool::run), the one the kernel lets
// register buffers with the ring and take them back: `buffers` is declared after `ring`, so it
// goes first, while the ring is still there.
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
    explicit WorkerPool(io_uring& main_ring) : main_ring_(main_ring) {}
    ~WorkerPool() { stop(); }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // A thread per ring, started with SIGINT and SIGTERM blocked, as net::WorkerPool's are: the
    // handler must run on main only (stages/linux/common/blocking_sockets.h says why). Each
    // thread makes its Worker, ring and buffers, and says which ring is its (run). Once, from
    // main: this returns when every ring exists, or throws why one could not be made, or why a
    // thread could not be started; either way only after every thread that did start has said
    // how it went, so that stop() can reach each one. (Ctrl+C waits meanwhile: a signal here
    // would find the workers' signals not blocked yet.) Each thread gets a copy of `work`: the
    // caller's may be a temporary, gone when this returns.
    void start(unsigned count, unsigned buffer_count, const std::function<void(Worker&)>& work) {
        const net::CtrlCBlocked blocked_while_starting;
        rings_.assign(count, -1);
        try {
            for (unsigned i = 0; i < count; ++i)
                threads_.emplace_back(
                    [this, i, buffer_count, work] { run(i, buffer_count, work); });
        } catch (...) {
            wait_until_told(threads_.size());
            throw;
        }
        const std::string failure = wait_until_told(count);
        if (!failure.empty()) throw std::runtime_error("a worker's ring: " + failure);
    }

    // main: the ring the next new client goes to, in turn. (A port spreads each operation.)
    int next_ring() { return rings_[next_++ % rings_.size()]; }

    // Shutdown: every worker cancels what its ring holds (worker_loop, cancel_ring).
    void cancel_all() { tell_everyone(cancel_tag); }

    // One "exit" message per worker, and join them all. Idempotent.
    void stop() {
        if (threads_.empty()) return;
        tell_everyone(exit_tag);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
        rings_.clear();  // closed by their workers
    }

private:
    // Waits until `threads` workers have said whether their ring exists; returns why one could not
    // be made, or "". After it, main may read rings_ without the lock: no thread writes it again.
    std::string wait_until_told(std::size_t threads) {
        std::unique_lock<std::mutex> lock(mutex_);
        made_.wait(lock, [&] { return told_ == threads; });
        return failure_;
    }

    // A worker's thread, from first to last: its ring is made here, and closed here when the
    // work is done (~Worker), by the one thread the kernel lets submit to it.
    void run(unsigned i, unsigned buffer_count, const std::function<void(Worker&)>& work) {
        std::unique_ptr<Worker> worker;
        std::string failure;
        try {
            worker = std::make_unique<Worker>(i + 1, buffer_count);
        } catch (const std::exception& error) {
            failure = error.what();
        }
        {
            const std::lock_guard<std::mutex> told(mutex_);
            if (worker) {
                rings_[i] = worker->ring.fd();
            } else {
                failure_ = failure;
            }
            ++told_;
        }
        made_.notify_one();
        if (worker) work(*worker);
    }

    // A message to every worker's ring, and the wait until each is handed over (post_message).
    // One that cannot be would leave a worker that never learns: no safe way on.
    void tell_everyone(Tag tag) {
        std::size_t sent = 0;
        for (const int ring : rings_) {
            if (ring < 0) continue;  // never made
            post_message(main_ring_, ring, tag, 0, message_data(-1));
            ++sent;
        }
        std::size_t handed_over = 0;
        while (handed_over < sent) {
            io_uring_cqe* cqe = nullptr;
            submit_and_wait(main_ring_, "main");
            while (io_uring_peek_cqe(&main_ring_, &cqe) == 0) {
                const std::uint64_t data = cqe->user_data;
                const int result = cqe->res;
                io_uring_cqe_seen(&main_ring_, cqe);
                if (data != message_data(-1)) continue;  // a late cancel's count: nothing to do
                if (result < 0) fail("a message to a worker's ring", -result);
                ++handed_over;
            }
        }
    }

    [[noreturn]] static void fail(const char* what, int error) {
        std::fprintf(stderr, "error: %s failed at shutdown: %s\n", what,
                     net::error_text(error).c_str());
        std::abort();
    }

    io_uring& main_ring_;
    std::vector<std::thread> threads_;
    std::vector<int> rings_;  // each worker's ring descriptor, once made; -1 if it could not be
    std::size_t next_ = 0;
    std::mutex mutex_;  // guards rings_, told_ and failure_ until start() has heard from all
    std::condition_variable made_;
    unsigned told_ = 0;    // workers that have said how the making went
    std::string failure_;  // why a ring could not be made, if one could not
};
// ANCHOR_END: worker_pool

// ANCHOR: post_recv
// Queue the client's next receive: up to buffer_size bytes, into whichever buffer of the
// worker's group the kernel picks when they arrive (IOSQE_BUFFER_SELECT). Queued, not started:
// worker_loop hands the whole queue to the kernel at once.
void post_recv(Worker& worker, ClientContext& context) {
    context.sending = false;
    io_uring_sqe* sqe = next_sqe(worker.ring.get());
    io_uring_prep_recv(sqe, context.socket, nullptr, buffer_size, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = worker.buffers.group();
    io_uring_sqe_set_data(sqe, &context);
}

// Queue the send of what is not sent yet of the echo, from the buffer the receive filled.
// MSG_NOSIGNAL, as for send() (stages/linux/common/send_all.h): else a send to a client that
// has reset raises SIGPIPE, which ends the process.
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
// A receive failed with ENOBUFS: every buffer of the ring was lent out, each holding an echo
// still being sent. Stage 08 cannot run out this way (each client owns its 4 KiB, idle or not).
// The client waits, with nothing in flight, until give_back() posts its receive again.
// But a buffer may have come back since the kernel failed this receive: give_back() may have
// run for a completion ahead of this one in the same batch, and found nobody waiting yet. Then
// the receive is posted again at once; parked, it could wait for a buffer that is free.
void wait_for_buffer(Worker& worker, Counters& counters, ClientContext* context) {
    if (worker.buffers.lent() < worker.buffers.count()) {
        post_recv(worker, *context);
        return;
    }
    ++counters.buffer_waits;
    if (!worker.said_dry) {
        worker.said_dry = true;
        net::log("worker ", worker.index, ": all ", worker.buffers.count(),
                 " receive buffers are lent out; clients wait for one (said once)");
    }
    worker.starved.push_back(context);
}

// The echo in `buffer` is sent (or never will be): back to the ring with it, and the client that
// has waited longest for one receives again.
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
// receive, the send of what arrived; after a send, the rest of it, or the next receive. `result`
// is the completion's res: bytes, or an error as a negative errno value ("io_uring never uses
// errno", io_uring_prep_accept(3)). Unlike stage 08 there is no second way in: every operation
// completes through the queue, even one done at once, and starting one cannot fail — a failure
// comes back as a completion. Once the ring is cancelled, nothing new is queued.
void handle_io(Worker& worker, ClientRegistry& registry, Counters& counters,
               ClientContext* context, int result, std::uint32_t flags) {
    if (!context->sending) {
        const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;  // which: in the flags
        if (has_buffer) context->buffer = worker.buffers.taken(flags);
        if (result > 0 && !worker.cancelled) {
            context->to_send = static_cast<std::uint32_t>(result);
            context->sent = 0;
            post_send(worker, *context);
            return;
        }
        if (result == -ENOBUFS && !worker.cancelled) {
            wait_for_buffer(worker, counters, context);
            return;
        }
        if (has_buffer) give_back(worker, context->buffer);
        // 0 is the FIN, and all it sent has been echoed already; else a reset, or our shutdown.
        finish(registry, counters, context, result == 0 ? "closed by the client" : "recv failed",
               result < 0 ? -result : 0);
        return;
    }
    if (result > 0) {
        context->sent += static_cast<std::uint32_t>(result);
        counters.bytes_echoed += static_cast<std::uint64_t>(result);
        // A send may complete with fewer bytes than asked: send the rest before receiving again.
        if (context->sent < context->to_send && !worker.cancelled) {
            post_send(worker, *context);
            return;
        }
    }
    give_back(worker, context->buffer);
    if (result <= 0) {  // a reset, a client gone, or our own cancellation at shutdown
        // After a failed send, closed with a reset: the bytes it never read go with it.
        finish(registry, counters, context, "send failed", -result, true);
    } else if (worker.cancelled) {
        finish(registry, counters, context, "server stopping");
    } else {
        post_recv(worker, *context);
    }
}
// ANCHOR_END: handle_io

// ANCHOR: acceptor
// Stage 08 keeps --accepts AcceptEx calls posted ahead, each with a socket made in advance.
// Here one multishot accept (Linux 5.19), submitted once, stays armed and completes once per
// connection, the new socket in res: the kernel makes it when the client comes, so there is no
// --accepts. A completion without IORING_CQE_F_MORE says it is armed no longer — it failed, or
// found the completion queue full — and it is armed again ("an accept is never lost"): at once,
// after a pause (a timeout operation), or never (the server has failed), by the rules of
// net::AcceptErrors. Each new client goes to a worker's ring in a message. All of it runs on
// main, on main's ring: no lock.
class Acceptor {
public:
    Acceptor(io_uring& ring, int listener, const net::BlockingSockets& blocking,
             WorkerPool& workers)
        : ring_(ring), listener_(listener), blocking_(blocking), workers_(workers) {}

    // main, once.
    void start() { arm(); }

    // main: submit what is queued, wait for a completion, handle all that came. A signal
    // interrupts the wait.
    void wait_and_handle() {
        submit_and_wait(ring_, "main");
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

    // Shutdown, first step: nothing is armed from now on, the accept and a pause are cancelled,
    // and this waits until all of main's ring has completed — the accept, the pause, and every
    // message with a new client: each is handed over then, ahead of what main sends next.
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

    // A new socket: to the next worker, in a message completing there with res = s. Closed
    // instead once stopping.
    void hand_off(int s) {
        if (stopping_) {
            ::close(s);
            return;
        }
        post_message(ring_, workers_.next_ring(), new_client_tag, s, message_data(s));
        ++handing_off_;
    }

    // The accept failed with `error` (net::AcceptErrors writes the line). True: arm it again
    // now; else the pause's completion will, or nothing will (failed()).
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
// A worker, with a connection main accepted and handed to its ring: what stage 08's worker does
// after its AcceptEx completed.
void handle_new_client(int s, Worker& worker, ClientRegistry& registry, Counters& counters,
                       unsigned max_clients) {
    net::UniqueFd accepted(s);
    // A multishot accept writes each client's address into the same buffer, which the next
    // connection overwrites before main reads it: ask the socket instead.
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
// operation on the ring (IORING_ASYNC_CANCEL_ANY, and _ALL: not just the first). The twin of
// stage 08's CancelIoEx on each socket, but an operation can be cancelled only through its own
// ring, so each worker cancels its own. Each cancelled receive or send completes (-ECANCELED)
// and handle_io frees its client; one that completed just before is in the queue already, and
// handle_io, seeing `cancelled`, queues nothing after it. Clients waiting for a buffer have
// nothing in flight: they are done now.
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
// Each worker: submit its ring's queue and wait for a completion — one system call for both —
// then handle every completion that came (until the submission queue has room for fewer than
// two: the rest wait a round), and again. Each is copied out and its slot given back at once.
// The user_data says what it is: a message from main (a new client, cancel, exit), or a
// client's receive or send. Where stage 08's workers tell apart four outcomes of
// GetQueuedCompletionStatus, here there is one: a completion, whose res says how it went.
void worker_loop(Worker& worker, ClientRegistry& registry, Counters& counters,
                 unsigned max_clients) {
    io_uring& ring = worker.ring.get();
    const std::string who = "worker " + std::to_string(worker.index);
    for (;;) {
        submit_and_wait(ring, who.c_str());
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
//   1. Stop accepting (Acceptor::stop): the accept is cancelled and main's ring drained, so
//      every message with a new client has been handed over.
//   2. End every client: none is created any more (ClientRegistry::close), and each worker's
//      ring gets a message (WorkerPool::cancel_all), behind the new clients already there; the
//      worker cancels all its ring holds, and queues nothing more.
//   3. Wait until the workers have freed every context: only then is nothing in flight, and no
//      buffer or address of ours the kernel's. The workers reap those completions, so they
//      must still be running.
//   4. One exit message per worker, and join them (WorkerPool::stop). Any earlier, and a
//      worker could return with completions of its clients still to come.
// main runs it after the main loop; the destructor runs it if main leaves by an exception,
// before ~WorkerPool (its threads closed their rings), ~ClientRegistry and main's ring.
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
    // One worker per processor but one: none ever waits on a client, so more would only take
    // turns, and the last processor is left to the rest — main, the kernel's own network work,
    // and, on a machine that also runs the clients, the clients. A worker that shares its
    // processor with them loses it in mid-batch, and every client of its ring waits (measured
    // in notes/linux_08_io_uring.md). (Stage 08 keeps stage 07's twice the processors, to
    // compare the two fairly.)
    const unsigned processors = net::processor_count();
    unsigned workers = processors > 1 ? processors - 1 : 1;
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
        // accept then completes with EINVAL, waking main if the signal did not (EINTR), and one
        // armed later fails at once. The workers have the signals blocked; main tells them.
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c(blocking);
        // ANCHOR_END: ctrl_c

        // ANCHOR: descriptor_limit
        // One descriptor per client, as in every Linux twin: raise the limit, and refuse clients
        // before an accept would run out. Each ring is a descriptor too: the workers', main's.
        const unsigned fit = net::clients_within(net::raise_descriptor_limit(), workers + 1);
        if (max_clients > fit) {
            net::log("at most ", fit, " clients at once: the descriptor limit (ulimit -n)");
            max_clients = fit;
        }
        // ANCHOR_END: descriptor_limit

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;

        // ANCHOR: create_port
        // Main's ring: the accept, and the messages to the workers. Each worker makes its own
        // ring and buffers on its own thread; pool.start returns once every one exists.
        Ring main_ring(256);
        ClientRegistry registry(max_clients);
        Counters counters;
        WorkerPool pool(main_ring.get());
        Acceptor acceptor(main_ring.get(), listener.get(), blocking, pool);
        OrderlyShutdown orderly_shutdown(acceptor, registry, pool, counters);
        pool.start(workers, buffers,
                   [&](Worker& worker) { worker_loop(worker, registry, counters, max_clients); });
        // ANCHOR_END: create_port
        acceptor.start();
        net::log(workers, " workers, each with its own ring and ", buffers,
                 " receive buffers; one multishot accept on main's ring");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        // Main accepts and deals the clients out; the workers do the rest. Ctrl+C ends it.
        while (!blocking.stopping() && !acceptor.failed()) acceptor.wait_and_handle();
        // ANCHOR_END: main_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
        // ANCHOR_END: shutdown
        // On the way out, in reverse order of creation: the rings, then the listener.

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
