// tests/unit/linux/uring_no_worker_ring.cpp — a fault for the io_uring twin's tests, not a unit
// test.
//
// Loaded with LD_PRELOAD, it stands in front of liburing's io_uring_queue_init_params: the third
// ring the process makes fails with -ENOMEM, as when the kernel cannot allocate its queues;
// every other ring is made. Main makes its own ring first, then each worker makes its own on its
// thread, so with three workers two have a ring and are running and one (whichever comes
// second) has none. tests/clients/test_linux.py uses it to show that the server then stops the
// workers that run and exits 1 with the reason, before it says "listening on".
#include <liburing.h>

#include <dlfcn.h>

#include <atomic>
#include <cerrno>

extern "C" int io_uring_queue_init_params(unsigned entries, struct io_uring* ring,
                                          struct io_uring_params* params) {
    using Real = int (*)(unsigned, struct io_uring*, struct io_uring_params*);
    static const Real real =
        reinterpret_cast<Real>(dlsym(RTLD_NEXT, "io_uring_queue_init_params"));
    static std::atomic<unsigned> calls{0};
    if (++calls == 3) return -ENOMEM;
    return real(entries, ring, params);
}
