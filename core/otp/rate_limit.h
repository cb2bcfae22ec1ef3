// Guessing limits with pam_faillock semantics, plus escalation: each
// consecutive lockout doubles unlock_time, up to max_unlock_time.
// Pure functions of the state and an injected clock.
#pragma once

#include <ctime>

#include "core/store/user_state.h"

namespace pam_totp {

// deny = 0 means "never lock" (failures are still tallied, at most
// max_failures_kept of them); a deny above max_failures_kept acts as
// max_failures_kept, since no longer tally is ever stored. unlock_time = 0
// makes a lockout last 0 seconds (pam_faillock's "never unlock" is not
// offered: an administrator would have to edit the state file).
struct RateLimitConfig {
    unsigned deny = 5;                // failures within fail_interval that lock
    std::time_t fail_interval = 900;  // seconds
    std::time_t unlock_time = 300;    // seconds, first lockout
    std::time_t max_unlock_time = 86400;
};

// Locked now? (now < locked_until). A correct code does not end a lockout.
bool is_locked(const UserState& state, std::time_t now) noexcept;

// Seconds left in the lockout (0 when not locked).
std::time_t lock_remaining(const UserState& state, std::time_t now) noexcept;

// Records a failed attempt at `now`: drops failures older than
// fail_interval, adds this one, and when `deny` are within the interval
// locks for unlock_time * 2^(lockouts) (capped at max_unlock_time), counts
// the lockout and clears the failures. Returns true when this failure locked.
bool record_failure(UserState& state, const RateLimitConfig& config, std::time_t now);

// A successful login: failures and the lockout streak are forgotten.
void record_success(UserState& state) noexcept;

}  // namespace pam_totp
