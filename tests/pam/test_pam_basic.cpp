// pam_totp.so through the real libpam: exports, codes, prompts, options,
// nullok and the first-pass options.
#include <dlfcn.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;
using pamtest::LoginResult;

pam_totp::TotpParams params(pam_totp::Algorithm alg, unsigned digits) {
    pam_totp::TotpParams p;
    p.algorithm = alg;
    p.digits = digits;
    return p;
}

// No log line may carry a code that was typed.
void assert_logs_free_of(Fixture& f, const std::string& secret_text) {
    for (const std::string& line : f.drain_logs()) {
        if (line.find(secret_text) != std::string::npos) {
            fail_msg("a log line carries a typed code: %s", line.c_str());
        }
    }
}

// --- exports ------------------------------------------------------------------

void exports_only_the_pam_entry_points(void** state) {
    (void)pamtest::get(state);
    const std::string module = Fixture::module_path();
    void* h = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
        fail_msg("dlopen(RTLD_NOW) %s: %s", module.c_str(), ::dlerror());
    }
    assert_non_null(::dlsym(h, "pam_sm_authenticate"));
    assert_non_null(::dlsym(h, "pam_sm_setcred"));
    // Internal C++ names must stay hidden.
    assert_null(::dlsym(h, "_ZN8pam_totp16pam_authenticateEP10pam_handleiiPPKc"));
    assert_null(::dlsym(h, "_ZN8pam_totp20parse_module_optionsEiPKPKc"));
    ::dlclose(h);

    const std::string cmd = "nm -D --defined-only '" + module + "' 2>/dev/null";
    FILE* p = ::popen(cmd.c_str(), "r");
    assert_non_null(p);
    std::set<std::string> names;
    char line[1024];
    while (std::fgets(line, sizeof line, p) != nullptr) {
        std::string s(line);
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
            s.pop_back();
        }
        const auto sp = s.rfind(' ');
        if (sp != std::string::npos) {
            names.insert(s.substr(sp + 1));
        }
    }
    const int rc = ::pclose(p);
    assert_int_equal(rc, 0);
    for (const std::string& n : names) {
        if (n != "pam_sm_authenticate" && n != "pam_sm_setcred") {
            fail_msg("unexpected exported symbol: %s", n.c_str());
        }
    }
    assert_int_equal(names.size(), 2);
}

// --- codes --------------------------------------------------------------------

void current_code_accepted_once(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root");
    const std::string code = Fixture::code(e);

    const LoginResult first = f.login("totp", "root", {code});
    assert_int_equal(first.rc, PAM_SUCCESS);
    assert_int_equal(first.prompts.size(), 1);
    // The secret's replay record: codes of steps up to this one are used.
    const auto record = f.token_record(e);
    assert_true(record.has_value());
    assert_true(record->used_until > ::time(nullptr));

    // The same step again (a new handle: a second login) is a replay.
    const LoginResult second = f.login("totp", "root", {code});
    assert_int_equal(second.rc, PAM_AUTH_ERR);
    assert_int_equal(second.prompts.size(), 1);
    assert_true(second.said("already used"));
    f.expect_log("code accepted", LOG_INFO);
    f.expect_log("replay refused", LOG_NOTICE);
    assert_logs_free_of(f, code);
}

void bad_answers_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root");
    const std::vector<std::string> bad = {
        Fixture::wrong_code(e),
        "",
        "abcdef",
        std::string(300, '7'),
        "12\x01"
        "456",
        "\t\t\t\t\t\t",
        Fixture::code(e) + "\n",
        " " + Fixture::code(e),
        Fixture::code(e).substr(0, 5),
    };
    for (const std::string& answer : bad) {
        const LoginResult r = f.login("totp", "root", {answer});
        if (r.rc != PAM_AUTH_ERR) {
            fail_msg("answer of %zu bytes: rc %d, expected PAM_AUTH_ERR", answer.size(), r.rc);
        }
        assert_int_equal(r.prompts.size(), 1);
    }
    // The failures were about the answers: the real code still works.
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

void sha256_eight_digits(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("daemon", params(pam_totp::Algorithm::sha256, 8));
    const std::string code = Fixture::code(e);
    assert_int_equal(code.size(), 8);
    // The last six digits alone are not the code.
    assert_int_equal(f.login("totp", "daemon", {code.substr(2)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "daemon", {code}).rc, PAM_SUCCESS);
}

void sha512_eight_digits(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("bin", params(pam_totp::Algorithm::sha512, 8));
    const std::string code = Fixture::code(e);
    assert_int_equal(code.size(), 8);
    assert_int_equal(f.login("totp", "bin", {code}).rc, PAM_SUCCESS);
    assert_int_equal(f.login("totp", "bin", {code}).rc, PAM_AUTH_ERR);
}

void window_zero_refuses_neighbour_steps(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "window=0 deny=100");
    const auto& e = f.enroll("root");
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, -2)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, 2)}).rc, PAM_AUTH_ERR);
    f.service("totp", "window=2 deny=100");
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, 2)}).rc, PAM_SUCCESS);
    // Accepting step now+2 makes every earlier step a replay.
    assert_int_equal(f.login("totp", "root", {Fixture::code(e, 0)}).rc, PAM_AUTH_ERR);
}

void unknown_user_is_still_prompted(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const LoginResult r = f.login("totp", "pamtotp-no-such-user", {"123456"});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(r.prompts.size(), 1);
}

void silent_flag_suppresses_messages(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root");
    const std::string code = Fixture::code(e);
    assert_int_equal(f.login("totp", "root", {code}).rc, PAM_SUCCESS);
    const LoginResult r = f.login("totp", "root", {code}, {}, PAM_SILENT);
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_true(r.infos.empty());
    assert_true(r.errors.empty());
}

// --- prompts ------------------------------------------------------------------

void default_prompt_echo_off(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(r.prompts.size(), 1);
    assert_string_equal(r.prompts[0].text.c_str(), "Verification code: ");
    assert_int_equal(r.prompts[0].style, PAM_PROMPT_ECHO_OFF);
}

void prompt_option_with_spaces(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("totp", "auth required " + f.module_args() + " [prompt=Your code: ]\n");
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(r.prompts.size(), 1);
    assert_string_equal(r.prompts[0].text.c_str(), "Your code: ");
}

void echo_code_echoes(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "echo_code");
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(r.prompts.size(), 1);
    assert_int_equal(r.prompts[0].style, PAM_PROMPT_ECHO_ON);
}

// --- options ------------------------------------------------------------------

void bad_options_fail_closed(void** state) {
    Fixture& f = pamtest::get(state);
    const auto& e = f.enroll("root");
    const std::vector<std::string> bad = {
        "bogus",
        "window=abc",
        "deny=0",
        "window=11",
        "unlock_time=10 max_unlock_time=5",
        "deny=3 deny=3",
        "nullok nullok",
        "nullok=1",
        "window",
        "window=-1",
        "deny=101",
        "fail_interval=0",
        "unlock_time=99999999999",
        "state_dir=relative/dir",
        "try_first_pass use_first_pass",
    };
    for (const std::string& opts : bad) {
        f.service("totp", opts);
        const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
        if (r.rc != PAM_AUTH_ERR) {
            fail_msg("options '%s': rc %d, expected PAM_AUTH_ERR", opts.c_str(), r.rc);
        }
        if (!r.prompts.empty()) {
            fail_msg("options '%s': prompted although the configuration is broken", opts.c_str());
        }
    }
    // The same code under a good configuration: it was valid all along.
    f.service("totp", "deny=3");
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

// Issue 12, finding 12: an unknown option is named in the log when it
// looks like an option name, and never echoed otherwise (a secret pasted
// into the PAM line must not reach syslog).
void unknown_option_logged_by_name_only(void** state) {
    Fixture& f = pamtest::get(state);
    const auto& e = f.enroll("root");
    f.service("pasted", "deny=3 JBSWY3DPEHPK3PXP");
    const LoginResult pasted = f.login("pasted", "root", {Fixture::code(e)});
    assert_int_equal(pasted.rc, PAM_AUTH_ERR);
    assert_true(pasted.prompts.empty());
    f.expect_log("unknown option (argument 4, not shown)", LOG_ERR);
    f.expect_no_log("JBSWY3DPEHPK3PXP");

    f.service("typo", "nosuchoption");
    assert_int_equal(f.login("typo", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    f.expect_log("unknown option 'nosuchoption'", LOG_ERR);

    // A value is never echoed either: secret=... is a known option whose
    // value is a path, but a malformed one names the option only.
    f.service("value", "window=JBSWY3DPEHPK3PXQ");
    assert_int_equal(f.login("value", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    f.expect_log("window", LOG_ERR);
    f.expect_no_log("JBSWY3DPEHPK3PXQ");
}

// --- nullok -------------------------------------------------------------------

void no_secret_without_nullok_denies_after_prompt(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const LoginResult r = f.login("totp", "root", {"123456"});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(r.prompts.size(), 1);
}

void nullok_without_secret_is_ignored(void** state) {
    Fixture& f = pamtest::get(state);
    // Alone in the stack: libpam turns "every module ignored" into a failure.
    f.service("alone", "nullok");
    const LoginResult alone = f.login("alone", "root", {});
    assert_int_not_equal(alone.rc, PAM_SUCCESS);
    assert_int_equal(alone.rc, PAM_PERM_DENIED);
    assert_true(alone.prompts.empty());
    // Followed by pam_permit: the module stepped aside.
    f.service_text("stack", "auth required " + f.module_args() + " nullok\nauth required pam_permit.so\n");
    const LoginResult stacked = f.login("stack", "root", {});
    assert_int_equal(stacked.rc, PAM_SUCCESS);
    assert_true(stacked.prompts.empty());
    // The stack without nullok fails with the module's own code.
    f.service_text("strict", "auth required " + f.module_args() + "\nauth required pam_permit.so\n");
    const LoginResult strict = f.login("strict", "root", {"123456"});
    assert_int_equal(strict.rc, PAM_AUTH_ERR);
    assert_int_equal(strict.prompts.size(), 1);
}

void nullok_with_malformed_secret_denies(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("stack", "auth required " + f.module_args() + " nullok\nauth required pam_permit.so\n");
    pamtest::write_file(f.secrets_dir() + "/root", "version 1\nthis is not a secret file\n", 0600);
    const LoginResult r = f.login("stack", "root", {"123456"});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_int_equal(r.prompts.size(), 1);
}

// --- first pass / forward pass -----------------------------------------------

void forward_pass_splits_password_and_code(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("totp", "auth required " + f.module_args() + " forward_pass\n" + f.authtok_probe());
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {"secretpw" + Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(r.prompts.size(), 1);
    assert_string_equal(r.prompts[0].text.c_str(), "Password & verification code: ");
    assert_int_equal(r.prompts[0].style, PAM_PROMPT_ECHO_OFF);
    const auto tok = f.captured_authtok();
    assert_true(tok.has_value());
    assert_string_equal(tok->c_str(), "secretpw");
}

void forward_pass_wrong_code_denies(void** state) {
    Fixture& f = pamtest::get(state);
    f.service_text("totp", "auth requisite " + f.module_args() + " forward_pass\n" + f.authtok_probe());
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {"secretpw" + Fixture::wrong_code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_false(f.captured_authtok().has_value());
}

void use_first_pass_without_authtok_denies_silently(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "use_first_pass");
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_AUTH_ERR);
    assert_true(r.prompts.empty());
}

void try_first_pass_without_authtok_prompts(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "try_first_pass");
    const auto& e = f.enroll("root");
    const LoginResult r = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(r.prompts.size(), 1);
    assert_string_equal(r.prompts[0].text.c_str(), "Verification code: ");
}

// pam_stress (libpam-modules) asks "STRESS Password: " and stores the answer
// as PAM_AUTHTOK: a stock module in front of ours, as pam_unix would be.
void first_pass_takes_code_from_previous_module(void** state) {
    Fixture& f = pamtest::get(state);
    const auto& e = f.enroll("root");
    f.service_text("use", "auth required pam_stress.so\nauth required " + f.module_args() + " use_first_pass\n" +
                              f.authtok_probe());
    const std::string code = Fixture::code(e);
    const LoginResult r = f.login("use", "root", {"hunter2" + code});
    assert_int_equal(r.rc, PAM_SUCCESS);
    assert_int_equal(r.prompts.size(), 1);  // only pam_stress asked
    const auto tok = f.captured_authtok();
    assert_true(tok.has_value());
    assert_string_equal(tok->c_str(), "hunter2");  // the code is taken off

    // use_first_pass with a token that carries no code: denied, no prompt of ours.
    const LoginResult no_code = f.login("use", "root", {"justapassword"});
    assert_int_equal(no_code.rc, PAM_AUTH_ERR);
    assert_int_equal(no_code.prompts.size(), 1);

    // try_first_pass with no code in the token: falls back to our prompt.
    f.service_text("try", "auth required pam_stress.so\nauth required " + f.module_args() + " try_first_pass\n");
    const LoginResult fallback = f.login("try", "root", {"justapassword", Fixture::code(e, 1)});
    assert_int_equal(fallback.rc, PAM_SUCCESS);
    assert_int_equal(fallback.prompts.size(), 2);
    assert_string_equal(fallback.prompts[1].text.c_str(), "Verification code: ");
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exports_only_the_pam_entry_points, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(current_code_accepted_once, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(bad_answers_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(sha256_eight_digits, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(sha512_eight_digits, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(window_zero_refuses_neighbour_steps, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(unknown_user_is_still_prompted, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(silent_flag_suppresses_messages, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(default_prompt_echo_off, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(prompt_option_with_spaces, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(echo_code_echoes, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(bad_options_fail_closed, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(unknown_option_logged_by_name_only, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(no_secret_without_nullok_denies_after_prompt, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(nullok_without_secret_is_ignored, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(nullok_with_malformed_secret_denies, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(forward_pass_splits_password_and_code, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(forward_pass_wrong_code_denies, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(use_first_pass_without_authtok_denies_silently, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(try_first_pass_without_authtok_prompts, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(first_pass_takes_code_from_previous_module, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
