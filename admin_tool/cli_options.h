// The command line of totp-admin (totp-admin(8)).
#pragma once

#include <optional>
#include <string>

#include "core/store/store_kind.h"
#include "core/util/result.h"

namespace totp_admin {

enum class Mode { init_store, migrate_to_store, reset, help, version };

struct CliOptions {
    Mode mode = Mode::help;
    std::string store_config = "/etc/pam_totp/store.conf";
    std::string state_dir = "/var/lib/pam_totp";
    std::optional<std::string> conninfo;   // --init-store: the owner's connection (else store.conf's)
    std::optional<std::string> host_role;  // --init-store: the role the GRANTs name (else store.conf's user)
    pam_totp::StoreKind store = pam_totp::StoreKind::file;  // --reset: which store (as the module's store=)
    std::string user;                                       // --reset USER
};

// Errc::invalid_argument with a message that says what to type instead.
pam_totp::Result<CliOptions> parse_cli(int argc, char** argv);

const char* usage_text();

}  // namespace totp_admin
