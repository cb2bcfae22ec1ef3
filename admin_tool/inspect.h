// totp-admin --list and --show: who is enrolled, and what the state says
// of them (totp-admin(8)). Nothing here writes.
#pragma once

#include "admin_tool/cli_options.h"

namespace totp_admin {

int run_list(const CliOptions& opts);
int run_show(const CliOptions& opts);

}  // namespace totp_admin
