// forward_pass defer through the real libpam (issue 12, finding 5): one
// prompt for password and code, the password checked by a real password
// module (pam_exec with expose_authtok and a script comparing it) before
// the code is checked, so that only attempts with the right password
// count towards the lockout, and nobody learns of a lockout without it:
//
//   auth requisite pam_totp.so forward_pass defer ...   collects, PAM_IGNORE
//   auth requisite pam_exec.so expose_authtok ... CHECK the password
//   auth required  pam_totp.so ...                     checks the kept code
#include <syslog.h>

#include <string>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;
using pamtest::LoginResult;

constexpr const char* password = "hunter2";
constexpr const char* forward_prompt = "Password & verification code: ";
// What the stack returns for a wrong password: pam_exec's code for a
// program that exits non-zero (the password module decides, not pam_totp).
constexpr int wrong_password_rc = PAM_SYSTEM_ERR;

// The three-line stack, with `options` on both pam_totp lines.
void defer_stack(Fixture& f, const std::string& options) {
    f.service_text("login", "auth requisite " + f.module_args() + " forward_pass defer " + options + "\n" +
                                f.password_check(password) + "auth required " + f.module_args() + " " + options + "\n");
}

void assert_one_forward_prompt(const LoginResult& r) {
    assert_int_equal(r.prompts.size(), 1);
    assert_string_equal(r.prompts[0].text.c_str(), forward_prompt);
}

void right_password_and_code_log_in_once(void** state) {
    Fixture& f = pamtest::get(state);
    defer_stack(f, "deny=3");
    const auto& e = f.enroll("root", {}, 1);
    const std::string code = Fixture::code(e);
    int setcred = -1;
    const LoginResult ok = f.login("login", "root", {password + code},
                                   [&](pam_handle_t* h) { setcred = ::pam_setcred(h, PAM_ESTABLISH_CRED); });
    assert_int_equal(ok.rc, PAM_SUCCESS);
    assert_one_forward_prompt(ok);
    assert_int_equal(setcred, PAM_SUCCESS);  // the kept code was checked
    const LoginResult replay = f.login("login", "root", {password + code});
    assert_int_equal(replay.rc, PAM_AUTH_ERR);
    assert_true(replay.said("already used"));
    // A recovery code after the password works the same way.
    assert_int_equal(f.login("login", "root", {std::string(password) + e.recovery_codes[0]}).rc, PAM_SUCCESS);
}

// A wrong password with wrong codes, many more times than deny: nothing is
// counted (the user is not locked, and logs in at once with the right
// password and code), and nothing about the code is said.
void wrong_password_attempts_do_not_count(void** state) {
    Fixture& f = pamtest::get(state);
    defer_stack(f, "deny=3 unlock_time=600");
    const auto& e = f.enroll("root", {}, 0);
    for (int i = 0; i < 10; ++i) {
        const LoginResult r = f.login("login", "root", {"wrongpw" + Fixture::wrong_code(e)});
        assert_int_equal(r.rc, wrong_password_rc);
        assert_one_forward_prompt(r);
        assert_true(r.infos.empty());
        assert_true(r.errors.empty());
    }
    // A wrong password with the right code does not spend the code either.
    const std::string code = Fixture::code(e);
    assert_int_equal(f.login("login", "root", {"wrongpw" + code}).rc, wrong_password_rc);
    const auto st = f.account_state("root");
    assert_true(!st.has_value() || (st->record.budget.since_success == 0 && st->record.budget.lockouts == 0));
    assert_int_equal(f.login("login", "root", {password + code}).rc, PAM_SUCCESS);
}

// The right password with wrong codes counts: deny of them lock, and the
// user (who gave the right password) is told.
void right_password_wrong_code_counts(void** state) {
    Fixture& f = pamtest::get(state);
    defer_stack(f, "deny=3 unlock_time=600");
    const auto& e = f.enroll("root", {}, 0);
    for (int i = 0; i < 3; ++i) {
        const LoginResult r = f.login("login", "root", {password + Fixture::wrong_code(e)});
        assert_int_equal(r.rc, PAM_AUTH_ERR);
        assert_int_equal(r.said("locked"), i == 2);
    }
    assert_int_equal(f.account_state("root")->record.budget.lockouts, 1);
    const LoginResult locked = f.login("login", "root", {password + Fixture::code(e)});
    assert_int_equal(locked.rc, PAM_AUTH_ERR);
    assert_true(locked.said("locked"));
    f.expect_log("too many wrong codes", LOG_WARNING);
}

// A locked-out user is not told so before the password is checked: a
// wrong password gets the same prompt and the same silence as always, and
// changes nothing in the state.
void lockout_not_revealed_without_the_password(void** state) {
    Fixture& f = pamtest::get(state);
    defer_stack(f, "deny=2 unlock_time=600");
    const auto& e = f.enroll("root", {}, 0);
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(f.login("login", "root", {password + Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    }
    const std::string before = f.state_text("root");
    assert_string_equal(pamtest::line_value(before, "lockouts").c_str(), "1");
    for (const std::string& code : {Fixture::code(e), Fixture::wrong_code(e)}) {
        const LoginResult r = f.login("login", "root", {"wrongpw" + code});
        assert_int_equal(r.rc, wrong_password_rc);
        assert_one_forward_prompt(r);
        assert_true(r.infos.empty());
        assert_true(r.errors.empty());
    }
    assert_true(f.state_text("root") == before);
    // With the password, the lockout is told.
    assert_true(f.login("login", "root", {password + Fixture::code(e)}).said("locked"));
}

// A stack with the defer line but no check line after the password module
// logs in on the password alone: the module cannot see the stack, so it
// cannot refuse; it says so at LOG_CRIT when the transaction ends (and the
// defer line returns PAM_IGNORE, so it grants nothing by itself). With the
// check line the same stack needs the code.
void defer_without_check_line_is_logged(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("broken", "auth requisite " + f.module_args() + " forward_pass defer\n" +
                                 f.password_check(password, "required") + "auth required pam_permit.so\n");
    const auto& e = f.enroll("root", {}, 0);
    const LoginResult r = f.login("broken", "root", {password + Fixture::wrong_code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);  // the stack as written: the code is never looked at
    f.expect_log("forward_pass defer kept a code that no pam_totp line checked, and the login succeeded", LOG_CRIT);

    f.service_text("fixed", "auth requisite " + f.module_args() + " forward_pass defer\n" +
                                f.password_check(password, "requisite") + "auth required " + f.module_args() + "\n");
    assert_int_equal(f.login("fixed", "root", {password + Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
}

// The defer line alone grants nothing, whatever its control: "sufficient"
// on it does not let a login through.
void defer_line_grants_nothing(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("sufficient",
                   "auth sufficient " + f.module_args() + " forward_pass defer\nauth required pam_deny.so\n");
    const auto& e = f.enroll("root", {}, 0);
    assert_int_equal(f.login("sufficient", "root", {password + Fixture::code(e)}).rc, PAM_AUTH_ERR);
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(right_password_and_code_log_in_once, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(wrong_password_attempts_do_not_count, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(right_password_wrong_code_counts, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(lockout_not_revealed_without_the_password, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(defer_without_check_line_is_logged, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(defer_line_grants_nothing, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests_name("pam_defer", tests, nullptr, nullptr);
}
