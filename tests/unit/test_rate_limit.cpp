// The guessing budget (core/otp/rate_limit.h): the short limit of
// pam_faillock with its doubling lockouts, which a success clears; the long
// limit, a debt of wrong codes that only time pays back; and a year of
// attackers, of attackers timing their guesses between the victim's own
// logins, and of a clumsy user, on a simulated clock (the time is a plain
// number passed in).
#include <algorithm>
#include <cmath>
#include <ctime>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/otp/rate_limit.h"

namespace {

using pam_totp::Budget;
using pam_totp::RateLimitConfig;

constexpr std::time_t t0 = 1'764'290'000;  // an arbitrary "now"
constexpr std::time_t minute = 60;
constexpr std::time_t hour = 3600;
constexpr std::time_t day = 86400;
constexpr std::time_t year = 365 * day;

// Records `n` failures `gap` seconds apart from `start`; returns how many locked.
int fail_n(Budget& b, const RateLimitConfig& c, std::time_t start, int n, std::time_t gap = 1) {
    int locks = 0;
    for (int i = 0; i < n; ++i) {
        if (pam_totp::record_failure(b, c, start + i * gap)) {
            ++locks;
        }
    }
    return locks;
}

// The debt each wrong code adds at the defaults (max_unlock_time / deny),
// and the most that may be outstanding (2 x max_unlock_time).
constexpr std::time_t per_failure = 86400 / 5;
constexpr std::time_t allowance = 2 * 86400;

// --- the short limit (pam_faillock) ---------------------------------------------

void locks_at_exactly_deny(void** /*state*/) {
    const RateLimitConfig c;  // deny=5, fail_interval=900, unlock_time=300
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 4), 0);
    assert_false(pam_totp::is_locked(b, t0 + 4));
    assert_int_equal(b.recent.size(), 4);
    assert_int_equal(b.lockouts, 0);
    assert_int_equal(pam_totp::recent_failures(b, c, t0 + 4), 4);

    assert_true(pam_totp::record_failure(b, c, t0 + 4));
    assert_true(pam_totp::is_locked(b, t0 + 4));
    assert_int_equal(b.locked_until, t0 + 4 + 300);
    assert_int_equal(b.lockouts, 1);
    // The count starts anew at the lockout: bounded by deny.
    assert_true(b.recent.empty());
}

void old_failures_leave_the_short_limit(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 4), 0);
    // The first four are 901+ seconds old by now: not within fail_interval.
    assert_false(pam_totp::record_failure(b, c, t0 + 3 + 901));
    assert_false(pam_totp::is_locked(b, t0 + 3 + 901));
    assert_int_equal(pam_totp::recent_failures(b, c, t0 + 3 + 901), 1);

    // Exactly fail_interval old still counts (as in pam_faillock).
    Budget edge;
    assert_int_equal(fail_n(edge, c, t0, 4), 0);
    assert_true(pam_totp::record_failure(edge, c, t0 + 900));
    // One second more and the oldest no longer counts.
    Budget past;
    assert_int_equal(fail_n(past, c, t0, 4), 0);
    assert_false(pam_totp::record_failure(past, c, t0 + 901));
    assert_int_equal(pam_totp::recent_failures(past, c, t0 + 901), 4);
}

void lock_expires_at_locked_until(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 5), 1);
    const std::time_t until = b.locked_until;
    assert_int_equal(until, t0 + 4 + 300);
    assert_true(pam_totp::is_locked(b, until - 1));
    assert_int_equal(pam_totp::lock_remaining(b, until - 1), 1);
    assert_int_equal(pam_totp::lock_remaining(b, t0 + 4), 300);
    assert_false(pam_totp::is_locked(b, until));
    assert_int_equal(pam_totp::lock_remaining(b, until), 0);
    assert_int_equal(pam_totp::lock_remaining(b, until + 1000), 0);

    const Budget fresh;
    assert_false(pam_totp::is_locked(fresh, t0));
    assert_int_equal(pam_totp::lock_remaining(fresh, t0), 0);
}

// Each short-limit lockout without a success in between lasts twice as
// long, up to max_unlock_time (the long limit's debt is cleared between the
// rounds here, to see the short limit alone).
void lockouts_double_up_to_the_cap(void** /*state*/) {
    const RateLimitConfig c;  // 300 .. 86400
    Budget b;
    const std::time_t expected[] = {300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 86400, 86400, 86400};
    std::time_t now = t0;
    for (const std::time_t d : expected) {
        b.debt_until = 0;
        assert_int_equal(fail_n(b, c, now, 5), 1);
        const std::time_t locked_at = now + 4;
        assert_int_equal(b.locked_until - locked_at, d);
        now = b.locked_until;  // wait the lockout out, then fail again
    }
    assert_int_equal(b.lockouts, 12);
}

void cap_applies_to_the_first_lockout_too(void** /*state*/) {
    RateLimitConfig c;
    c.unlock_time = 1000;
    c.max_unlock_time = 600;
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 5), 1);
    assert_int_equal(b.locked_until, t0 + 4 + 600);
}

// A success clears the short limit's count and its doubling; not the debt.
void success_clears_the_short_limit_only(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 5), 1);
    std::time_t now = b.locked_until;
    b.debt_until = 0;
    assert_int_equal(fail_n(b, c, now, 5), 1);
    assert_int_equal(b.locked_until - (now + 4), 600);
    now = b.locked_until;
    assert_int_equal(fail_n(b, c, now, 2), 0);
    assert_int_equal(b.recent.size(), 2);
    const std::time_t debt_before = b.debt_until;

    pam_totp::record_success(b);
    assert_int_equal(b.lockouts, 0);
    assert_true(b.recent.empty());
    assert_int_equal(b.debt_until, debt_before);  // only time pays it back

    // Back to the first rung: 4 quick failures do not lock, the 5th locks for 300.
    now += 10;
    b.debt_until = 0;
    assert_int_equal(fail_n(b, c, now, 5), 1);
    assert_int_equal(b.locked_until - (now + 4), 300);
}

void only_time_ends_a_lockout(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 5), 1);
    const std::time_t until = b.locked_until;

    // A correct code during the lockout recorded as a success by a careless
    // caller: the lockout still holds until its time.
    pam_totp::record_success(b);
    assert_true(pam_totp::is_locked(b, t0 + 10));
    assert_int_equal(b.locked_until, until);

    // More failures during the lockout never shorten it.
    Budget l;
    assert_int_equal(fail_n(l, c, t0, 5), 1);
    const std::time_t first_until = l.locked_until;
    assert_int_equal(fail_n(l, c, t0 + 10, 5), 1);
    assert_true(l.locked_until >= first_until);
    assert_true(pam_totp::is_locked(l, first_until - 1));

    // A long lockout on record (say, max_unlock_time lowered since) is not
    // replaced by a shorter one when more failures arrive during it.
    Budget longer;
    longer.locked_until = t0 + 1'000'000;
    assert_int_equal(fail_n(longer, c, t0, 5), 1);
    assert_int_equal(longer.locked_until, t0 + 1'000'000);
}

// --- the long limit: a debt only time pays back ----------------------------------------

// Each wrong code adds max_unlock_time / deny; time pays it back one second
// a second; more than 2 x max_unlock_time outstanding locks until it is
// back at that.
void debt_accumulates_and_time_pays_it_back(void** /*state*/) {
    const RateLimitConfig c;
    assert_int_equal(pam_totp::debt_allowance(c), allowance);
    Budget b;
    assert_int_equal(pam_totp::debt(b, t0), 0);
    assert_false(pam_totp::record_failure(b, c, t0));
    assert_int_equal(pam_totp::debt(b, t0), per_failure);
    assert_int_equal(pam_totp::debt(b, t0 + 1000), per_failure - 1000);
    assert_int_equal(pam_totp::debt(b, t0 + per_failure), 0);
    assert_int_equal(pam_totp::debt(b, t0 + 10 * per_failure), 0);
    // Paid back: the next one starts from nothing, not from the past.
    assert_false(pam_totp::record_failure(b, c, t0 + 10 * per_failure));
    assert_int_equal(pam_totp::debt(b, t0 + 10 * per_failure), per_failure);
}

// Failures one fail_interval apart never trip the short limit; the long one
// locks at the 11th (10 of them are exactly the allowance, less what time
// paid back meanwhile), until the debt is back at the allowance.
void slow_failures_run_into_the_debt(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    constexpr std::time_t gap = 901;
    assert_int_equal(fail_n(b, c, t0, 10, gap), 0);
    const std::time_t at = t0 + 10 * gap;
    assert_true(pam_totp::record_failure(b, c, at));
    assert_true(pam_totp::is_locked(b, at));
    assert_int_equal(b.lockouts, 0);  // not a short-limit lockout
    assert_int_equal(pam_totp::debt(b, b.locked_until), allowance);
    assert_int_equal(b.locked_until, at + pam_totp::debt(b, at) - allowance);
    // Once it ends, one more wrong code locks again, for that code's debt.
    const std::time_t later = b.locked_until;
    assert_false(pam_totp::is_locked(b, later));
    assert_true(pam_totp::record_failure(b, c, later));
    assert_int_equal(b.locked_until, later + per_failure);
}

// Successes between the wrong codes change nothing about the debt.
void successes_do_not_pay_the_debt(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    for (int i = 0; i < 10; ++i) {
        assert_false(pam_totp::record_failure(b, c, t0 + i * 1000));
        pam_totp::record_success(b);
    }
    assert_true(pam_totp::record_failure(b, c, t0 + 10 * 1000));
}

// Wrong codes at the pace time pays them back (max_unlock_time / deny
// apart: 5 a day at the defaults) never lock.
void failures_at_the_payback_pace_never_lock(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    assert_int_equal(fail_n(b, c, t0, 365 * 5, per_failure), 0);
    // A little faster, and they do, within days.
    Budget faster;
    assert_true(fail_n(faster, c, t0, 365 * 5, per_failure - 3600) > 0);
}

void huge_values_do_not_overflow(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    b.lockouts = std::numeric_limits<unsigned>::max() - 1;
    assert_int_equal(fail_n(b, c, t0, 5), 1);
    assert_int_equal(b.locked_until - (t0 + 4), 86400);
    // Saturates instead of wrapping back to the first rung.
    assert_int_equal(b.lockouts, std::numeric_limits<unsigned>::max());
    b.debt_until = 0;
    assert_int_equal(fail_n(b, c, b.locked_until, 5), 1);
    assert_int_equal(b.lockouts, std::numeric_limits<unsigned>::max());

    for (const unsigned k : {31U, 32U, 62U, 63U, 64U, 65U, 1000U}) {
        Budget u;
        u.lockouts = k;
        assert_int_equal(fail_n(u, c, t0, 5), 1);
        assert_int_equal(u.locked_until - (t0 + 4), 86400);
    }

    // A debt at the end of time: saturates, and locks.
    Budget d;
    d.debt_until = std::numeric_limits<std::time_t>::max() - 5;
    assert_true(pam_totp::record_failure(d, c, t0));
    assert_true(d.debt_until == std::numeric_limits<std::time_t>::max());
    assert_true(pam_totp::is_locked(d, t0));

    // A huge cap and a clock near the end of time: no wrap to the past.
    RateLimitConfig big;
    big.max_unlock_time = std::numeric_limits<std::time_t>::max();
    Budget e;
    e.lockouts = 200;
    const std::time_t late = std::numeric_limits<std::time_t>::max() - 100;
    assert_int_equal(fail_n(e, big, late, 5), 1);
    assert_int_equal(e.locked_until, std::numeric_limits<std::time_t>::max());
    assert_true(pam_totp::is_locked(e, late + 4));
    assert_true(pam_totp::lock_remaining(e, std::numeric_limits<std::time_t>::min()) ==
                std::numeric_limits<std::time_t>::max());
    assert_int_equal(pam_totp::debt(e, std::numeric_limits<std::time_t>::min()), 0);  // unrepresentable: none
}

// deny outside 1..max_deny (the option parser refuses it; a caller might
// not) is pinned to that range; the kept times never exceed max_deny.
void deny_is_clamped_and_the_budget_bounded(void** /*state*/) {
    RateLimitConfig zero;
    zero.deny = 0;  // as deny=1
    Budget z;
    assert_true(pam_totp::record_failure(z, zero, t0));

    RateLimitConfig huge;
    huge.deny = 1'000'000;  // as deny=max_deny
    huge.fail_interval = 1'000'000'000;
    Budget h;
    int locks = 0;
    for (unsigned i = 0; i < pam_totp::max_deny; ++i) {
        locks += pam_totp::record_failure(h, huge, t0 + i) ? 1 : 0;
        assert_true(h.recent.size() <= pam_totp::max_deny);
    }
    assert_int_equal(locks, 1);

    // A stored list longer than max_deny (hand-edited) is cut to it.
    Budget stale;
    stale.recent.assign(pam_totp::max_deny + 20, t0 - 1'000'000);
    RateLimitConfig c;
    (void)pam_totp::record_failure(stale, c, t0);
    assert_true(stale.recent.size() <= pam_totp::max_deny);

    // A stored tally longer than deny (deny lowered since): the next failure locks.
    RateLimitConfig three;
    three.deny = 3;
    Budget lowered;
    lowered.recent = {t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4, t0 + 5};
    assert_true(pam_totp::record_failure(lowered, three, t0 + 6));
    assert_true(lowered.recent.empty());
}

// A failure stamped in the future (the clock was set back) counts.
void future_failures_count(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    assert_int_equal(fail_n(b, c, t0 + 10'000, 4), 0);
    assert_int_equal(pam_totp::recent_failures(b, c, t0), 4);
    assert_true(pam_totp::record_failure(b, c, t0));
}

// --- a year on a simulated clock ----------------------------------------------

// The chance that at least one of `guesses` random 6-digit codes is right
// when 3 codes are valid at any time (window=1): 1 - (1 - 3e-6)^guesses.
double success_chance(long guesses) {
    return 1.0 - std::pow(1.0 - 3e-6, static_cast<double>(guesses));
}

// An attacker who holds the password and guesses through the login for one
// year: `burst` guesses `gap` seconds apart, then a pause until `period`
// has passed since the burst began; a lockout is waited out (code entry is
// refused while it runs, so a guess then is no guess). Returns the guesses.
long simulate_attacker(const RateLimitConfig& c, int burst, std::time_t gap, std::time_t period) {
    Budget b;
    long guesses = 0;
    std::time_t now = t0;
    const std::time_t end = t0 + year;
    while (now < end) {
        const std::time_t burst_start = now;
        for (int i = 0; i < burst && now < end; ++i) {
            if (pam_totp::is_locked(b, now)) {
                now = b.locked_until;
                break;  // the pacing starts anew once the lockout is over
            }
            (void)pam_totp::record_failure(b, c, now);
            ++guesses;
            now += gap;
        }
        now = std::max(now, burst_start + period);
    }
    return guesses;
}

void attackers_have_less_than_one_percent_a_year(void** /*state*/) {
    const RateLimitConfig c;  // the defaults: deny=5, 900, 300, 86400
    assert_int_equal(c.deny, 5);
    assert_int_equal(c.fail_interval, 900);
    assert_int_equal(c.unlock_time, 300);
    assert_int_equal(c.max_unlock_time, 86400);

    // Fast: a guess every second whenever code entry is not locked.
    const long fast = simulate_attacker(c, 1, 1, 1);

    // Paced: many ways of staying under the short horizon (deny - 1 per
    // fail_interval, as pam_faillock alone would allow forever) or of
    // spreading the guesses out; the best of them counts.
    struct Pacing {
        int burst;
        std::time_t gap;
        std::time_t period;
    };
    const Pacing pacings[] = {
        {4, 1, 15 * minute},   {4, 1, 15 * minute + 1},
        {4, 225, 15 * minute}, {1, 226, 226},
        {3, 1, 15 * minute},   {2, 1, 15 * minute},
        {1, 1, minute},        {1, 1, 5 * minute},
        {1, 1, hour},          {4, 1, hour},
        {5, 1, day},           {4, 1, day},
        {9, 1, day},           {10, 1, day},
        {1, 1, day / 5},       {1, 1, day / 10},
        {5, 1, 86400 + 300},   {5, 1, 2 * day},
        {4, 60, 15 * minute},  {20, 1, 15 * minute},
    };
    long paced = 0;
    std::string best;
    for (const Pacing& p : pacings) {
        const long n = simulate_attacker(c, p.burst, p.gap, p.period);
        if (n > paced) {
            paced = n;
            best = std::to_string(p.burst) + " guesses " + std::to_string(p.gap) + " s apart every " +
                   std::to_string(p.period) + " s";
        }
    }
    const long faillock_pace = simulate_attacker(c, 4, 1, 15 * minute);
    const double p_fast = success_chance(fast);
    const double p_paced = success_chance(paced);
    print_message("fast attacker: %ld guesses in a year, P(success) = %.3f%%\n", fast, 100.0 * p_fast);
    print_message("paced attacker, 4 guesses per 15 minutes: %ld guesses in a year, P(success) = %.3f%%\n",
                  faillock_pace, 100.0 * success_chance(faillock_pace));
    print_message("paced attacker, the best of %zu pacings (%s): %ld guesses in a year, P(success) = %.3f%%\n",
                  std::size(pacings), best.c_str(), paced, 100.0 * p_paced);
    // pam_faillock's short limit alone allows 4 per 15 minutes forever:
    // 140,160 guesses, 34%. The long limit must hold both below 1%.
    assert_true(p_fast < 0.01);
    assert_true(p_paced < 0.01);
    assert_true(faillock_pace <= paced);
}

// An attacker who holds the password and times the guesses between the
// victim's own logins: the successes clear the short limit, not the debt,
// so the yearly figure stays below 1% however often the victim logs in
// (the attacker makes every guess the limits allow, and waits out any
// lockout; so does the victim).
void victims_logins_do_not_refill_the_budget(void** /*state*/) {
    const RateLimitConfig c;
    for (const int logins_a_day : {1, 2, 10, 100}) {
        Budget b;
        long guesses = 0;
        const std::time_t gap = day / logins_a_day;
        for (std::time_t t = t0; t < t0 + year; t += gap) {
            if (!pam_totp::is_locked(b, t)) {
                pam_totp::record_success(b);  // the victim logs in
            }
            // Then the attacker, as fast as the limits let, until the next login.
            for (std::time_t at = std::max(t + 1, b.locked_until); at < t + gap;) {
                (void)pam_totp::record_failure(b, c, at);
                ++guesses;
                at = std::max(at + 1, b.locked_until);
            }
        }
        const double p = success_chance(guesses);
        print_message(
            "victim logs in %d times a day, attacker in between: %ld guesses in a year, P(success) = "
            "%.3f%%\n",
            logins_a_day, guesses, 100.0 * p);
        assert_true(p < 0.01);
    }
}

// A user who mistypes two codes before the right one, every day for a
// year, is never locked out; nor one who mistypes deny - 1 in a row each
// day, nor one who mistypes two a day and logs in only every fourth day.
void a_clumsy_user_is_never_locked_out(void** /*state*/) {
    const RateLimitConfig c;
    Budget b;
    for (std::time_t d = 0; d < 365; ++d) {
        const std::time_t morning = t0 + d * day + 9 * hour;
        for (std::time_t i = 0; i < 2; ++i) {
            assert_false(pam_totp::is_locked(b, morning + i * 20));
            assert_false(pam_totp::record_failure(b, c, morning + i * 20));
        }
        assert_false(pam_totp::is_locked(b, morning + 40));
        pam_totp::record_success(b);
    }
    Budget worse;
    for (std::time_t d = 0; d < 365; ++d) {
        const std::time_t morning = t0 + d * day;
        assert_int_equal(fail_n(worse, c, morning, static_cast<int>(c.deny) - 1, 10), 0);
        assert_false(pam_totp::is_locked(worse, morning + 60));
        pam_totp::record_success(worse);
    }
    Budget rare;
    for (std::time_t d = 0; d < 365; ++d) {
        assert_int_equal(fail_n(rare, c, t0 + d * day, 2, 30), 0);
        if (d % 4 == 3) {
            pam_totp::record_success(rare);
        }
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locks_at_exactly_deny),
        cmocka_unit_test(old_failures_leave_the_short_limit),
        cmocka_unit_test(lock_expires_at_locked_until),
        cmocka_unit_test(lockouts_double_up_to_the_cap),
        cmocka_unit_test(cap_applies_to_the_first_lockout_too),
        cmocka_unit_test(success_clears_the_short_limit_only),
        cmocka_unit_test(only_time_ends_a_lockout),
        cmocka_unit_test(debt_accumulates_and_time_pays_it_back),
        cmocka_unit_test(slow_failures_run_into_the_debt),
        cmocka_unit_test(successes_do_not_pay_the_debt),
        cmocka_unit_test(failures_at_the_payback_pace_never_lock),
        cmocka_unit_test(huge_values_do_not_overflow),
        cmocka_unit_test(deny_is_clamped_and_the_budget_bounded),
        cmocka_unit_test(future_failures_count),
        cmocka_unit_test(attackers_have_less_than_one_percent_a_year),
        cmocka_unit_test(victims_logins_do_not_refill_the_budget),
        cmocka_unit_test(a_clumsy_user_is_never_locked_out),
    };
    return cmocka_run_group_tests_name("rate_limit", tests, nullptr, nullptr);
}
