// Per-user runtime state (DESIGN section 4, 6): kept by the module in
// state_dir, never in the user's own files.
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

inline constexpr std::size_t max_failures_kept = 1000;
inline constexpr std::size_t max_used_recovery = 1000;

struct UserState {
    std::string enrollment_id;  // empty: no state yet
    std::optional<std::uint64_t> last_step;
    unsigned lockouts = 0;
    std::time_t locked_until = 0;
    std::vector<std::time_t> failures;       // oldest first
    std::vector<std::string> used_recovery;  // ids of consumed recovery codes

    bool operator==(const UserState&) const = default;
};

// Strict parse, same rules and messages as the secret file (kv_format.h).
Result<UserState> parse_user_state(std::string_view text);
std::string serialise_user_state(const UserState& state);

// If `enrollment_id` differs from the state's, the user re-enrolled: the
// used recovery codes are forgotten (the new file has new ones); the last
// step, the failures and the lockout stay, so re-enrolling can neither make
// a used code work again nor end or reset a lockout.
void rebind_user_state(UserState& state, std::string_view enrollment_id);

}  // namespace pam_totp
