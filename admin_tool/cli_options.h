// The command line of totp-admin (totp-admin(8)).
#pragma once

#include <optional>
#include <string>

#include "core/otp/rate_limit.h"
#include "core/store/store_kind.h"
#include "core/util/result.h"

namespace totp_admin {

enum class Mode { list, show, reset, init_store, migrate_to_store, help, version };

inline constexpr const char* default_secret_template = "~/.pam_totp";

struct CliOptions {
    Mode mode = Mode::help;
    // Where the module finds secrets and state: its options secret=,
    // state_dir=, store=, store_config= under the same names.
    std::string secret_file = default_secret_template;
    std::string store_config = "/etc/pam_totp/store.conf";
    std::string state_dir = "/var/lib/pam_totp";
    pam_totp::StoreKind store = pam_totp::StoreKind::file;
    // --list and --show count wrong codes as the module's deny= and
    // fail_interval= do (its defaults unless given).
    pam_totp::RateLimitConfig rate;
    bool json = false;                     // --list, --show
    bool homes = false;                    // --list: every account's home file too
    std::optional<std::string> conninfo;   // --init-store: the owner's connection (else store.conf's)
    std::optional<std::string> host_role;  // --init-store: the role the GRANTs name (else store.conf's user)
    std::string user;                      // --show USER, --reset USER
};

// Errc::invalid_argument with a message that says what to type instead.
pam_totp::Result<CliOptions> parse_cli(int argc, char** argv);

const char* usage_text();

}  // namespace totp_admin
