// The guessing budget of an account (pam_totp(8), GUESSING LIMITS): pure
// functions of the budget and an injected clock.
//
// Two horizons. Short, as pam_faillock: `deny` wrong codes within
// `fail_interval` lock code entry. Long: wrong codes are forgotten only by a
// successful login, never by time alone; 2 x `deny` of them since the last
// success lock too, and after a lockout every further `deny` of them, however
// slowly they come. Each lockout without a success in between lasts twice as
// long as the one before (unlock_time, 2 x unlock_time, ...), up to
// max_unlock_time. At the defaults that allows about 5 guesses a day in the
// long run, fast or paced: 0.56% of hitting a 6-digit code in a year.
#pragma once

#include <cstddef>
#include <ctime>
#include <vector>

namespace pam_totp {

// The most `deny` may be; also the most failure times a budget keeps.
inline constexpr unsigned max_deny = 100;

struct RateLimitConfig {
    unsigned deny = 5;                // 1..max_deny
    std::time_t fail_interval = 900;  // seconds
    std::time_t unlock_time = 300;    // seconds, first lockout
    std::time_t max_unlock_time = 86400;
};

struct Budget {
    std::vector<std::time_t> recent;  // times of wrong codes since the last lockout or success, newest last
    unsigned since_lock = 0;          // wrong codes since the last lockout or success
    unsigned lockouts = 0;            // lockouts since the last success (the doubling)
    std::time_t locked_until = 0;     // Unix time; code entry is locked before it

    bool operator==(const Budget&) const = default;
};

// Locked now? (now < locked_until). A correct code does not end a lockout.
bool is_locked(const Budget& budget, std::time_t now) noexcept;

// Seconds left in the lockout (0 when not locked).
std::time_t lock_remaining(const Budget& budget, std::time_t now) noexcept;

// Counts a wrong code at `now`; when it reaches a limit above, locks for
// unlock_time * 2^lockouts (at most max_unlock_time; never shortening a
// lockout already running), counts the lockout and starts the count anew.
// Returns true when this failure locked.
bool record_failure(Budget& budget, const RateLimitConfig& config, std::time_t now);

// A successful login: the wrong codes and the lockout streak are forgotten.
void record_success(Budget& budget) noexcept;

// Wrong codes within fail_interval of `now` (for messages and totp-admin).
std::size_t recent_failures(const Budget& budget, const RateLimitConfig& config, std::time_t now) noexcept;

}  // namespace pam_totp
