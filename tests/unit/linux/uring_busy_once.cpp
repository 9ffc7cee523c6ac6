// tests/unit/linux/uring_busy_once.cpp — a fault for the io_uring twin's tests, not a unit test.
//
// Loaded with LD_PRELOAD, it stands in front of liburing's io_uring_submit_and_wait: the first
// call made by the process's main thread fails with -EBUSY and submits nothing; every other
// call goes to liburing. io_uring_enter(2) documents EBUSY ("the completion queue is full and
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
    static std::atomic<bool> failed_once{false};
    if (gettid() == getpid() && !failed_once.exchange(true)) return -EBUSY;
    return real(ring, wait_nr);
}
