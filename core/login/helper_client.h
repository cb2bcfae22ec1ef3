// pam_totp.so in a process that is not root (a screen locker): the state
// is root's, so the login runs in pam_totp_check, the setuid helper, which
// does exactly what the module does as root (run_login) for the caller's
// own account. Here: starting it, passing it the request, and relaying its
// conversation to the application's (helper_protocol.h).
#pragma once

#include <string>
#include <vector>

#include "core/login/login_flow.h"
#include "core/login/module_options.h"

namespace pam_totp {

// `args` are the module's arguments as the PAM line gave them (the helper
// parses them again and checks them against helper.conf); `opts` the same,
// parsed. Every failure is a denial, logged with what to do.
LoginOutcome run_login_via_helper(LoginIo& io, const ModuleOptions& opts, const std::vector<std::string>& args);

}  // namespace pam_totp
