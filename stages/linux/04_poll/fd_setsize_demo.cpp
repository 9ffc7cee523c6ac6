// stages/linux/04_poll/fd_setsize_demo.cpp — what FD_SET does with descriptor 1024 on Linux.
//
// Not a stage: a demonstration for notes/linux_04_poll.md, built twice by CMake and run by
// tests/clients/test_linux.py.
//
// A server with more than about a thousand connections holds descriptors numbered 1024 and up.
// An fd_set on Linux is a bitmap of FD_SETSIZE = 1024 bits, indexed by the descriptor's number,
// and "executing FD_CLR() or FD_SET() with a value of fd that is negative or is equal to or
// larger than FD_SETSIZE will result in undefined behavior" (select(2)). This program gets such
// a descriptor (a socket, as a server would), and puts it in an fd_set that is followed in
// memory by a guard word of its own, all zeros:
//
//   fd_setsize_demo            built -O2 -D_FORTIFY_SOURCE=2: glibc checks FD_SET's argument
//                              and ends the program with "*** bit out of range 0 - FD_SETSIZE
//                              on fd_set ***: terminated" (SIGABRT, exit status 134 in a shell)
//   fd_setsize_demo_unchecked  built -O0 without fortification: nothing checks, and the bit is
//                              set in the guard word — memory that is not the set's. In a real
//                              program that word would be another variable, or a return
//                              address; here it is ours, so the demonstration itself is safe.
//
// Either way a select() server cannot serve that client: one ends, the other corrupts itself.
// poll() and epoll take descriptors of any value.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

namespace {

// The fd_set and, right after it, the word it must never touch. A standard-layout struct keeps
// them in this order; fd_set's size (128 bytes) is a multiple of the word's, so no padding comes
// between them.
struct GuardedSet {
    fd_set set;
    unsigned long guard;
};

// The lowest descriptor numbered at least `wanted`: a socket moved there with fcntl(F_DUPFD),
// as if the program already had that many open. Raises the soft descriptor limit if needed.
int descriptor_at_least(int wanted) {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    const rlim_t needed = static_cast<rlim_t>(wanted) + 16;
    if (limit.rlim_cur < needed && limit.rlim_max >= needed) {
        limit.rlim_cur = needed;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    const int high = fcntl(s, F_DUPFD, wanted);
    close(s);
    return high;
}

}  // namespace

int main() {
    const int fd = descriptor_at_least(FD_SETSIZE);  // 1024: the first one select() cannot take
    if (fd < 0) {
        std::perror("cannot get a descriptor numbered 1024 or more");
        return 2;
    }
    GuardedSet guarded{};
    FD_ZERO(&guarded.set);
    std::printf("FD_SETSIZE is %d; putting descriptor %d in an fd_set\n", FD_SETSIZE, fd);
    std::fflush(stdout);
    FD_SET(fd, &guarded.set);  // undefined behaviour: what this program demonstrates
    std::printf("FD_SET returned; the guard word after the set is now 0x%lx (it was 0)\n",
                guarded.guard);
    close(fd);
    return 0;
}
