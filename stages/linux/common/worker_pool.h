// stages/linux/common/worker_pool.h — the threads that wait on an epoll set, and how they end.
#pragma once

#include "stages/linux/common/ctrl_c.h"
#include "stages/linux/common/sockets.h"

#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace net {

// ANCHOR: worker_pool
// The twin of common/worker_pool.h. There, each worker ends when it dequeues an exit packet,
// one per worker. An epoll set has no packets to post; what it has is readiness: the pool owns
// an eventfd (a kernel counter that is "readable" while it is not 0), adds it to the epoll set
// the workers wait on — level-triggered, with data.ptr null, the twin of an exit packet's null
// OVERLAPPED — and stop() writes 1 to it and never reads it back. It stays readable for good,
// so every worker's epoll_wait() reports it, the one that is waiting now and every later one,
// and each worker, seeing it, returns. Then stop() joins them.
//
// The threads are started with SIGINT and SIGTERM blocked (net::CtrlCBlocked, which they
// inherit): the handler must never run on a worker (blocking_sockets.h says why), and a worker's
// epoll_wait() or send() is never interrupted with EINTR.
class WorkerPool {
public:
    template <class Work>
    WorkerPool(int epoll, unsigned count, Work work) : stop_event_(::eventfd(0, EFD_CLOEXEC)) {
        if (!stop_event_) throw std::system_error(errno, std::generic_category(), "eventfd");
        epoll_event stop_event{};
        stop_event.events = EPOLLIN;
        stop_event.data.ptr = nullptr;
        if (::epoll_ctl(epoll, EPOLL_CTL_ADD, stop_event_.get(), &stop_event) != 0)
            throw std::system_error(errno, std::generic_category(), "epoll_ctl(stop event)");
        const CtrlCBlocked blocked_while_starting;
        try {
            for (unsigned i = 0; i < count; ++i) threads_.emplace_back(work);
        } catch (...) {
            stop();
            throw;
        }
    }
    ~WorkerPool() { stop(); }
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void stop() {
        const std::uint64_t one = 1;
        if (!threads_.empty() && ::write(stop_event_.get(), &one, sizeof one) != sizeof one)
            std::terminate();  // cannot happen to an eventfd of ours; joining would hang
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

private:
    UniqueFd stop_event_;
    std::vector<std::thread> threads_;
};
// ANCHOR_END: worker_pool

// The processors this program may run on: its CPU affinity mask, which taskset and container
// limits narrow — the twin of GetActiveProcessorCount(ALL_PROCESSOR_GROUPS).
inline unsigned processor_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return static_cast<unsigned>(CPU_COUNT(&set));
    const unsigned hinted = std::thread::hardware_concurrency();
    return hinted > 0 ? hinted : 1;
}

}  // namespace net
