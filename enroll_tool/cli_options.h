// The command line of totp-enroll (totp-enroll(1)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/files/secret_file.h"
#include "core/otp/totp.h"
#include "core/store/store_kind.h"
#include "core/util/result.h"
#include "enroll_tool/qr_text.h"

namespace totp_enroll {

enum class Mode {
    enroll,
    add,
    list,
    status,
    new_recovery_codes,
    remove,
    resync,
    import_ga,
    import_pam_oath,
    help,
    version
};

struct CliOptions {
    Mode mode = Mode::enroll;
    std::optional<std::string> user;
    std::optional<std::string> secret_file;  // a path template: ~, %h, %u, %%
    std::optional<std::string> issuer;
    std::optional<std::string> label;
    pam_totp::TotpParams params;
    std::size_t recovery_codes = 10;
    std::optional<pam_totp::QrStyle> qr;  // unset: utf8 on a terminal, none otherwise
    bool force = false;
    bool json = false;
    // --status: where pam_totp keeps the used recovery codes (its store=,
    // state_dir= and store_config= options).
    pam_totp::StoreKind store = pam_totp::StoreKind::file;
    std::string state_dir = "/var/lib/pam_totp";
    std::string store_config = "/etc/pam_totp/store.conf";
    std::string import_file;  // --import-google-authenticator, --import-pam-oath
    // Tokens (pam_totp-secret(5), format 2).
    std::optional<std::string> name;  // --name, checked by token_name_problem
    pam_totp::TokenType type = pam_totp::TokenType::totp;
    std::uint64_t counter = 0;               // --counter, HOTP only
    std::optional<std::string> secret_from;  // a file, or "-" for standard input
};

// Errc::invalid_argument with a message that says what to type instead.
pam_totp::Result<CliOptions> parse_cli(int argc, char** argv);

const char* usage_text();

}  // namespace totp_enroll
