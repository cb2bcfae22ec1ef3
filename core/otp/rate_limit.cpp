#include "core/otp/rate_limit.h"

#include <algorithm>
#include <limits>

namespace pam_totp {

namespace {

constexpr std::time_t time_max = std::numeric_limits<std::time_t>::max();
constexpr std::time_t time_min = std::numeric_limits<std::time_t>::min();

// a + b, pinned to the range of time_t instead of overflowing.
std::time_t saturating_add(std::time_t a, std::time_t b) noexcept {
    std::time_t sum = 0;
    if (__builtin_add_overflow(a, b, &sum)) {
        return b > 0 ? time_max : time_min;
    }
    return sum;
}

// A failure at `when` still counts at `now` when it is at most fail_interval
// old (pam_faillock: now - time <= fail_interval). A failure stamped in the
// future (the clock was set back) keeps counting: erring towards a lockout.
bool still_counts(std::time_t when, std::time_t now, std::time_t fail_interval) noexcept {
    const std::time_t oldest = saturating_add(now, -std::max<std::time_t>(fail_interval, 0));
    return when >= oldest;
}

// unlock_time * 2^lockouts, capped at max_unlock_time, without overflow for
// any lockout count.
std::time_t lock_duration(const RateLimitConfig& config, unsigned lockouts) noexcept {
    const std::time_t base = std::max<std::time_t>(config.unlock_time, 0);
    const std::time_t cap = std::max<std::time_t>(config.max_unlock_time, 0);
    if (base >= cap) {
        return cap;
    }
    if (base == 0) {
        return 0;
    }
    std::time_t d = base;
    for (unsigned k = 0; k < lockouts; ++k) {
        // Doubling stops as soon as the cap is reached, so at most ~63 rounds
        // and never an overflow (d < cap <= time_max here).
        if (d > cap / 2) {
            return cap;
        }
        d *= 2;
    }
    return std::min(d, cap);
}

// The failure count that locks. A tally longer than max_failures_kept is
// never stored, so a larger deny is treated as max_failures_kept (otherwise
// it could never be reached and would mean "no lockout").
std::size_t effective_deny(const RateLimitConfig& config) noexcept {
    return std::min<std::size_t>(config.deny, max_failures_kept);
}

}  // namespace

bool is_locked(const UserState& state, std::time_t now) noexcept {
    return now < state.locked_until;
}

std::time_t lock_remaining(const UserState& state, std::time_t now) noexcept {
    if (!is_locked(state, now)) {
        return 0;
    }
    std::time_t left = 0;
    if (__builtin_sub_overflow(state.locked_until, now, &left)) {
        return time_max;
    }
    return left;
}

bool record_failure(UserState& state, const RateLimitConfig& config, std::time_t now) {
    std::erase_if(state.failures, [&](std::time_t when) { return !still_counts(when, now, config.fail_interval); });
    state.failures.push_back(now);

    const std::size_t deny = effective_deny(config);
    if (deny == 0) {
        // deny=0: never lock. The tally is still kept (for --status), bounded.
        if (state.failures.size() > max_failures_kept) {
            const auto excess = static_cast<std::ptrdiff_t>(state.failures.size() - max_failures_kept);
            state.failures.erase(state.failures.begin(), state.failures.begin() + excess);
        }
        return false;
    }
    if (state.failures.size() < deny) {
        return false;
    }

    // Lock. Never shorten a lockout already running (a failure recorded
    // during one cannot end it early).
    const std::time_t until = saturating_add(now, lock_duration(config, state.lockouts));
    state.locked_until = std::max(state.locked_until, until);
    if (state.lockouts < std::numeric_limits<unsigned>::max()) {
        ++state.lockouts;  // saturates: a wrap to 0 would restart the escalation
    }
    state.failures.clear();
    return true;
}

void record_success(UserState& state) noexcept {
    // locked_until is left alone: only time ends a lockout (a success can only
    // be recorded after is_locked() said no, so it is in the past anyway).
    state.failures.clear();
    state.lockouts = 0;
}

}  // namespace pam_totp
