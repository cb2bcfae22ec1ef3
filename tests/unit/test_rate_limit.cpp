// Guessing limits: pam_faillock semantics plus doubling lockouts, with the
// clock passed in as plain numbers.
#include <ctime>
#include <limits>

#include "cmocka.hpp"
#include "core/otp/rate_limit.h"

namespace {

using pam_totp::RateLimitConfig;
using pam_totp::UserState;

constexpr std::time_t t0 = 1'764'290'000;  // an arbitrary "now"

// Records `n` failures one second apart from `start`; returns how many locked.
int fail_n(UserState& s, const RateLimitConfig& c, std::time_t start, int n) {
    int locks = 0;
    for (int i = 0; i < n; ++i) {
        if (pam_totp::record_failure(s, c, start + i)) {
            ++locks;
        }
    }
    return locks;
}

void locks_at_exactly_deny(void** /*state*/) {
    const RateLimitConfig c;  // deny=5, fail_interval=900, unlock_time=300
    UserState s;
    assert_int_equal(fail_n(s, c, t0, 4), 0);
    assert_false(pam_totp::is_locked(s, t0 + 4));
    assert_int_equal(s.failures.size(), 4);
    assert_int_equal(s.lockouts, 0);

    assert_true(pam_totp::record_failure(s, c, t0 + 4));
    assert_true(pam_totp::is_locked(s, t0 + 4));
    assert_int_equal(s.locked_until, t0 + 4 + 300);
    assert_int_equal(s.lockouts, 1);
    // The tally is cleared at the lockout: bounded by deny.
    assert_true(s.failures.empty());
}

void old_failures_do_not_count(void** /*state*/) {
    const RateLimitConfig c;
    UserState s;
    assert_int_equal(fail_n(s, c, t0, 4), 0);
    // The first four are 901+ seconds old by now: dropped, so no lock.
    assert_false(pam_totp::record_failure(s, c, t0 + 3 + 901));
    assert_false(pam_totp::is_locked(s, t0 + 3 + 901));
    assert_int_equal(s.failures.size(), 1);

    // Exactly fail_interval old still counts (as in pam_faillock).
    UserState edge;
    assert_int_equal(fail_n(edge, c, t0, 4), 0);
    assert_true(pam_totp::record_failure(edge, c, t0 + 900));
    // One second more and the oldest no longer counts.
    UserState past;
    assert_int_equal(fail_n(past, c, t0, 4), 0);
    assert_false(pam_totp::record_failure(past, c, t0 + 901));
    assert_int_equal(past.failures.size(), 4);
}

void lock_expires_at_locked_until(void** /*state*/) {
    const RateLimitConfig c;
    UserState s;
    assert_int_equal(fail_n(s, c, t0, 5), 1);
    const std::time_t until = s.locked_until;
    assert_int_equal(until, t0 + 4 + 300);
    assert_true(pam_totp::is_locked(s, until - 1));
    assert_int_equal(pam_totp::lock_remaining(s, until - 1), 1);
    assert_int_equal(pam_totp::lock_remaining(s, t0 + 4), 300);
    assert_false(pam_totp::is_locked(s, until));
    assert_int_equal(pam_totp::lock_remaining(s, until), 0);
    assert_int_equal(pam_totp::lock_remaining(s, until + 1000), 0);

    const UserState fresh;
    assert_false(pam_totp::is_locked(fresh, t0));
    assert_int_equal(pam_totp::lock_remaining(fresh, t0), 0);
}

void lockouts_double_up_to_the_cap(void** /*state*/) {
    const RateLimitConfig c;  // 300 .. 86400
    UserState s;
    const std::time_t expected[] = {300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 86400, 86400, 86400};
    std::time_t now = t0;
    for (const std::time_t d : expected) {
        assert_int_equal(fail_n(s, c, now, 5), 1);
        const std::time_t locked_at = now + 4;
        assert_int_equal(s.locked_until - locked_at, d);
        now = s.locked_until;  // wait the lockout out, then fail again
    }
    assert_int_equal(s.lockouts, 12);
}

void cap_applies_to_the_first_lockout_too(void** /*state*/) {
    RateLimitConfig c;
    c.unlock_time = 1000;
    c.max_unlock_time = 600;
    UserState s;
    assert_int_equal(fail_n(s, c, t0, 5), 1);
    assert_int_equal(s.locked_until, t0 + 4 + 600);
}

void success_resets_the_streak(void** /*state*/) {
    const RateLimitConfig c;
    UserState s;
    assert_int_equal(fail_n(s, c, t0, 5), 1);
    std::time_t now = s.locked_until;
    assert_int_equal(fail_n(s, c, now, 5), 1);
    assert_int_equal(s.locked_until - (now + 4), 600);
    now = s.locked_until;
    assert_int_equal(fail_n(s, c, now, 2), 0);
    assert_int_equal(s.failures.size(), 2);

    pam_totp::record_success(s);
    assert_int_equal(s.lockouts, 0);
    assert_true(s.failures.empty());

    // Back to the first rung: 4 more failures do not lock, the 5th locks for 300.
    now += 10;
    assert_int_equal(fail_n(s, c, now, 5), 1);
    assert_int_equal(s.locked_until - (now + 4), 300);
}

void huge_lockout_counts_do_not_overflow(void** /*state*/) {
    const RateLimitConfig c;
    UserState s;
    s.lockouts = std::numeric_limits<unsigned>::max() - 1;
    assert_int_equal(fail_n(s, c, t0, 5), 1);
    assert_int_equal(s.locked_until - (t0 + 4), 86400);
    // Saturates instead of wrapping back to the first rung.
    assert_int_equal(s.lockouts, std::numeric_limits<unsigned>::max());
    assert_int_equal(fail_n(s, c, s.locked_until, 5), 1);
    assert_int_equal(s.lockouts, std::numeric_limits<unsigned>::max());

    for (const unsigned k : {31U, 32U, 62U, 63U, 64U, 65U, 1000U}) {
        UserState u;
        u.lockouts = k;
        assert_int_equal(fail_n(u, c, t0, 5), 1);
        assert_int_equal(u.locked_until - (t0 + 4), 86400);
    }

    // A huge cap and a clock near the end of time: no wrap to the past.
    RateLimitConfig big;
    big.max_unlock_time = std::numeric_limits<std::time_t>::max();
    UserState e;
    e.lockouts = 200;
    const std::time_t late = std::numeric_limits<std::time_t>::max() - 100;
    assert_int_equal(fail_n(e, big, late, 5), 1);
    assert_int_equal(e.locked_until, std::numeric_limits<std::time_t>::max());
    assert_true(pam_totp::is_locked(e, late + 4));
}

void only_time_ends_a_lockout(void** /*state*/) {
    const RateLimitConfig c;
    UserState s;
    assert_int_equal(fail_n(s, c, t0, 5), 1);
    const std::time_t until = s.locked_until;

    // A correct code during the lockout is recorded as a success by a careless
    // caller: the lockout still holds until its time.
    pam_totp::record_success(s);
    assert_true(pam_totp::is_locked(s, t0 + 10));
    assert_int_equal(s.locked_until, until);

    // More failures during the lockout never shorten it.
    UserState l;
    assert_int_equal(fail_n(l, c, t0, 5), 1);
    const std::time_t first_until = l.locked_until;
    assert_int_equal(fail_n(l, c, t0 + 10, 5), 1);
    assert_true(l.locked_until >= first_until);
    assert_true(pam_totp::is_locked(l, first_until - 1));

    // A long lockout on record (say, max_unlock_time lowered since) is not
    // replaced by a shorter one when more failures arrive during it.
    UserState longer;
    longer.locked_until = t0 + 100'000;
    assert_int_equal(fail_n(longer, c, t0, 5), 1);
    assert_int_equal(longer.locked_until, t0 + 100'000);
}

void deny_zero_never_locks_and_stays_bounded(void** /*state*/) {
    RateLimitConfig c;
    c.deny = 0;
    c.fail_interval = 1'000'000'000;
    UserState s;
    for (std::size_t i = 0; i < pam_totp::max_failures_kept + 50; ++i) {
        assert_false(pam_totp::record_failure(s, c, t0 + static_cast<std::time_t>(i)));
    }
    assert_false(pam_totp::is_locked(s, t0 + 2000));
    assert_int_equal(s.failures.size(), pam_totp::max_failures_kept);
    // Oldest dropped first.
    assert_int_equal(s.failures.front(), t0 + 50);
    assert_int_equal(s.lockouts, 0);
}

void tally_stays_below_deny(void** /*state*/) {
    RateLimitConfig c;
    c.deny = 3;
    c.fail_interval = 1'000'000'000;
    UserState s;
    for (int i = 0; i < 100; ++i) {
        (void)pam_totp::record_failure(s, c, t0 + i * 10'000);
        assert_true(s.failures.size() < 3);
    }

    // A stored tally longer than deny (deny lowered since): the next failure locks.
    UserState stale;
    stale.failures = {t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4, t0 + 5};
    assert_true(pam_totp::record_failure(stale, c, t0 + 6));
    assert_true(stale.failures.empty());

    // A deny larger than the tally can hold still locks (at max_failures_kept).
    RateLimitConfig huge;
    huge.deny = 1'000'000;
    UserState h;
    int locks = 0;
    for (std::size_t i = 0; i < pam_totp::max_failures_kept; ++i) {
        locks += pam_totp::record_failure(h, huge, t0) ? 1 : 0;
    }
    assert_int_equal(locks, 1);
    assert_true(h.failures.size() <= pam_totp::max_failures_kept);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(locks_at_exactly_deny),
        cmocka_unit_test(old_failures_do_not_count),
        cmocka_unit_test(lock_expires_at_locked_until),
        cmocka_unit_test(lockouts_double_up_to_the_cap),
        cmocka_unit_test(cap_applies_to_the_first_lockout_too),
        cmocka_unit_test(success_resets_the_streak),
        cmocka_unit_test(huge_lockout_counts_do_not_overflow),
        cmocka_unit_test(only_time_ends_a_lockout),
        cmocka_unit_test(deny_zero_never_locks_and_stays_bounded),
        cmocka_unit_test(tally_stays_below_deny),
    };
    return cmocka_run_group_tests_name("rate_limit", tests, nullptr, nullptr);
}
