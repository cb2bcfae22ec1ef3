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

// a * b for non-negative a and b, pinned to time_max.
std::time_t saturating_mul(std::time_t a, std::time_t b) noexcept {
    std::time_t product = 0;
    if (__builtin_mul_overflow(a, b, &product)) {
        return time_max;
    }
    return product;
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

std::time_t debt(const Budget& budget, std::time_t now) noexcept {
    std::time_t left = 0;
    if (budget.debt_until <= now || __builtin_sub_overflow(budget.debt_until, now, &left)) {
        return 0;
    }
    return left;
}

std::time_t debt_allowance(const RateLimitConfig& config) noexcept {
    return saturating_add(std::max<std::time_t>(config.max_unlock_time, 0),
                          std::max<std::time_t>(config.max_unlock_time, 0));
}

unsigned guess_weight(unsigned codes_compared) noexcept {
    const unsigned w = (codes_compared + codes_per_unit - 1) / codes_per_unit;
    return std::clamp(w, 1U, max_guess_weight);
}

bool record_failure(Budget& budget, const RateLimitConfig& config, std::time_t now, unsigned weight) {
    const unsigned deny = std::clamp(config.deny, 1U, max_deny);
    bool locked = false;
    if (budget.since_success < std::numeric_limits<unsigned>::max()) {
        ++budget.since_success;
    }

    // Short: deny within fail_interval (pam_faillock), with the doubling.
    budget.recent.push_back(now);
    if (budget.recent.size() > max_deny) {
        budget.recent.erase(budget.recent.begin(),
                            budget.recent.begin() + static_cast<std::ptrdiff_t>(budget.recent.size() - max_deny));
    }
    if (recent_failures(budget, config, now) >= deny) {
        budget.locked_until =
            std::max(budget.locked_until, saturating_add(now, lock_duration(config, budget.lockouts)));
        if (budget.lockouts < std::numeric_limits<unsigned>::max()) {
            ++budget.lockouts;  // saturates: a wrap to 0 would restart the escalation
        }
        budget.recent.clear();
        locked = true;
    }

    // Long: max_unlock_time / deny seconds of debt for this wrong code.
    const std::time_t per_failure = std::max<std::time_t>(std::max<std::time_t>(config.max_unlock_time, 0) / deny, 1);
    const auto units = static_cast<std::time_t>(std::clamp(weight, 1U, max_guess_weight));
    budget.debt_until = saturating_add(std::max(budget.debt_until, now), saturating_mul(per_failure, units));
    // The allowance is in answers too: 2 x deny wrong answers at once, of
    // whatever weight; then the debt's rate keeps the codes checked per
    // year those of one token.
    const std::time_t allowance = saturating_mul(debt_allowance(config), units);
    if (debt(budget, now) > allowance) {
        budget.locked_until = std::max(budget.locked_until, saturating_add(budget.debt_until, -allowance));
        locked = true;
    }
    return locked;
}

void record_success(Budget& budget) noexcept {
    // locked_until is left alone: only time ends a lockout (a success is only
    // recorded after is_locked() said no, so it is in the past anyway); the
    // debt too, or an attacker's guesses between the user's logins would
    // never add up.
    budget.recent.clear();
    budget.lockouts = 0;
    budget.since_success = 0;
}

}  // namespace pam_totp
