// bench/loadgen/loadgen.cpp — the benchmark's load generator, written with standalone asio and
// built natively for the host (Linux or Windows), so the same tool drives every server.
//
// Closed loop: N connections, each with exactly one message in flight — send `size` bytes,
// read the same bytes back, send again. After every connection has done one round trip and a
// warm-up, it measures for a while and reports, as one JSON line on stdout:
//   round trips per second, p50/p99/p99.9 latency, the worst round trip, fairness (the slowest
//   connection's share of the mean), the connections that completed no round trip in the
//   window, echo errors, and its own CPU use (to show that it is not the bottleneck).
// A round trip still in flight when the window ends counts in the latency figures with its age
// so far: a connection the server never answers shows as a round trip as long as the window
// (or longer), not as nothing. Dropping them would cap every percentile at warm-up + window and
// hide a starved connection.
// The warm-up lasts --warmup-ms and at least --warmup-round-trips round trips per connection on
// average (at most a minute): every connection starts its loop at the same moment, and a few
// round trips each spread them out, so that the window does not measure them in lockstep.
// Two lines on stdout mark the measured window, for whoever samples the server meanwhile:
//   "measure-start" and "measure-end".
//
//   loadgen --port P [--host H] --connections N --size S [--warmup-ms W] [--duration-ms D]
//           [--warmup-round-trips R] [--threads T]
//   loadgen --port P [--host H] --connect-rate K [--concurrency C]
//       opens K connections, C at a time, each doing connect -> 1-byte echo -> close, and
//       reports connections served per second.
#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/resource.h>
#endif

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

double cpu_seconds() {
#ifdef _WIN32
    FILETIME creation, exit, kernel, user;
    GetProcessTimes(GetCurrentProcess(), &creation, &exit, &kernel, &user);
    auto to_seconds = [](const FILETIME& t) {
        return ((static_cast<std::uint64_t>(t.dwHighDateTime) << 32) | t.dwLowDateTime) / 1e7;
    };
    return to_seconds(kernel) + to_seconds(user);
#else
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
#endif
}

struct Options {
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    int connections = 1;
    std::size_t size = 64;
    int warmup_ms = 500;
    int warmup_round_trips = 3;  // per connection, on average
    int duration_ms = 1500;
    int threads = 1;
    int connect_rate = 0;  // > 0: the connection setup mode
    int concurrency = 64;
};

enum Phase { warming_up = 0, measuring = 1, stopping = 2 };

// What one thread's connections record.
struct Tally {
    std::vector<std::uint64_t> samples_ns;  // round trips of the window, and those left in flight
    std::uint64_t errors = 0;
    std::uint64_t in_flight_at_end = 0;     // of samples_ns, the round trips the window cut short
};

// The end of the window, written by main before it sets the phase to `stopping`, so that a
// connection that sees `stopping` also sees the time its round trip was cut at.
struct WindowEnd {
    std::atomic<std::int64_t> ns{0};  // Clock's time since its epoch
    Clock::time_point get() const {
        return Clock::time_point(std::chrono::nanoseconds(ns.load(std::memory_order_acquire)));
    }
};

std::uint64_t elapsed_ns(Clock::duration d) {
    return static_cast<std::uint64_t>(
        std::max<long long>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(asio::io_context& io, std::size_t size, int index, const std::atomic<int>& phase,
               const WindowEnd& window_end, std::atomic<std::uint64_t>& completed, Tally& tally)
        : socket_(io), out_(size), in_(size), phase_(phase), window_end_(window_end),
          completed_(completed), tally_(tally) {
        for (std::size_t i = 0; i < size; ++i)
            out_[i] = static_cast<char>('a' + (static_cast<std::size_t>(index) + i) % 26);
        if (size > 0) out_[size - 1] = '\n';
    }

    // Connect, do one round trip, then report ready (the server has taken us).
    void start(const tcp::endpoint& endpoint, std::atomic<int>& ready, std::atomic<int>& failed) {
        auto self = shared_from_this();
        socket_.async_connect(endpoint, [this, self, &ready, &failed](std::error_code error) {
            if (error) {
                ++failed;
                return;
            }
            socket_.set_option(tcp::no_delay(true));
            round_trip([&ready] { ++ready; });
        });
    }

    void loop() {
        round_trip([this] { loop(); });
    }

    std::uint64_t measured = 0;  // round trips completed in the measured window

    // On the connection's own thread, after the window: a round trip still in flight counts
    // with its age at the window's end, and so does one whose answer came after the end (its
    // handler leaves it in flight), each once: close() runs once per connection.
    void close() {
        if (in_flight_) cut_short();
        std::error_code ignored;
        socket_.close(ignored);
    }

private:
    template <class Next>
    void round_trip(Next next) {
        auto self = shared_from_this();
        sent_at_ = Clock::now();
        in_flight_ = true;
        asio::async_write(
            socket_, asio::buffer(out_), [this, self, next](std::error_code error, std::size_t) {
                if (error) return;
                asio::async_read(
                    socket_, asio::buffer(in_),
                    [this, self, next](std::error_code read_error, std::size_t) {
                        if (read_error) return;
                        if (in_ != out_) ++tally_.errors;
                        const int phase = phase_.load(std::memory_order_acquire);
                        // Ended after the window: still in flight in it, counted by close().
                        if (phase == stopping) return;
                        in_flight_ = false;
                        completed_.fetch_add(1, std::memory_order_relaxed);
                        if (phase == measuring) {
                            tally_.samples_ns.push_back(elapsed_ns(Clock::now() - sent_at_));
                            ++measured;
                        }
                        next();
                    });
            });
    }

    void cut_short() {
        in_flight_ = false;
        tally_.samples_ns.push_back(elapsed_ns(window_end_.get() - sent_at_));
        ++tally_.in_flight_at_end;
    }

    tcp::socket socket_;
    std::vector<char> out_, in_;
    const std::atomic<int>& phase_;
    const WindowEnd& window_end_;
    std::atomic<std::uint64_t>& completed_;  // every thread's round trips, for the warm-up
    Tally& tally_;
    Clock::time_point sent_at_{};
    bool in_flight_ = false;
};

double percentile(const std::vector<std::uint64_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
    return sorted[index] / 1000.0;  // microseconds
}

int run_closed_loop(const Options& options) {
    const tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    std::atomic<int> phase{warming_up}, ready{0}, failed{0};
    std::atomic<std::uint64_t> completed{0};
    WindowEnd window_end;
    const int threads = std::max(1, options.threads);
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    std::vector<Tally> tallies(static_cast<std::size_t>(threads));
    std::vector<std::shared_ptr<Connection>> connections;
    for (int t = 0; t < threads; ++t) contexts.push_back(std::make_unique<asio::io_context>());

    // Connect in batches, so that the server's listen backlog never overflows (overflowing it
    // makes the client's SYNs wait for a one-second retransmission).
    const auto connect_started = Clock::now();
    std::vector<std::thread> runners;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (auto& io : contexts) guards.push_back(asio::make_work_guard(*io));
    for (auto& io : contexts) runners.emplace_back([&io] { io->run(); });
    const int batch = 200;
    for (int i = 0; i < options.connections; ++i) {
        const auto t = static_cast<std::size_t>(i % threads);
        auto connection =
            std::make_shared<Connection>(*contexts[t], options.size, i, phase, window_end,
                                         completed, tallies[t]);
        connections.push_back(connection);
        asio::post(*contexts[t], [connection, &endpoint, &ready, &failed] {
            connection->start(endpoint, ready, failed);
        });
        while (i + 1 - (ready + failed) >= batch)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    while (ready + failed < options.connections) {
        if (Clock::now() - connect_started > std::chrono::seconds(120)) {
            // The server takes no more clients (or never answers): report it, and leave.
            std::printf(
                "{\"mode\":\"closed-loop\",\"connections\":%d,\"size\":%zu,"
                "\"error\":\"only %d of %d connections completed a first round trip "
                "within 120 s\"}\n",
                options.connections, options.size, ready.load(), options.connections);
            std::fflush(stdout);
            std::_Exit(1);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const double connect_seconds =
        std::chrono::duration<double>(Clock::now() - connect_started).count();

    const auto warmup_started = Clock::now();
    const std::uint64_t completed_before = completed;
    for (std::size_t i = 0; i < connections.size(); ++i) {
        auto connection = connections[i];
        asio::post(*contexts[i % contexts.size()], [connection] { connection->loop(); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options.warmup_ms));
    const std::uint64_t warmup_wanted =
        static_cast<std::uint64_t>(options.warmup_round_trips) * connections.size();
    while (completed - completed_before < warmup_wanted &&
           Clock::now() - warmup_started < std::chrono::seconds(60))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double warmup_seconds =
        std::chrono::duration<double>(Clock::now() - warmup_started).count();
    const std::uint64_t warmup_round_trips = completed - completed_before;

    std::cout << "measure-start" << std::endl;
    const double cpu_before = cpu_seconds();
    const auto measure_started = Clock::now();
    phase = measuring;
    std::this_thread::sleep_for(std::chrono::milliseconds(options.duration_ms));
    const auto measure_ended = Clock::now();
    window_end.ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                            measure_ended.time_since_epoch()).count(),
                        std::memory_order_release);
    phase.store(stopping, std::memory_order_release);
    const double seconds = std::chrono::duration<double>(measure_ended - measure_started).count();
    const double cpu = cpu_seconds() - cpu_before;
    std::cout << "measure-end" << std::endl;

    // Close every socket on its own thread, which also counts its round trip still in flight.
    for (std::size_t i = 0; i < connections.size(); ++i) {
        auto connection = connections[i];
        asio::post(*contexts[i % contexts.size()], [connection] { connection->close(); });
    }
    guards.clear();
    for (std::thread& runner : runners) runner.join();

    std::vector<std::uint64_t> samples;
    std::uint64_t errors = 0, in_flight_at_end = 0;
    for (const Tally& tally : tallies) {
        samples.insert(samples.end(), tally.samples_ns.begin(), tally.samples_ns.end());
        errors += tally.errors;
        in_flight_at_end += tally.in_flight_at_end;
    }
    std::sort(samples.begin(), samples.end());
    std::uint64_t least = UINT64_MAX, total = 0;
    int starved = 0;  // connections that completed no round trip in the window
    for (const auto& connection : connections) {
        least = std::min(least, connection->measured);
        total += connection->measured;
        if (connection->measured == 0) ++starved;
    }
    const double mean = connections.empty() ? 0 : static_cast<double>(total) / connections.size();
    const double fairness = mean > 0 ? static_cast<double>(least) / mean : 0;
    const double worst_us = samples.empty() ? 0 : samples.back() / 1000.0;

    // The rate counts completed round trips only; the percentiles count the cut ones too.
    std::printf(
        "{\"mode\":\"closed-loop\",\"connections\":%d,\"size\":%zu,\"failed_connects\":%d,"
        "\"connect_seconds\":%.3f,\"warmup_seconds\":%.3f,\"warmup_round_trips\":%llu,"
        "\"seconds\":%.3f,\"round_trips\":%llu,\"rate\":%.1f,\"in_flight_at_end\":%llu,"
        "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"worst_us\":%.1f,"
        "\"fairness\":%.3f,\"starved\":%d,\"errors\":%llu,\"loadgen_cpu\":%.3f}\n",
        options.connections, options.size, failed.load(), connect_seconds, warmup_seconds,
        static_cast<unsigned long long>(warmup_round_trips), seconds,
        static_cast<unsigned long long>(total), total / seconds,
        static_cast<unsigned long long>(in_flight_at_end), percentile(samples, 0.50),
        percentile(samples, 0.99), percentile(samples, 0.999), worst_us, fairness, starved,
        static_cast<unsigned long long>(errors), cpu / seconds);
    return failed > 0 ? 1 : 0;
}

// Connection setup: connect, echo one byte, close — `concurrency` of them at a time.
class SetupSlot : public std::enable_shared_from_this<SetupSlot> {
public:
    SetupSlot(asio::io_context& io, const tcp::endpoint& endpoint, std::atomic<int>& remaining,
              std::atomic<int>& done, std::atomic<int>& failed)
        : io_(io), endpoint_(endpoint), remaining_(remaining), done_(done), failed_(failed) {}

    void next() {
        if (remaining_.fetch_sub(1) <= 0) return;
        auto self = shared_from_this();
        socket_ = std::make_unique<tcp::socket>(io_);
        socket_->async_connect(endpoint_, [this, self](std::error_code error) {
            if (error) return fail();
            asio::async_write(
                *socket_, asio::buffer(byte_, 1), [this, self](std::error_code e, std::size_t) {
                    if (e) return fail();
                    asio::async_read(*socket_, asio::buffer(byte_, 1),
                                     [this, self](std::error_code read_error, std::size_t) {
                                         if (read_error) return fail();
                                         ++done_;
                                         socket_->close();
                                         next();
                                     });
                });
        });
    }

private:
    void fail() {
        ++failed_;
        next();
    }

    asio::io_context& io_;
    const tcp::endpoint& endpoint_;
    std::atomic<int>& remaining_;
    std::atomic<int>& done_;
    std::atomic<int>& failed_;
    std::unique_ptr<tcp::socket> socket_;
    char byte_[1] = {'x'};
};

int run_connect_rate(const Options& options) {
    asio::io_context io;
    const tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    std::atomic<int> remaining{options.connect_rate}, done{0}, failed{0};
    std::vector<std::shared_ptr<SetupSlot>> slots;
    for (int i = 0; i < options.concurrency; ++i)
        slots.push_back(std::make_shared<SetupSlot>(io, endpoint, remaining, done, failed));
    const double cpu_before = cpu_seconds();
    const auto started = Clock::now();
    for (auto& slot : slots) slot->next();
    io.run();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::printf(
        "{\"mode\":\"connect-rate\",\"connections\":%d,\"concurrency\":%d,\"served\":%d,"
        "\"failed\":%d,\"seconds\":%.3f,\"rate\":%.1f,\"loadgen_cpu\":%.3f}\n",
        options.connect_rate, options.concurrency, done.load(), failed.load(), seconds,
        done / seconds, (cpu_seconds() - cpu_before) / seconds);
    return failed > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char* argv[]) {
    Options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i];
        const char* value = argv[i + 1];
        if (name == "--host")
            options.host = value;
        else if (name == "--port")
            options.port = static_cast<unsigned short>(std::atoi(value));
        else if (name == "--connections")
            options.connections = std::atoi(value);
        else if (name == "--size")
            options.size = static_cast<std::size_t>(std::atoll(value));
        else if (name == "--warmup-ms")
            options.warmup_ms = std::atoi(value);
        else if (name == "--duration-ms")
            options.duration_ms = std::atoi(value);
        else if (name == "--warmup-round-trips")
            options.warmup_round_trips = std::atoi(value);
        else if (name == "--threads")
            options.threads = std::atoi(value);
        else if (name == "--connect-rate")
            options.connect_rate = std::atoi(value);
        else if (name == "--concurrency")
            options.concurrency = std::atoi(value);
        else {
            std::cerr << "loadgen: unknown option " << name << "\n";
            return 2;
        }
    }
    if (options.port == 0 || options.connections < 1 || options.size < 1) {
        std::cerr << "usage: loadgen --port P [--host H] --connections N --size S "
                     "[--warmup-ms W] [--duration-ms D] [--warmup-round-trips R] "
                     "[--threads T]\n"
                     "       loadgen --port P [--host H] --connect-rate K [--concurrency C]\n";
        return 2;
    }
    try {
        return options.connect_rate > 0 ? run_connect_rate(options) : run_closed_loop(options);
    } catch (const std::exception& error) {
        std::cerr << "loadgen: " << error.what() << "\n";
        return 1;
    }
}
