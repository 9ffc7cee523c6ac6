// stages/linux/08_io_uring/ring.h — the owner of one io_uring.
//
// Used by the Linux twin of stage 08 (main.cpp) and by its unit tests. Nothing here is a lesson
// of its own: it sets a ring up, and takes it down exactly once.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <system_error>

namespace stage08_io_uring {

// ANCHOR: ring
// Owns one io_uring: its two queues, shared with the kernel, and the descriptor that names it.
// The completion queue is larger than the default (twice the submissions): with an operation in
// flight per client, a burst can complete more at once. None is lost when it is full (the kernel
// keeps the excess: IORING_FEAT_NODROP, Linux 5.5), but a multishot accept ends then (main.cpp,
// Acceptor).
//
// Made, used and closed by one thread, and the kernel is told so:
//   - IORING_SETUP_SINGLE_ISSUER (Linux 6.0): only the thread that made the ring submits to it,
//     registers buffers with it or waits on it (another gets EEXIST), and the kernel can take
//     the shortcuts that this allows.
//   - IORING_SETUP_DEFER_TASKRUN (Linux 6.1; needs SINGLE_ISSUER): a receive completes as work
//     queued for the ring's thread ("task work"). By default the kernel interrupts that thread to
//     run it, from whichever processor the data came in on, and runs it at the end of any system
//     call; COOP_TASKRUN, which this twin had first, drops the interrupt only. With DEFER_TASKRUN
//     the work waits until the thread asks for completions (io_uring_enter with
//     IORING_ENTER_GETEVENTS) and runs then, in one batch; each loop here asks for every batch
//     anyway (io_uring_submit_and_wait), so nothing waits longer.
class Ring {
public:
    explicit Ring(unsigned entries, unsigned completion_entries = 4096) {
        io_uring_params params{};
        params.flags =
            IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        params.cq_entries = completion_entries;
        // A kernel older than 6.1 does not know DEFER_TASKRUN: EINVAL. Say what it lacks.
        if (const int error = io_uring_queue_init_params(entries, &ring_, &params); error < 0)
            throw std::system_error(-error, std::generic_category(),
                                    error == -EINVAL ? "io_uring_queue_init (Linux 6.1 or later?)"
                                                     : "io_uring_queue_init");
    }
    // Unmaps the queues and closes the ring; the kernel would cancel what is still in flight
    // later, on its own time. Not a safety net: an operation's buffer or context may be freed
    // only after its completion, so the owner of a ring empties it first (OrderlyShutdown).
    ~Ring() { io_uring_queue_exit(&ring_); }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    io_uring& get() { return ring_; }
    int fd() const { return ring_.ring_fd; }

private:
    io_uring ring_{};
};
// ANCHOR_END: ring

}  // namespace stage08_io_uring
