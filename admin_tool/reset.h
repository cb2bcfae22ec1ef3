// totp-admin --reset USER: a lockout ended without opening a replay.
#pragma once

#include "admin_tool/cli_options.h"

namespace totp_admin {

int run_reset(const CliOptions& opts);

}  // namespace totp_admin
