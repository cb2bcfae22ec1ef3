// The state pam_totp 0.1 kept (format 1: state_dir/UID.state or
// state_dir/user-NAME.state), read once per account on its first login
// after an upgrade so that used codes stay used (pam_totp(8), FILES). It is
// never written any more.
//
//   version 1
//   enrollment_id 0123456789abcdef0123456789abcdef
//   last_step 58794000          last accepted TOTP time step (absent: none yet)
//   lockouts 0                  consecutive lockouts (for the doubling)
//   locked_until 0              Unix time; 0 = not locked
//   failure 1764290000          one line per counted failure (repeatable)
//   used $y$j9T$salt            one line per consumed recovery code (repeatable):
//                               the hash's setting prefix, unique per code
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace pam_totp {

inline constexpr std::size_t max_legacy_failures = 1000;
inline constexpr std::size_t max_legacy_used_recovery = 1000;

struct LegacyState {
    std::string enrollment_id;  // empty: no state yet
    std::optional<std::uint64_t> last_step;
    unsigned lockouts = 0;
    std::time_t locked_until = 0;
    std::vector<std::time_t> failures;       // oldest first
    std::vector<std::string> used_recovery;  // ids of consumed recovery codes

    bool operator==(const LegacyState&) const = default;
};

// Strict parse, same rules and messages as the secret file (kv_format.h).
Result<LegacyState> parse_legacy_state(std::string_view text);

}  // namespace pam_totp
