// Guessing limits through the real libpam, with real (short) sleeps: deny,
// the lockout message, expiry, doubling up to max_unlock_time, fail_interval.
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

// Sleeps until time(nullptr) >= when (polling, so no whole-second slack).
void sleep_until(std::time_t when) {
    while (::time(nullptr) < when) {
        ::usleep(20 * 1000);
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
    // Nor does re-enrolling (a new id rebinds the state but keeps the lock).
    const auto& again = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::code(again)}).rc, PAM_AUTH_ERR);
    if (f.logs_captured()) {
        assert_true(f.wait_for_log("too many wrong codes"));
    }
}

void lockout_expires(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=2 unlock_time=1 max_unlock_time=4 fail_interval=60");
    const auto& e = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(state_number(f, "lockouts"), 1);
    const long until = state_number(f, "locked_until");
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    sleep_until(static_cast<std::time_t>(until));
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(state_number(f, "lockouts"), 0);  // a success ends the streak
}

// deny=1: each wrong code locks; consecutive lockouts last 1, 2, then 3 s
// (4 capped at max_unlock_time=3).
void lockouts_double_up_to_the_cap(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=1 unlock_time=1 max_unlock_time=3 fail_interval=60");
    const auto& e = f.enroll("root");
    const long expected[] = {1, 2, 3};
    for (int k = 0; k < 3; ++k) {
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
        if (k < 2) {
            sleep_until(static_cast<std::time_t>(until));
        }
    }
}

void old_failures_expire_after_fail_interval(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=2 fail_interval=1 unlock_time=60");
    const auto& e = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "failure"), 1);
    sleep_until(::time(nullptr) + 2);
    const LoginResult r = f.login("totp", "root", {Fixture::wrong_code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_false(r.said("locked"));
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "failure"), 1);
    assert_int_equal(state_number(f, "lockouts"), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
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

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(deny_three_then_locked, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockout_expires, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockouts_double_up_to_the_cap, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(old_failures_expire_after_fail_interval, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(success_clears_the_tally, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockout_is_per_user, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
