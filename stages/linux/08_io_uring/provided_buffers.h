// stages/linux/08_io_uring/provided_buffers.h — the receive buffers a ring lends to the kernel,
// to be picked when data arrives.
//
// The Linux twin of stage 08 is main.cpp; this piece lives in a header of its own only so that
// the unit tests (tests/unit/linux/test_provided_buffers.cpp) can check its bookkeeping against
// a real ring, without a server. Read main.cpp first.
#pragma once

#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

namespace stage08_io_uring {

constexpr unsigned buffer_size = 4096;

// ANCHOR: provided_buffers
// Stage 08 gives each client a 4 KiB buffer of its own, because an overlapped WSARecv names its
// buffer when it is posted: from then on the buffer is the kernel's, for as long as the client
// stays silent. Here a receive names a buffer *group* instead (IOSQE_BUFFER_SELECT): each time
// the kernel tries the receive it takes a buffer out of that group, and puts it back when no
// bytes are there, so a receive keeps one only once bytes have arrived. An idle client holds none.
//
// The group is a ring shared with the kernel (io_uring_register_buf_ring, Linux 5.19): we add
// buffers at its tail, the kernel takes them from its head, one per completed receive, and says
// which one in the completion (IORING_CQE_F_BUFFER, and the buffer's id in cqe->flags). The
// buffer is then ours — here, until the echo of what it holds has been sent — and give_back()
// puts it at the tail again. A receive tried while every buffer is lent out fails at once with
// ENOBUFS, bytes or not: the program decides what to do then (main.cpp: the client waits).
//
// Debian 12's liburing (2.3) has no io_uring_setup_buf_ring (2.4), so the ring is set up by
// hand: page-aligned memory for the ring, io_uring_buf_ring_init, io_uring_register_buf_ring.
// One object per io_uring, used by the thread that owns that ring only: nothing here is locked.
class ProvidedBuffers {
public:
    // `count` buffers of buffer_size bytes for `ring`, as buffer group `group`. The kernel wants
    // a power of two, at most 32,768.
    ProvidedBuffers(io_uring& ring, unsigned count, std::uint16_t group)
        : ring_(ring), count_(count), group_(group) {
        if (count == 0 || count > 32768 || (count & (count - 1)) != 0)
            throw std::invalid_argument("the number of provided buffers must be a power of two "
                                        "from 1 to 32768, not " + std::to_string(count));
        // The buffers, zeroed, and so resident from the start: the kernel takes them in ring
        // order, so a busy server soon has written into every one anyway. count × 4 KiB is the
        // pool's weight whatever the number of clients, and it shows when the server starts,
        // not spread over its first thousand echoes.
        memory_ = std::make_unique<char[]>(static_cast<std::size_t>(count) * buffer_size);
        // The ring itself: one io_uring_buf of 16 bytes per buffer, on whole pages (mmap gives
        // page-aligned, zeroed memory).
        const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        ring_bytes_ = (count * sizeof(io_uring_buf) + page - 1) / page * page;
        void* memory = ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED)
            throw std::system_error(errno, std::generic_category(), "mmap (buffer ring)");
        entries_ = static_cast<io_uring_buf_ring*>(memory);
        io_uring_buf_ring_init(entries_);
        io_uring_buf_reg registration{};
        registration.ring_addr = reinterpret_cast<std::uintptr_t>(entries_);
        registration.ring_entries = count;
        registration.bgid = group;
        if (const int error = io_uring_register_buf_ring(&ring_, &registration, 0); error < 0) {
            ::munmap(entries_, ring_bytes_);
            // A kernel older than 5.19 does not know the request: EINVAL. Say what it lacks.
            throw std::system_error(-error, std::generic_category(),
                                    error == -EINVAL
                                        ? "io_uring_register_buf_ring (Linux 5.19 or later?)"
                                        : "io_uring_register_buf_ring");
        }
        for (unsigned id = 0; id < count; ++id)
            io_uring_buf_ring_add(entries_, data(static_cast<std::uint16_t>(id)), buffer_size,
                                  static_cast<std::uint16_t>(id), mask(), static_cast<int>(id));
        io_uring_buf_ring_advance(entries_, static_cast<int>(count));
    }
    ~ProvidedBuffers() {
        io_uring_unregister_buf_ring(&ring_, group_);
        ::munmap(entries_, ring_bytes_);
    }
    ProvidedBuffers(const ProvidedBuffers&) = delete;
    ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;

    // The buffer a completion says the kernel filled (cqe->flags has IORING_CQE_F_BUFFER), now
    // lent to us: its id.
    std::uint16_t taken(std::uint32_t cqe_flags) {
        ++lent_;
        return static_cast<std::uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    }

    char* data(std::uint16_t id) { return memory_.get() + std::size_t{id} * buffer_size; }

    // We are done with buffer `id`: the kernel may pick it for a later receive. Each buffer
    // taken is given back exactly once.
    void give_back(std::uint16_t id) {
        io_uring_buf_ring_add(entries_, data(id), buffer_size, id, mask(), 0);
        io_uring_buf_ring_advance(entries_, 1);
        --lent_;
    }

    unsigned count() const { return count_; }
    std::uint16_t group() const { return group_; }
    // Taken and not given back: the buffers that hold an echo not yet sent.
    unsigned lent() const { return lent_; }

private:
    int mask() const { return io_uring_buf_ring_mask(count_); }

    io_uring& ring_;
    const unsigned count_;
    const std::uint16_t group_;
    std::size_t ring_bytes_ = 0;
    io_uring_buf_ring* entries_ = nullptr;  // shared with the kernel
    std::unique_ptr<char[]> memory_;        // count_ × buffer_size bytes
    unsigned lent_ = 0;
};
// ANCHOR_END: provided_buffers

}  // namespace stage08_io_uring
