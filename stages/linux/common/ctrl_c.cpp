#include "stages/linux/common/ctrl_c.h"

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace net {

namespace {

// The one global, and why it must be global: a signal handler gets the signal number and
// nothing of ours, so it can reach what to stop only through a static. Atomic and lock-free,
// as everything a handler touches must be.
std::atomic<BlockingSockets*> g_blocking{nullptr};

// ANCHOR: signal_handler
extern "C" void on_ctrl_c(int) {
    // errno is saved and put back (stop_all() does it): the code this handler interrupted may be
    // about to read errno — the EINTR of its call — and shutdown() may overwrite it.
    if (BlockingSockets* blocking = g_blocking.load()) blocking->stop_all();
}
// ANCHOR_END: signal_handler

sigset_t ctrl_c_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    return signals;
}

}  // namespace

CtrlCHandler::CtrlCHandler(BlockingSockets& blocking) {
    BlockingSockets* none = nullptr;
    if (!g_blocking.compare_exchange_strong(none, &blocking))
        throw std::logic_error("only one CtrlCHandler may exist at a time");
    // ANCHOR: sigaction
    struct sigaction action {};
    action.sa_handler = on_ctrl_c;
    action.sa_flags = static_cast<int>(SA_RESETHAND);  // and no SA_RESTART: see ctrl_c.h
    // While the handler runs, the other signal waits: stop_all() is not run twice at once.
    action.sa_mask = ctrl_c_signals();
    if (sigaction(SIGINT, &action, &previous_int_) != 0 ||
        sigaction(SIGTERM, &action, &previous_term_) != 0) {
        g_blocking.store(nullptr);
        throw std::runtime_error(std::string("sigaction failed: ") + std::strerror(errno));
    }
    // ANCHOR_END: sigaction
}

CtrlCHandler::~CtrlCHandler() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
    g_blocking.store(nullptr);
}

CtrlCBlocked::CtrlCBlocked() {
    const sigset_t signals = ctrl_c_signals();
    // pthread_sigmask, not sigprocmask: the mask is per thread, and sigprocmask's behaviour in a
    // program with threads is unspecified by POSIX.
    if (const int error = pthread_sigmask(SIG_BLOCK, &signals, &previous_))
        throw std::runtime_error(std::string("pthread_sigmask failed: ") + std::strerror(error));
    wait_mask_ = previous_;
    sigdelset(&wait_mask_, SIGINT);
    sigdelset(&wait_mask_, SIGTERM);
}

CtrlCBlocked::~CtrlCBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

}  // namespace net
