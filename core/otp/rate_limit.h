// The guessing budget of an account (pam_totp(8), GUESSING LIMITS): pure
// functions of the budget and an injected clock.
//
// Two limits. Short, as pam_faillock: `deny` wrong codes within
// `fail_interval` lock code entry for unlock_time, each further such
// lockout without a successful login in between twice as long, up to
// max_unlock_time; a successful login clears this count. Long: every wrong
// code adds max_unlock_time / deny seconds to a debt that only time pays
// back, one second a second; no successful login touches it. When the debt
// exceeds 2 x max_unlock_time, code entry locks until it is back under.
// So in the long run at most `deny` wrong codes per max_unlock_time get
// checked, however they are paced and whatever logins succeed between
// them: at the defaults 5 a day, 1,835 in a year, a 0.55% chance of
// hitting a 6-digit code; and a user who mistypes a few codes a day never
// runs into it.
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
    unsigned lockouts = 0;            // short-limit lockouts since the last success (the doubling)
    std::time_t locked_until = 0;     // Unix time; code entry is locked before it
    std::time_t debt_until = 0;       // the long limit: the debt of wrong codes is paid back at this time
    unsigned since_success = 0;       // wrong codes since the last successful login (told at the next one)

    bool operator==(const Budget&) const = default;
};

// Locked now? (now < locked_until). A correct code does not end a lockout.
bool is_locked(const Budget& budget, std::time_t now) noexcept;

// Seconds left in the lockout (0 when not locked).
std::time_t lock_remaining(const Budget& budget, std::time_t now) noexcept;

// The codes one answer is compared with in the budget's unit: a TOTP token
// with window 1 (3 codes) is 1. Each token and each step of a wider window
// or HOTP look-ahead is one more code a guess may hit, so the long limit's
// debt grows by ceil(codes / 3) wrong codes per answer (its allowance, in
// answers, stays 2 x deny): the yearly chance stays the one-token figure
// whatever the secret file holds (pam_totp(8), GUESSING LIMITS).
inline constexpr unsigned codes_per_unit = 3;
unsigned guess_weight(unsigned codes_compared) noexcept;
inline constexpr unsigned max_guess_weight = 1000;

// Counts a wrong code at `now` against both limits; when one is reached,
// locks (never shortening a lockout already running). The short limit
// counts answers; the long limit's debt grows by `weight` wrong codes
// (guess_weight). Returns true when this failure locked.
bool record_failure(Budget& budget, const RateLimitConfig& config, std::time_t now, unsigned weight = 1);

// A successful login: the short limit's wrong codes and its lockout streak
// are forgotten; the long limit's debt is not (only time pays it back).
void record_success(Budget& budget) noexcept;

// Wrong codes within fail_interval of `now` (for messages and totp-admin).
std::size_t recent_failures(const Budget& budget, const RateLimitConfig& config, std::time_t now) noexcept;

// Seconds of long-limit debt at `now`, and the most it may be.
std::time_t debt(const Budget& budget, std::time_t now) noexcept;
std::time_t debt_allowance(const RateLimitConfig& config) noexcept;

}  // namespace pam_totp
