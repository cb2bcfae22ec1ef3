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

// A failure at `when` is within fail_interval at `now` when it is at most
// that old (pam_faillock: now - time <= fail_interval). One stamped in the
// future (the clock was set back) counts: erring towards a lockout.
bool within_interval(std::time_t when, std::time_t now, std::time_t fail_interval) noexcept {
    return when >= saturating_add(now, -std::max<std::time_t>(fail_interval, 0));
}

// unlock_time * 2^lockouts, capped at max_unlock_time, without overflow for
// any lockout count.
std::time_t lock_duration(const RateLimitConfig& config, unsigned lockouts) noexcept {
    const std::time_t base = std::max<std::time_t>(config.unlock_time, 0);
    const std::time_t cap = std::max<std::time_t>(config.max_unlock_time, 0);
    if (base >= cap) {
        return cap;
    }
    std::time_t d = base;
    for (unsigned k = 0; k < lockouts; ++k) {
        // Stops as soon as the cap is reached: d < cap <= time_max here.
        if (d > cap / 2) {
            return cap;
        }
        d *= 2;
    }
    return std::min(d, cap);
}

}  // namespace

bool is_locked(const Budget& budget, std::time_t now) noexcept {
    return now < budget.locked_until;
}

std::time_t lock_remaining(const Budget& budget, std::time_t now) noexcept {
    if (!is_locked(budget, now)) {
        return 0;
    }
    std::time_t left = 0;
    if (__builtin_sub_overflow(budget.locked_until, now, &left)) {
        return time_max;
    }
    return left;
}

std::size_t recent_failures(const Budget& budget, const RateLimitConfig& config, std::time_t now) noexcept {
    return static_cast<std::size_t>(std::count_if(budget.recent.begin(), budget.recent.end(), [&](std::time_t when) {
        return within_interval(when, now, config.fail_interval);
    }));
}

bool record_failure(Budget& budget, const RateLimitConfig& config, std::time_t now) {
    const unsigned deny = std::clamp(config.deny, 1U, max_deny);
    budget.recent.push_back(now);
    // Only the newest `deny` times can ever decide the short horizon.
    if (budget.recent.size() > max_deny) {
        budget.recent.erase(budget.recent.begin(),
                            budget.recent.begin() + static_cast<std::ptrdiff_t>(budget.recent.size() - max_deny));
    }
    if (budget.since_lock < std::numeric_limits<unsigned>::max()) {
        ++budget.since_lock;
    }
    const bool short_horizon = recent_failures(budget, config, now) >= deny;
    // Before the first lockout a slow typist gets twice the allowance; after
    // one, every `deny` wrong codes lock again, however far apart.
    const unsigned long long long_limit = budget.lockouts == 0 ? 2ULL * deny : deny;
    const bool long_horizon = budget.since_lock >= long_limit;
    if (!short_horizon && !long_horizon) {
        return false;
    }
    // Never shorten a lockout already running.
    budget.locked_until = std::max(budget.locked_until, saturating_add(now, lock_duration(config, budget.lockouts)));
    if (budget.lockouts < std::numeric_limits<unsigned>::max()) {
        ++budget.lockouts;  // saturates: a wrap to 0 would restart the escalation
    }
    budget.recent.clear();
    budget.since_lock = 0;
    return true;
}

void record_success(Budget& budget) noexcept {
    // locked_until is left alone: only time ends a lockout (a success is only
    // recorded after is_locked() said no, so it is in the past anyway).
    budget.recent.clear();
    budget.since_lock = 0;
    budget.lockouts = 0;
}

}  // namespace pam_totp
