// common/client_threads.h — one thread per client, and every one of them joined.
//
// Stage 02 introduces it (see notes/02_thread_per_client.md); stage 03 uses it as is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace net {

// ANCHOR: client_threads
// Every client thread, so that every one is joined. A thread that has returned from its
// function still holds its kernel object (the std::thread holds its handle) until join(), so
// a server that never joined would leak one per client; detach() would let a thread outlive
// main and touch what main has already destroyed. Finished threads report here and main joins
// them before taking the next client; join_all() waits for the rest at shutdown.
class ClientThreads {
public:
    // Throws (std::system_error: no thread; std::bad_alloc) with nothing started.
    template <class Work>
    void start(Work work) {
        std::lock_guard<std::mutex> lock(mutex_);
        const std::uint64_t key = next_key_++;
        // The slot first, then the thread: were the map to fail for memory after the thread
        // was running, the unjoined std::thread would be destroyed, and that is std::terminate.
        std::thread& slot = running_[key];
        try {
            slot = std::thread([this, key, work = std::move(work)]() mutable {
                work();
                std::lock_guard<std::mutex> finished_lock(mutex_);
                finished_.push_back(key);
            });
        } catch (...) {
            running_.erase(key);
            throw;
        }
    }

    // Joins the threads that have finished; they are returning, so this does not wait long.
    void join_finished() {
        std::vector<std::thread> done;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (std::uint64_t key : finished_) {
                done.push_back(std::move(running_.at(key)));
                running_.erase(key);
            }
            finished_.clear();
        }
        for (std::thread& thread : done) thread.join();  // outside the lock: they need it to finish
    }

    ~ClientThreads() { join_all(); }

    // Threads started and not yet joined (running, or finished and waiting for main).
    std::size_t unjoined() {
        std::lock_guard<std::mutex> lock(mutex_);
        return running_.size();
    }

    // Waits for every thread; call only once nothing can start new ones.
    void join_all() {
        std::map<std::uint64_t, std::thread> all;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            all.swap(running_);
            finished_.clear();
        }
        for (auto& entry : all) entry.second.join();
    }

private:
    std::mutex mutex_;
    std::uint64_t next_key_ = 0;
    std::map<std::uint64_t, std::thread> running_;
    std::vector<std::uint64_t> finished_;
};
// ANCHOR_END: client_threads

}  // namespace net
