// totp-admin --init-store: creating and upgrading the shared store's schema
// (pgsql_store/pgsql_sql.h) and saying what its hosts' role needs.
#pragma once

#include "admin_tool/cli_options.h"

namespace totp_admin {

inline constexpr int exit_done = 0;
inline constexpr int exit_not_done = 1;
inline constexpr int exit_usage = 2;

int run_init_store(const CliOptions& opts);

}  // namespace totp_admin
