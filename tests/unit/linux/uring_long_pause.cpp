// tests/unit/linux/uring_long_pause.cpp — a fault for the io_uring twin's tests, not a unit test.
//
// Loaded with LD_PRELOAD, it stands in front of liburing's io_uring_submit_and_wait and, before
// the real call, stretches every timeout operation queued on the ring to an hour: it rewrites
// the __kernel_timespec the entry points to, which the kernel reads only when it takes the
// entry. The twin's one timeout is the accept's pause after EMFILE (10 ms to 1 s), so with this
// a pause outlasts any test: a server that waits for its pause to end at Ctrl+C, instead of
// cancelling it, hangs, where one that cancels it exits as it would without the fault.
// tests/clients/test_linux.py uses it to show that Acceptor::stop cancels the pause.
#include <liburing.h>

#include <dlfcn.h>

extern "C" int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
    using Real = int (*)(struct io_uring*, unsigned);
    static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "io_uring_submit_and_wait"));
    // The entries queued and not yet handed to the kernel: from sqe_head to sqe_tail.
    for (unsigned i = ring->sq.sqe_head; i != ring->sq.sqe_tail; ++i) {
        io_uring_sqe* sqe = &ring->sq.sqes[i & ring->sq.ring_mask];
        if (sqe->opcode != IORING_OP_TIMEOUT) continue;
        auto* pause = reinterpret_cast<__kernel_timespec*>(sqe->addr);
        pause->tv_sec = 3600;
        pause->tv_nsec = 0;
    }
    return real(ring, wait_nr);
}
