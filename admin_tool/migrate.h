// totp-admin --migrate-to-store: a host's state (state_dir) copied into the
// shared store when the host joins a fleet, so that what was used there
// stays used and what was guessed stays counted (pam_totp(8), FLEET).
#pragma once

#include "admin_tool/cli_options.h"

namespace totp_admin {

int run_migrate_to_store(const CliOptions& opts);

}  // namespace totp_admin
