// The options of pam_totp.so (pam_totp(8), OPTIONS).
#pragma once

#include <optional>
#include <string>

#include "core/otp/rate_limit.h"
#include "core/store/store_kind.h"
#include "core/util/result.h"

namespace pam_totp {

enum class FirstPass {
    none,  // always prompt
    try_,  // try PAM_AUTHTOK first, prompt if it does not carry a valid code
    use,   // PAM_AUTHTOK only; never prompt
};

struct ModuleOptions {
    std::string secret = "~/.pam_totp";
    std::string state_dir = "/var/lib/pam_totp";
    StoreKind store = StoreKind::file;
    std::string store_config = "/etc/pam_totp/store.conf";
    bool nullok = false;
    std::optional<unsigned> window;  // unset: the secret file's, else default_window
    unsigned hotp_window = 10;       // HOTP look-ahead (core/otp/hotp.h: default_hotp_window)
    long grace_period = 0;           // seconds; 0: always ask (core/login/grace.h)
    RateLimitConfig rate;
    std::string prompt = "Verification code: ";
    bool echo_code = false;
    FirstPass first_pass = FirstPass::none;
    bool forward_pass = false;
    // With forward_pass: only collect (hand the password on, keep the code
    // for the pam_totp line after the password module, which checks it).
    bool defer = false;
    bool no_recovery = false;
    bool debug = false;
    // The setuid helper a caller that is not root logs in through.
    std::string helper = PAM_TOTP_HELPER;
};

inline constexpr unsigned default_window = 1;
inline constexpr long max_seconds_option = 365L * 24 * 3600;  // one year
inline constexpr std::size_t max_prompt_length = 256;
inline constexpr std::size_t max_path_option = 4096;

// Parses the module arguments from the PAM configuration line. An unknown
// option, a missing or malformed value, a value out of range, or an option
// given twice is Errc::invalid_argument with a message naming the option
// (never quoting a value or an unknown argument: an administrator may have
// pasted a secret there).
Result<ModuleOptions> parse_module_options(int argc, const char* const* argv);

}  // namespace pam_totp
