// The secret file changing under the module, through the real libpam:
// revocation reaches a prompt that is already open (issue 12, finding 3),
// a new period keeps the replay record in absolute time (finding 6), and
// the code that confirmed an enrollment does not log in (finding 7).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Enrollment;
using pamtest::Fixture;
using pamtest::LoginResult;

pam_totp::TotpParams with_period(unsigned period) {
    pam_totp::TotpParams p;
    p.period = period;
    return p;
}

// Finding 3: `totp-enroll --new-recovery-codes` while a prompt is open
// (su has no prompt timeout): the old recovery code typed afterwards is
// refused, because the answer is checked against the file on disk when it
// is checked, not the copy read before the prompt.
void new_recovery_codes_reach_an_open_prompt(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 2);
    const Enrollment* renewed = nullptr;
    const LoginResult r = f.login("totp", "root", {e.recovery_codes[0]}, {}, 0, [&](std::size_t, const std::string&) {
        pamtest::EnrollSpec spec;
        spec.user = "root";
        spec.key_of = &e;  // the same key, new recovery codes
        spec.recovery = 2;
        renewed = &f.enroll(spec);
    });
    assert_non_null(renewed);
    assert_int_equal(r.prompts.size(), 1);
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {e.recovery_codes[1]}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {renewed->recovery_codes[0]}).rc, PAM_SUCCESS);
}

// Finding 3, a `--force` re-enrollment (a new key) while a prompt is open:
// the old key's code typed afterwards is refused; the new key's works.
void reenrollment_reaches_an_open_prompt(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    const std::string old_code = Fixture::code(e);
    const Enrollment* fresh = nullptr;
    const LoginResult r = f.login("totp", "root", {old_code}, {}, 0,
                                  [&](std::size_t, const std::string&) { fresh = &f.enroll("root", {}, 0); });
    assert_non_null(fresh);
    assert_int_equal(r.prompts.size(), 1);
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(*fresh)}).rc, PAM_SUCCESS);
    // The old key's code never logged in: it is not used, just no longer valid.
    assert_false(f.token_record(e).has_value() && f.token_record(e)->used_until > 0);
}

// And the file removed while the prompt is open: denied.
void removal_reaches_an_open_prompt(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)}, {}, 0,
                                  [&](std::size_t, const std::string&) { (void)::unlink(e.path.c_str()); });
    assert_int_equal(r.rc, PAM_AUTH_ERR);
}

// The whole directory replaced while the prompt is open (moved aside and
// made anew, or a link to it switched to another): the file is read again
// by its path under the lock, so the old key's code is refused.
void directory_swap_reaches_an_open_prompt(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    const std::string dir = f.secrets_dir();
    const Enrollment* fresh = nullptr;
    const LoginResult moved = f.login("totp", "root", {Fixture::code(e)}, {}, 0, [&](std::size_t, const std::string&) {
        assert_int_equal(::rename(dir.c_str(), (dir + ".old").c_str()), 0);
        assert_int_equal(::mkdir(dir.c_str(), 0700), 0);
        fresh = &f.enroll("root", {}, 0);
    });
    assert_non_null(fresh);
    assert_int_equal(moved.rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(*fresh)}).rc, PAM_SUCCESS);
    // A link naming the directory, switched during the prompt.
    assert_int_equal(::rename(dir.c_str(), (dir + ".v1").c_str()), 0);
    assert_int_equal(::symlink((dir + ".v1").c_str(), dir.c_str()), 0);
    const auto& v1 = f.enroll("root", {}, 0);
    assert_int_equal(::mkdir((dir + ".v2").c_str(), 0700), 0);
    const LoginResult switched =
        f.login("totp", "root", {Fixture::code(v1, 1)}, {}, 0, [&](std::size_t, const std::string&) {
            assert_int_equal(::unlink(dir.c_str()), 0);
            assert_int_equal(::symlink((dir + ".v2").c_str(), dir.c_str()), 0);
            (void)f.enroll("root", {}, 0);
        });
    assert_int_equal(switched.rc, PAM_AUTH_ERR);
}

// Finding 6: re-enrolling the same key with period 15 -> 30 s. Replay
// state in absolute time: the time the 15 s code covered stays used, and
// TOTP works again within a minute (before: "already used" for decades,
// the last step being counted in the old period's units).
void longer_period_keeps_totp_working(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    f.align_clock(30, 1);  // 1 s into a 30 s step, so 1 s into a 15 s step too
    const auto& short_period = f.enroll("root", with_period(15), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(short_period)}).rc, PAM_SUCCESS);

    pamtest::EnrollSpec spec;
    spec.user = "root";
    spec.params = with_period(30);
    spec.key_of = &short_period;
    spec.recovery = 0;
    const auto& long_period = f.enroll(spec);
    // The current 30 s step overlaps the 15 s step just used: refused.
    const LoginResult same_time = f.login("totp", "root", {Fixture::code(long_period)});
    assert_int_equal(same_time.rc, PAM_AUTH_ERR);
    assert_true(same_time.said("already used"));
    // The next 30 s step, within the window now: accepted.
    assert_int_equal(f.login("totp", "root", {Fixture::code(long_period, 1)}).rc, PAM_SUCCESS);
}

// The other way, 30 -> 15 s: the 15 s codes of the time already used are
// refused (no code of a used time works under a shorter period), and 15 s
// later the next one works.
void shorter_period_refuses_the_used_time(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    f.align_clock(30, 1);
    const auto& long_period = f.enroll("root", with_period(30), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(long_period)}).rc, PAM_SUCCESS);

    pamtest::EnrollSpec spec;
    spec.user = "root";
    spec.params = with_period(15);
    spec.key_of = &long_period;
    spec.recovery = 0;
    const auto& short_period = f.enroll(spec);
    assert_int_equal(f.login("totp", "root", {Fixture::code(short_period)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(short_period, 1)}).rc, PAM_AUTH_ERR);
    f.advance_clock(15);
    assert_int_equal(f.login("totp", "root", {Fixture::code(short_period, 1)}).rc, PAM_SUCCESS);
}

// Finding 7: totp-enroll records `confirmed`, the end of the step whose
// code confirmed the enrollment; that code (and earlier ones) must not log
// in, the next step's does.
void confirmation_code_does_not_log_in(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    f.align_clock(30, 1);
    const std::time_t now = ::time(nullptr);
    pamtest::EnrollSpec spec;
    spec.user = "root";
    spec.recovery = 0;
    spec.confirmed = now - now % 30 + 30;  // the end of the current step
    const auto& e = f.enroll(spec);
    const LoginResult shown = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(shown.rc, PAM_AUTH_ERR);
    assert_true(shown.said("already used"));
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, -1)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, 1)}).rc, PAM_SUCCESS);
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_recovery_codes_reach_an_open_prompt, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(reenrollment_reaches_an_open_prompt, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(removal_reaches_an_open_prompt, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(directory_swap_reaches_an_open_prompt, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(longer_period_keeps_totp_working, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(shorter_period_refuses_the_used_time, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(confirmation_code_does_not_log_in, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests_name("pam_reenroll", tests, nullptr, nullptr);
}
