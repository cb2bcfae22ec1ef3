// One representative run of the module for valgrind (no fork, no sleeps):
// a successful login, a wrong code, a replay and a recovery code. make
// check-pam runs it natively too; under
//   valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
// any invalid access or definite leak in the module (or libpam's use of it)
// fails the run.
#include <string>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;
using pamtest::LoginResult;

void representative_logins(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 1);
    const std::string code = Fixture::code(e);

    const LoginResult ok = f.login("totp", "root", {code});
    assert_int_equal(ok.rc, PAM_SUCCESS);
    const LoginResult replay = f.login("totp", "root", {code});
    assert_int_equal(replay.rc, PAM_AUTH_ERR);
    assert_true(replay.said("already used"));
    const LoginResult wrong = f.login("totp", "root", {Fixture::wrong_code(e)});
    assert_int_equal(wrong.rc, PAM_AUTH_ERR);
    const LoginResult recovery = f.login("totp", "root", {e.recovery_codes[0]});
    assert_int_equal(recovery.rc, PAM_SUCCESS);
    assert_true(recovery.said("Recovery code accepted"));
}

void refusals_and_bad_options(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "bogus_option");
    assert_int_equal(f.login("totp", "root", {"123456"}).rc, PAM_AUTH_ERR);
    f.service("totp", "");
    // No secret file: denied after the prompt.
    assert_int_equal(f.login("totp", "root", {"123456"}).rc, PAM_AUTH_ERR);
    // Forward pass with a password in front.
    const auto& e = f.enroll("root", {}, 0);
    f.service("totp", "forward_pass");
    assert_int_equal(f.login("totp", "root", {"pw" + Fixture::code(e)}).rc, PAM_SUCCESS);
}

}  // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(representative_logins, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(refusals_and_bad_options, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
