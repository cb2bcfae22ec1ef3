// What pam_totp_check does first, before it reads a byte of its input: a
// setuid program inherits everything from a caller it must not trust (the
// environment, open descriptors, signal dispositions and mask, the umask,
// the working directory, supplementary groups), and is left with none of
// it. The model is Linux-PAM's unix_chkpwd; pam_totp(8), UNPRIVILEGED
// CALLERS, says what is kept and why.
#pragma once

#include <sys/types.h>

#include "core/util/result.h"

namespace totp_check {

struct Caller {
    uid_t uid;  // the real uid: whose account may be checked
};

// Errc::permission when the program does not run as root (not installed
// setuid root, or started under no_new_privs); Errc::io when fd 0 or 1 is
// not open (there is no conversation then).
pam_totp::Result<Caller> make_process_safe();

}  // namespace totp_check
