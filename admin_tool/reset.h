// totp-admin --reset USER: a lockout ended without opening a replay.
#pragma once

#include <memory>

#include "admin_tool/cli_options.h"
#include "core/store/state_store.h"

namespace totp_admin {

int run_reset(const CliOptions& opts);

// The store --store names: state_dir's files, or the shared store.
pam_totp::Result<std::unique_ptr<pam_totp::StateStore>> open_store(const CliOptions& opts);

}  // namespace totp_admin
