// tests/unit/linux/uring_busy_once.cpp — a fault for the io_uring twin's tests, not a unit test.
//
// Loaded with LD_PRELOAD, it stands in front of liburing's io_uring_submit_and_wait: every
// other call made by the process's main thread (the first, the third, ...) fails with -EBUSY
// and submits nothing — while it accepts, and while it waits for its messages at shutdown;
// the other calls, and the workers' calls, go to liburing. io_uring_enter(2) documents EBUSY ("the completion queue is full and
// the overflowed completions could not be flushed"): the kernel asks the caller to reap first.
// tests/clients/test_linux.py uses it to show that main treats it as the workers do.
#include <liburing.h>

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

extern "C" int io_uring_submit_and_wait(struct io_uring* ring, unsigned wait_nr) {
    using Real = int (*)(struct io_uring*, unsigned);
    static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "io_uring_submit_and_wait"));
    static std::atomic<unsigned> calls{0};  // the main thread's
    if (gettid() == getpid() && calls++ % 2 == 0) return -EBUSY;
    return real(ring, wait_nr);
}
