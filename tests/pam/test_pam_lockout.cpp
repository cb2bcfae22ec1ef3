// Guessing limits through the real libpam, on the simulated clock (the time
// shim, no sleeps): deny, the lockout message and log line, expiry,
// doubling up to max_unlock_time, fail_interval, and the long horizon
// (wrong codes forgotten only by a success).
#include <syslog.h>
#include <unistd.h>

#include <ctime>
#include <string>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;
using pamtest::LoginResult;

long state_number(const Fixture& f, const char* key) {
    const std::string v = pamtest::line_value(f.state_text("root"), key);
    return v.empty() ? -1 : std::stol(v);
}

// Moves the simulated clock to `when` (a Unix time on that clock).
void clock_to(Fixture& f, long when) {
    const long now = static_cast<long>(::time(nullptr));
    if (when > now) {
        f.advance_clock(when - now);
    }
}

void deny_three_then_locked(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=3 unlock_time=60");
    const auto& e = f.enroll("root");
    for (int i = 0; i < 3; ++i) {
        const LoginResult r = f.login("totp", "root", {Fixture::wrong_code(e)});
        assert_int_equal(r.rc, PAM_AUTH_ERR);
        assert_int_equal(r.prompts.size(), 1);
        assert_int_equal(r.said("locked"), i == 2);  // the third failure locks and says so
    }
    const std::time_t now = ::time(nullptr);
    assert_int_equal(state_number(f, "lockouts"), 1);
    const long until = state_number(f, "locked_until");
    assert_true(until > now && until <= now + 60);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "failure"), 0);

    // A correct code does not end the lockout.
    const LoginResult locked = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(locked.rc, PAM_AUTH_ERR);
    assert_true(locked.said("locked"));
    assert_true(locked.prompts.empty());
    // Nor does re-enrolling: the guessing budget is the account's.
    const auto& again = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::code(again)}).rc, PAM_AUTH_ERR);
    f.expect_log("too many wrong codes", LOG_WARNING);
}

// Issue 12, finding 12: the failure that locks is logged as the lockout,
// not as "0 of N" failures (the count was read after the reset).
void lockout_log_line_counts_the_failure(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=3 unlock_time=60");
    const auto& e = f.enroll("root");
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    }
    f.expect_log("(1 of 3 wrong codes", LOG_NOTICE);
    f.expect_log("(2 of 3 wrong codes", LOG_NOTICE);
    f.expect_log("wrong code; too many wrong codes: code entry locked for 60 seconds (lockout 1 in a row)",
                 LOG_WARNING);
    f.expect_no_log("(0 of");
    f.expect_no_log("(3 of");
}

void lockout_expires(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=2 unlock_time=300 max_unlock_time=1200 fail_interval=600");
    const auto& e = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(state_number(f, "lockouts"), 1);
    const long until = state_number(f, "locked_until");
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    // One second before the end: still locked.
    clock_to(f, until - 1);
    const LoginResult early = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(early.rc, PAM_AUTH_ERR);
    assert_true(early.said("locked"));
    clock_to(f, until);
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(state_number(f, "lockouts"), 0);  // a success ends the streak
}

// deny=1: each wrong code locks; consecutive lockouts last 60, 120, then
// 180 s (240 capped at max_unlock_time=180).
void lockouts_double_up_to_the_cap(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=1 unlock_time=60 max_unlock_time=180 fail_interval=600");
    const auto& e = f.enroll("root");
    const long expected[] = {60, 120, 180, 180};
    for (int k = 0; k < 4; ++k) {
        const std::time_t before = ::time(nullptr);
        const LoginResult r = f.login("totp", "root", {Fixture::wrong_code(e)});
        const std::time_t after = ::time(nullptr);
        assert_int_equal(r.rc, PAM_AUTH_ERR);
        assert_true(r.said("locked"));
        assert_int_equal(state_number(f, "lockouts"), k + 1);
        const long until = state_number(f, "locked_until");
        if (until - expected[k] < before || until - expected[k] > after) {
            fail_msg("lockout %d: locked_until %ld, expected %ld s after a failure in [%ld, %ld]", k + 1, until,
                     expected[k], static_cast<long>(before), static_cast<long>(after));
        }
        // Locked: even the right code is refused, and nothing is counted.
        const LoginResult locked = f.login("totp", "root", {Fixture::code(e)});
        assert_int_equal(locked.rc, PAM_AUTH_ERR);
        assert_true(locked.said("locked"));
        assert_int_equal(state_number(f, "lockouts"), k + 1);
        clock_to(f, until);
    }
}

void old_failures_expire_after_fail_interval(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=2 fail_interval=60 unlock_time=600");
    const auto& e = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "failure"), 1);
    f.advance_clock(61);
    const LoginResult r = f.login("totp", "root", {Fixture::wrong_code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_false(r.said("locked"));
    assert_int_equal(state_number(f, "lockouts"), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

// The long limit: each wrong code adds max_unlock_time / deny of debt
// (12 hours here), which only time pays back; past 2 x max_unlock_time (48
// hours) of debt, code entry locks. Wrong codes an hour apart never come
// deny=2 within fail_interval, yet the fifth locks; and a successful login
// in between does not pay the debt back (or an attacker's guesses between
// the user's own logins would never add up).
void spaced_failures_lock_on_the_long_limit(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=2 fail_interval=60 unlock_time=600 max_unlock_time=86400");
    const auto& e = f.enroll("root");
    for (int i = 0; i < 5; ++i) {
        const LoginResult r = f.login("totp", "root", {Fixture::wrong_code(e)});
        assert_int_equal(r.rc, PAM_AUTH_ERR);
        assert_int_equal(r.said("locked"), i == 4);  // debt 12, 23, 34, 45, then 56 hours
        if (i < 4) {
            f.advance_clock(3600);
        }
    }
    assert_int_equal(state_number(f, "lockouts"), 0);  // not the short limit's lockout
    const long until = state_number(f, "locked_until");
    const long now = static_cast<long>(::time(nullptr));
    assert_in_range(until - now, 8 * 3600 - 60, 8 * 3600 + 60);  // until the debt is back at 48 hours
    clock_to(f, until);
    f.align_clock(e.params.period, 1);
    const LoginResult ok = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(ok.rc, PAM_SUCCESS);
    assert_true(ok.said("There were 5 wrong codes since your last successful login"));
    // The success paid nothing back: the next wrong code locks at once.
    f.advance_clock(60);
    assert_true(f.login("totp", "root", {Fixture::wrong_code(e)}).said("locked"));
}

void success_clears_the_tally(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=3 unlock_time=60");
    const auto& e = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "failure"), 0);
    // Two more failures do not reach deny=3.
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(state_number(f, "lockouts"), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, 1)}).rc, PAM_SUCCESS);
}

void lockout_is_per_user(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=1 unlock_time=60");
    const auto& root = f.enroll("root");
    const auto& daemon = f.enroll("daemon");
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(root)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(root)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "daemon", {Fixture::code(daemon)}).rc, PAM_SUCCESS);
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deny_three_then_locked, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockout_log_line_counts_the_failure, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockout_expires, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockouts_double_up_to_the_cap, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(old_failures_expire_after_fail_interval, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(spaced_failures_lock_on_the_long_limit, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(success_clears_the_tally, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockout_is_per_user, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
