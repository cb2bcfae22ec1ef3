// The things totp-enroll does; each returns the process exit status.
#pragma once

#include "cli_options.h"
#include "target.h"

namespace totp_enroll {

inline constexpr int exit_done = 0;
inline constexpr int exit_not_done = 1;
inline constexpr int exit_usage = 2;

// commands.cpp: the enrollment and its recovery codes.
int run_enroll(const CliOptions& opts, const Target& target);
int run_add(const CliOptions& opts, const Target& target);
int run_status(const CliOptions& opts, const Target& target);
int run_new_recovery_codes(const CliOptions& opts, const Target& target);
int run_remove(const CliOptions& opts, const Target& target);

// token_commands.cpp: the tokens of an enrollment.
int run_list(const CliOptions& opts, const Target& target);
int run_resync(const CliOptions& opts, const Target& target);

// import_commands.cpp: from google-authenticator and pam_oath.
int run_import(const CliOptions& opts, const Target& target);
int run_import_pam_oath(const CliOptions& opts, const Target& target);

}  // namespace totp_enroll
