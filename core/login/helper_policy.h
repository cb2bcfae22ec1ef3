// Which module options pam_totp_check accepts from a caller that is not
// root (pam_totp(8), UNPRIVILEGED CALLERS).
//
// The caller runs the helper itself and could send any options: a secret
// file or state directory of its choosing, or deny=100. So the options that
// decide where the state is and how many guesses a caller gets (the policy)
// must be ones the administrator wrote into /etc/pam_totp/helper.conf (root's,
// not writable by others), each line the options of one pam_totp line as in
// the PAM configuration; with no such file, only the defaults. The options
// that change only what the caller sees or gets back (prompt=, echo_code,
// debug, the first_pass options, nullok, helper=) stay the caller's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/login/module_options.h"
#include "core/util/result.h"

namespace pam_totp {

inline constexpr const char* helper_conf_path = "/etc/pam_totp/helper.conf";

// The options as libpam splits a module's arguments: at blanks, with
// "[...]" holding blanks in one argument (the brackets removed).
// Errc::format for an unclosed bracket.
Result<std::vector<std::string>> split_module_arguments(std::string_view line);

// True when the two agree on every option of the policy: secret, state_dir,
// store, store_config, window, hotp_window, grace_period, deny, fail_interval, unlock_time,
// max_unlock_time, no_recovery: where the state and the secret are, and
// what counts as a right answer. Not nullok: without a secret file nothing
// is read or written, and PAM_IGNORE goes only to the caller's own stack.
bool same_policy(const ModuleOptions& a, const ModuleOptions& b) noexcept;

// The policies helper.conf allows (`conf` is its text; nullopt: no file,
// only the defaults). Errc::format names a line that is not valid options.
Result<std::vector<ModuleOptions>> allowed_policies(const std::optional<std::string_view>& conf);

// Ok when `requested` has the policy of one allowed entry; else
// Errc::permission, saying what to add to helper.conf.
Status check_policy(const ModuleOptions& requested, const std::vector<ModuleOptions>& allowed);

}  // namespace pam_totp
