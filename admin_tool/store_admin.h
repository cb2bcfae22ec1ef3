// totp-admin --init-store: creating and upgrading the shared store's schema
// (pgsql_store/pgsql_sql.h) and saying what its hosts' role needs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "admin_tool/cli_options.h"
#include "core/util/result.h"

namespace totp_admin {

inline constexpr int exit_done = 0;
inline constexpr int exit_not_done = 1;
inline constexpr int exit_usage = 2;

int run_init_store(const CliOptions& opts);

// Every row of the shared store, read in one read-only transaction with
// store.conf's connection (the hosts' role may read both tables), within
// store.conf's timeout. Errc::unavailable when the store cannot be reached.
struct SharedRows {
    std::vector<std::pair<std::string, std::string>> states;  // name, text
    std::vector<std::pair<std::string, std::string>> claims;  // token id (hex), holder
};
pam_totp::Result<SharedRows> read_shared_store(const std::string& store_config);

}  // namespace totp_admin
