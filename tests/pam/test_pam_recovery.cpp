// Recovery codes through the real libpam: each accepted once, in any of the
// ways a person types it, remembered in the secret's replay record (by a
// tag that does not depend on the hash's salt) across logins.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;
using pamtest::LoginResult;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string without_dashes(std::string s) {
    s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
    return s;
}

std::string with_spaces(const std::string& printed) {
    std::string s = printed;
    std::replace(s.begin(), s.end(), '-', ' ');
    return s;
}

void each_typing_accepted_once(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 4);
    const std::vector<std::string> typed = {
        e.recovery_codes[0],                  // as printed
        lower(e.recovery_codes[1]),           // lower case
        without_dashes(e.recovery_codes[2]),  // no dashes
        with_spaces(e.recovery_codes[3]),     // spaces for dashes
    };
    for (std::size_t i = 0; i < typed.size(); ++i) {
        const LoginResult ok = f.login("totp", "root", {typed[i]});
        if (ok.rc != PAM_SUCCESS) {
            fail_msg("recovery code #%zu (typed form %zu): rc %d", i, i, ok.rc);
        }
        assert_true(ok.said("Recovery code accepted"));
        assert_true(ok.said(std::to_string(typed.size() - 1 - i) + " recovery code"));
        assert_int_equal(f.token_record(e)->used_recovery.size(), i + 1);
        // The same code again, in the printed form: used up.
        const LoginResult again = f.login("totp", "root", {e.recovery_codes[i]});
        if (again.rc != PAM_AUTH_ERR) {
            fail_msg("recovery code #%zu accepted twice (rc %d)", i, again.rc);
        }
    }
}

void used_code_stays_used_for_new_logins(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 2);
    assert_int_equal(f.login("totp", "root", {e.recovery_codes[0]}).rc, PAM_SUCCESS);
    const std::string after_use = f.state_text("root");
    assert_int_equal(pamtest::count_lines(after_use, "recovery_used"), 1);
    // "TAG:SETTING": the tag, and the setting of the hash it matched.
    const std::string used = pamtest::line_value(after_use, "recovery_used");
    const std::string setting = e.recovery_hashes[0].substr(0, e.recovery_hashes[0].rfind('$'));
    assert_string_equal(used.substr(16).c_str(), (":" + setting).c_str());
    // Later logins (each a fresh pam handle, nothing kept in memory).
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(f.login("totp", "root", {lower(e.recovery_codes[0])}).rc, PAM_AUTH_ERR);
    }
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "recovery_used"), 1);
    // The other code is still good.
    assert_int_equal(f.login("totp", "root", {e.recovery_codes[1]}).rc, PAM_SUCCESS);
}

void no_recovery_refuses_a_valid_code(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "no_recovery deny=100");
    const auto& e = f.enroll("root", {}, 2);
    const LoginResult r = f.login("totp", "root", {e.recovery_codes[0]});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(pamtest::count_lines(f.state_text("root"), "recovery_used"), 0);
    // Without the option the same code is accepted: it was valid.
    f.service("totp", "deny=100");
    assert_int_equal(f.login("totp", "root", {e.recovery_codes[0]}).rc, PAM_SUCCESS);
}

void other_users_codes_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& root = f.enroll("root", {}, 1);
    (void)f.enroll("daemon", {}, 1);
    assert_int_equal(f.login("totp", "daemon", {root.recovery_codes[0]}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {root.recovery_codes[0]}).rc, PAM_SUCCESS);
}

void forward_pass_with_recovery_code(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("totp", "auth required " + f.module_args() + " forward_pass\n" + f.authtok_probe());
    const auto& e = f.enroll("root", {}, 1);
    const LoginResult r = f.login("totp", "root", {"pw:" + e.recovery_codes[0]});
    assert_int_equal(r.rc, PAM_SUCCESS);
    const auto tok = f.captured_authtok();
    assert_true(tok.has_value());
    assert_string_equal(tok->c_str(), "pw:");
}

double median_login_seconds(Fixture& f, const std::string& answer) {
    std::vector<double> t;
    for (int i = 0; i < 5; ++i) {
        const double start = pamtest::now_seconds();
        const LoginResult r = f.login("totp", "root", {answer});
        t.push_back(pamtest::now_seconds() - start);
        if (r.rc != PAM_AUTH_ERR) {
            fail_msg("timing probe accepted (rc %d)", r.rc);
        }
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// A code-shaped answer goes to the HMAC only: a wrong one must cost far less
// than a wrong recovery code (yescrypt for each unused hash).
void totp_answer_never_runs_the_slow_hash(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 3);
    const std::string wrong_recovery = "2222-3333-4444";
    const double totp = median_login_seconds(f, Fixture::wrong_code(e));
    const double recovery = median_login_seconds(f, wrong_recovery);
    print_message("wrong TOTP code: %.1f ms, wrong recovery code: %.1f ms\n", totp * 1e3, recovery * 1e3);
    if (!(totp * 3 < recovery)) {
        fail_msg("a wrong TOTP answer took %.1f ms, a wrong recovery code %.1f ms", totp * 1e3, recovery * 1e3);
    }
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(each_typing_accepted_once, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(used_code_stays_used_for_new_logins, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(no_recovery_refuses_a_valid_code, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(other_users_codes_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(forward_pass_with_recovery_code, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(totp_answer_never_runs_the_slow_hash, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
