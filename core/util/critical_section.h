// The few hundred microseconds in which a login or an enrollment commits:
// nothing the caller of a setuid program controls may cut them short.
//
// Blocks every signal that can be blocked (whatever a caller can send,
// arrange or time) and lifts RLIMIT_FSIZE (the hard limit too where root
// may; else the soft one up to the hard one), so
// that a write fails with an error (EFBIG) the code sees, rather than a
// signal that kills it between two steps. Both are restored when the object
// goes; a SIGXFSZ raised inside is discarded (the error was handled), any
// other blocked signal is delivered then. SIGKILL and SIGSTOP cannot be
// blocked: the state format makes them harmless instead (pam_totp(8), FILES).
#pragma once

#include <signal.h>
#include <sys/resource.h>

namespace pam_totp {

class CriticalSection {
  public:
    CriticalSection() noexcept;
    ~CriticalSection();
    CriticalSection(const CriticalSection&) = delete;
    CriticalSection& operator=(const CriticalSection&) = delete;
    CriticalSection(CriticalSection&&) = delete;
    CriticalSection& operator=(CriticalSection&&) = delete;

  private:
    sigset_t m_old_mask{};
    bool m_xfsz_was_pending = false;
    rlimit m_old_fsize{};
    bool m_fsize_raised = false;
};

}  // namespace pam_totp
