// Whose enrollment totp-enroll works on, and where the secret file is.
#pragma once

#include <sys/types.h>

#include <string>

#include "cli_options.h"
#include "core/util/result.h"

namespace totp_enroll {

struct Target {
    std::string user;
    std::string home;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string path;  // the secret file, absolute
    // In the user's home (pam_totp reads it with the user's identity, and
    // root works on it with that identity too); otherwise a central file,
    // handled as root in root-owned directories.
    bool home_file = true;
};

// --user is for root only (or names the caller); the path comes from
// --secret-file (a template, as the module's secret=) or ~/.pam_totp.
// Errc::permission for --user as non-root, Errc::not_found for an unknown
// user, Errc::invalid_argument for a bad template.
pam_totp::Result<Target> resolve_target(const CliOptions& opts);

}  // namespace totp_enroll
