// The receive buffers of the Linux twin of stage 08 (stages/linux/08_io_uring/provided_buffers.h),
// against a real ring over loopback: a receive takes a buffer only when bytes arrive, the
// completion says which, a ring with every buffer lent out fails the next receive with ENOBUFS,
// and a buffer given back is used again. Then what main.cpp relies on the kernel for at
// shutdown and for handing clients over: one request cancels every receive of a ring, and a
// message to another ring arrives there as a completion, in the order sent.
#include "stages/linux/08_io_uring/provided_buffers.h"
#include "stages/linux/08_io_uring/ring.h"

#include "support.h"

#include "catch.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using stage08_io_uring::buffer_size;
using stage08_io_uring::ProvidedBuffers;
using stage08_io_uring::Ring;

namespace {

// Both ends of a loopback TCP connection.
struct Pair {
    net::UniqueFd client, served;
};

Pair connected_pair(int listener) {
    Pair pair;
    pair.client = test::connect_to(test::port_of(listener));
    pair.served = net::UniqueFd(::accept(listener, nullptr, nullptr));
    return pair;
}

// As main.cpp's post_recv: up to buffer_size bytes into a buffer of `buffers`' group.
void post_recv(io_uring& ring, const ProvidedBuffers& buffers, int s, std::uint64_t data) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv(sqe, s, nullptr, buffer_size, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers.group();
    io_uring_sqe_set_data64(sqe, data);
    REQUIRE(io_uring_submit(&ring) == 1);
}

struct Completion {
    std::uint64_t data;
    int result;
    std::uint32_t flags;
};

Completion next_completion(io_uring& ring) {
    io_uring_cqe* cqe = nullptr;
    REQUIRE(io_uring_wait_cqe(&ring, &cqe) == 0);
    const Completion completion{cqe->user_data, cqe->res, cqe->flags};
    io_uring_cqe_seen(&ring, cqe);
    return completion;
}

// Whether a completion is waiting, after a moment for the kernel to post one.
bool completion_waiting(io_uring& ring) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec moment{0, 100 * 1000 * 1000};
    return io_uring_wait_cqe_timeout(&ring, &cqe, &moment) == 0;
}

}  // namespace

TEST_CASE("a receive takes a buffer only when bytes arrive, and the completion names it",
          "[provided_buffers]") {
    Ring ring(64);
    ProvidedBuffers buffers(ring.get(), 1, 7);  // one buffer: whoever gets it, the other has none
    const net::UniqueFd listener = test::loopback_listener();
    Pair idle = connected_pair(listener.get());
    Pair talking = connected_pair(listener.get());

    post_recv(ring.get(), buffers, idle.served.get(), 1);
    CHECK_FALSE(completion_waiting(ring.get()));  // nothing arrived: pending, holding no buffer
    post_recv(ring.get(), buffers, talking.served.get(), 2);
    REQUIRE(::send(talking.client.get(), "hello", 5, 0) == 5);

    const Completion done = next_completion(ring.get());
    CHECK(done.data == 2);  // the talking client's, though the idle one's receive came first
    REQUIRE(done.result == 5);
    REQUIRE((done.flags & IORING_CQE_F_BUFFER) != 0);
    const std::uint16_t id = buffers.taken(done.flags);
    CHECK(id == 0);
    CHECK(std::string(buffers.data(id), 5) == "hello");
    CHECK(buffers.lent() == 1);

    // The idle client speaks at last: its receive had not taken the only buffer, and gets it
    // once it is given back.
    buffers.give_back(id);
    CHECK(buffers.lent() == 0);
    REQUIRE(::send(idle.client.get(), "late", 4, 0) == 4);
    const Completion late = next_completion(ring.get());
    CHECK(late.data == 1);
    REQUIRE(late.result == 4);
    CHECK(std::string(buffers.data(buffers.taken(late.flags)), 4) == "late");
}

TEST_CASE("with every buffer lent out the next receive fails with ENOBUFS; given back, a buffer "
          "is used again",
          "[provided_buffers]") {
    Ring ring(64);
    ProvidedBuffers buffers(ring.get(), 2, 0);
    const net::UniqueFd listener = test::loopback_listener();
    std::vector<Pair> pairs;
    for (int i = 0; i < 3; ++i) {
        pairs.push_back(connected_pair(listener.get()));
        REQUIRE(::send(pairs.back().client.get(), "x", 1, 0) == 1);
    }
    std::vector<std::uint16_t> held;
    for (std::uint64_t i = 0; i < 2; ++i) {
        post_recv(ring.get(), buffers, pairs[i].served.get(), i);
        const Completion done = next_completion(ring.get());
        REQUIRE(done.result == 1);
        held.push_back(buffers.taken(done.flags));
    }
    CHECK(held[0] != held[1]);
    CHECK(buffers.lent() == 2);

    post_recv(ring.get(), buffers, pairs[2].served.get(), 2);
    const Completion dry = next_completion(ring.get());
    CHECK(dry.result == -ENOBUFS);
    CHECK((dry.flags & IORING_CQE_F_BUFFER) == 0);

    buffers.give_back(held[1]);
    post_recv(ring.get(), buffers, pairs[2].served.get(), 2);  // the byte is still there
    const Completion again = next_completion(ring.get());
    REQUIRE(again.result == 1);
    CHECK(buffers.taken(again.flags) == held[1]);
    CHECK(buffers.lent() == 2);
}

TEST_CASE("the number of buffers must be a power of two from 1 to 32768", "[provided_buffers]") {
    Ring ring(64);
    CHECK_THROWS_AS(ProvidedBuffers(ring.get(), 0, 0), std::invalid_argument);
    CHECK_THROWS_AS(ProvidedBuffers(ring.get(), 3, 0), std::invalid_argument);
    CHECK_THROWS_AS(ProvidedBuffers(ring.get(), 65536, 0), std::invalid_argument);
    CHECK_NOTHROW(ProvidedBuffers(ring.get(), 1, 0));
}

TEST_CASE("one cancel request with ANY and ALL ends every receive of the ring", "[io_uring]") {
    Ring ring(64);
    ProvidedBuffers buffers(ring.get(), 4, 0);
    const net::UniqueFd listener = test::loopback_listener();
    std::vector<Pair> pairs;
    for (std::uint64_t i = 0; i < 3; ++i) {
        pairs.push_back(connected_pair(listener.get()));
        post_recv(ring.get(), buffers, pairs.back().served.get(), 100 + i);
    }
    CHECK_FALSE(completion_waiting(ring.get()));

    io_uring_sqe* sqe = io_uring_get_sqe(&ring.get());
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, 1);
    REQUIRE(io_uring_submit(&ring.get()) == 1);
    int cancelled = 0;
    int cancel_result = 0;
    for (int i = 0; i < 4; ++i) {
        const Completion done = next_completion(ring.get());
        if (done.data == 1) {
            cancel_result = done.result;
        } else {
            CHECK(done.result == -ECANCELED);
            ++cancelled;
        }
    }
    CHECK(cancelled == 3);
    CHECK(cancel_result == 3);  // "a positive value ... how many requests were found"
    CHECK(buffers.lent() == 0);
}

TEST_CASE("a message to another ring arrives as a completion, with our data, in the order sent",
          "[io_uring]") {
    Ring from(64), to(64);
    for (unsigned value = 10; value < 13; ++value) {
        io_uring_sqe* sqe = io_uring_get_sqe(&from.get());
        io_uring_prep_msg_ring(sqe, to.fd(), value, 42, 0);
        io_uring_sqe_set_data64(sqe, value);
    }
    REQUIRE(io_uring_submit(&from.get()) == 3);
    for (unsigned value = 10; value < 13; ++value) {
        const Completion sent = next_completion(from.get());
        CHECK(sent.result == 0);  // handed over
        const Completion received = next_completion(to.get());
        CHECK(received.data == 42);
        CHECK(received.result == static_cast<int>(value));
    }
}

TEST_CASE("a ring takes submissions from the thread that made it only", "[io_uring]") {
    // ring.h's IORING_SETUP_SINGLE_ISSUER, which DEFER_TASKRUN needs: the kernel refuses another
    // thread's submission with EEXIST (io_uring_setup(2)). So main.cpp's workers make their
    // rings themselves; a ring made by main and used by a worker would fail its first submit.
    Ring ring(64);
    int from_other_thread = 0;
    std::thread other([&] {
        io_uring_prep_nop(io_uring_get_sqe(&ring.get()));
        from_other_thread = io_uring_submit(&ring.get());
    });
    other.join();
    CHECK(from_other_thread == -EEXIST);
    io_uring_prep_nop(io_uring_get_sqe(&ring.get()));  // and the entry the other thread queued
    CHECK(io_uring_submit(&ring.get()) == 2);
    CHECK(next_completion(ring.get()).result == 0);
    CHECK(next_completion(ring.get()).result == 0);
}

TEST_CASE("a message reaches a ring whose own thread waits on it", "[io_uring]") {
    // What main.cpp's hand-off asks of the kernel: main's ring messages a worker's ring, made
    // and waited on by the worker's thread. With DEFER_TASKRUN the message is work for that
    // thread, which it runs when it asks for completions: its wait must still end. (A check of
    // the kernel, not of our code: it passes with COOP_TASKRUN too.) The worker waits with a
    // timeout, so a lost message fails the test instead of hanging it, and the checks are made
    // here, on the test's thread, once the worker has been joined.
    std::promise<int> ring_made;
    std::future<int> target = ring_made.get_future();
    int waited = 1;
    Completion received{};
    std::thread worker([&] {
        Ring to(64);
        ring_made.set_value(to.fd());
        io_uring_cqe* cqe = nullptr;
        __kernel_timespec patience{5, 0};
        waited = io_uring_wait_cqe_timeout(&to.get(), &cqe, &patience);
        if (waited == 0) {
            received = {cqe->user_data, cqe->res, cqe->flags};
            io_uring_cqe_seen(&to.get(), cqe);
        }
    });
    Ring from(64);
    const int to_ring = target.get();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the worker is waiting by now
    io_uring_sqe* sqe = io_uring_get_sqe(&from.get());
    io_uring_prep_msg_ring(sqe, to_ring, 7, 42, 0);
    io_uring_sqe_set_data64(sqe, 1);
    const int submitted = io_uring_submit(&from.get());
    worker.join();
    REQUIRE(submitted == 1);
    CHECK(next_completion(from.get()).result == 0);  // handed over
    REQUIRE(waited == 0);
    CHECK(received.data == 42);
    CHECK(received.result == 7);
}
