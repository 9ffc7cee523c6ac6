// common/worker_pool.h — the threads that wait on a completion port, and how they end.
//
// Stage 05 teaches it (see notes/05_iocp_basics.md); stages 07 to 09 use it as it is.
#pragma once

#include "common/winsock.h"

#include <thread>
#include <vector>

namespace net {

// ANCHOR: worker_pool
// The workers, and how they end: one exit packet per worker — PostQueuedCompletionStatus(port,
// 0, 0, nullptr): completion key 0 and no OVERLAPPED, as in the original design
// (notes/00_the_design.md) — then join.
// Each exit packet stops exactly one worker, whichever takes it, so N packets stop N workers.
// The destructor does the same, so no std::thread is ever destroyed unjoined (which would
// call std::terminate) — not even when a thread cannot be started: the constructor then stops
// the ones already running and passes the error on.
class WorkerPool {
public:
    template <class Work>
    WorkerPool(HANDLE port, unsigned count, Work work) : port_(port) {
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
        for (std::size_t i = 0; i < threads_.size(); ++i)
            ::PostQueuedCompletionStatus(port_, 0, 0, nullptr);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

private:
    HANDLE port_;
    std::vector<std::thread> threads_;
};
// ANCHOR_END: worker_pool

// The processors of the machine, in every processor group: GetSystemInfo counts only the
// caller's group (at most 64 processors), and machines with more have several. (Before
// Windows 11 and Server 2022 a process's threads stay in one group unless it spreads them
// itself, so there the extra workers share the processors of that group.)
inline unsigned processor_count() {
    const DWORD count = ::GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    return count > 0 ? static_cast<unsigned>(count) : 1;
}

}  // namespace net
