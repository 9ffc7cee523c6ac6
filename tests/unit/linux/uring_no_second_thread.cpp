// tests/unit/linux/uring_no_second_thread.cpp — a fault for the io_uring twin's tests, not a unit
// test.
//
// Loaded with LD_PRELOAD, it stands in front of pthread_create and io_uring_queue_init_params:
// the second thread the process starts is refused with EAGAIN (as when RLIMIT_NPROC is reached),
// and every ring made on a thread other than main's is made 300 ms late. In the io_uring twin
// the first worker is then still making its ring when starting the second fails — the moment
// when main must wait to hear from the first before it gives up, or its shutdown would not know
// that worker's ring and would wait for ever to join it. tests/clients/test_linux.py uses it.
#include <liburing.h>
#include <pthread.h>

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attributes,
                              void* (*start)(void*), void* argument) {
    using Real = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
    static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "pthread_create"));
    static std::atomic<unsigned> calls{0};
    if (++calls == 2) return EAGAIN;
    return real(thread, attributes, start, argument);
}

extern "C" int io_uring_queue_init_params(unsigned entries, struct io_uring* ring,
                                          struct io_uring_params* params) {
    using Real = int (*)(unsigned, struct io_uring*, struct io_uring_params*);
    static const Real real =
        reinterpret_cast<Real>(dlsym(RTLD_NEXT, "io_uring_queue_init_params"));
    if (gettid() != getpid()) usleep(300 * 1000);
    return real(entries, ring, params);
}
