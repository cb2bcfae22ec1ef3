#include "core/util/critical_section.h"

#include <pthread.h>
#include <time.h>

#include <initializer_list>

namespace pam_totp {

CriticalSection::CriticalSection() noexcept {
    // Every signal that can be held: whatever a caller can send, arrange
    // (SIGIO on a shared descriptor, its timers, SIGXCPU from its
    // RLIMIT_CPU) or time, none cuts a commit short. SIGKILL and SIGSTOP
    // remain (the kernel ignores them here).
    sigset_t block;
    ::sigfillset(&block);
    // pthread_sigmask: the PAM application may be threaded; only this
    // thread's mask changes.
    ::pthread_sigmask(SIG_BLOCK, &block, &m_old_mask);
    sigset_t pending;
    ::sigemptyset(&pending);
    m_xfsz_was_pending = ::sigpending(&pending) == 0 && ::sigismember(&pending, SIGXFSZ) == 1;

    // No limit at all where root may lift it (CAP_SYS_RESOURCE, as on a
    // real host); where it may not (a container), the soft limit up to the
    // hard one, and a write beyond a lowered hard limit fails with EFBIG,
    // which every caller treats as an error (the answer is then not
    // checked). The caller's limits come back afterwards.
    if (::getrlimit(RLIMIT_FSIZE, &m_old_fsize) == 0 &&
        (m_old_fsize.rlim_cur != RLIM_INFINITY || m_old_fsize.rlim_max != RLIM_INFINITY)) {
        const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
        m_fsize_raised = ::setrlimit(RLIMIT_FSIZE, &unlimited) == 0;
        if (!m_fsize_raised && m_old_fsize.rlim_cur != m_old_fsize.rlim_max) {
            rlimit raised = m_old_fsize;
            raised.rlim_cur = raised.rlim_max;
            m_fsize_raised = ::setrlimit(RLIMIT_FSIZE, &raised) == 0;
        }
    }
}

CriticalSection::~CriticalSection() {
    if (m_fsize_raised) {
        (void)::setrlimit(RLIMIT_FSIZE, &m_old_fsize);
    }
    if (!m_xfsz_was_pending) {
        // A write that hit the file-size limit raised SIGXFSZ; its error was
        // handled, and the signal's default action would kill the process.
        sigset_t xfsz;
        ::sigemptyset(&xfsz);
        ::sigaddset(&xfsz, SIGXFSZ);
        const timespec no_wait{0, 0};
        while (::sigtimedwait(&xfsz, nullptr, &no_wait) == SIGXFSZ) {
        }
    }
    ::pthread_sigmask(SIG_SETMASK, &m_old_mask, nullptr);
}

}  // namespace pam_totp
