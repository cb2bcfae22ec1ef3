// parse_module_options: every option, its defaults, and every refusal naming
// the option at fault.
#include <string>
#include <vector>

#include "core/login/module_options.h"
#include "core/otp/hotp.h"

#include "cmocka.hpp"

namespace {

using pam_totp::FirstPass;
using pam_totp::ModuleOptions;
using pam_totp::Result;

Result<ModuleOptions> parse(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    for (const std::string& a : args) {
        argv.push_back(a.c_str());
    }
    return pam_totp::parse_module_options(static_cast<int>(argv.size()), argv.data());
}

void defaults(void** /*state*/) {
    const auto r = pam_totp::parse_module_options(0, nullptr);
    assert_true(r.ok());
    const ModuleOptions& o = r.value();
    assert_string_equal(o.secret.c_str(), "~/.pam_totp");
    assert_string_equal(o.state_dir.c_str(), "/var/lib/pam_totp");
    assert_false(o.nullok);
    assert_false(o.window.has_value());
    assert_int_equal(o.hotp_window, 10);
    assert_int_equal(o.hotp_window, pam_totp::default_hotp_window);
    assert_int_equal(o.rate.deny, 5);
    assert_int_equal(o.rate.fail_interval, 900);
    assert_int_equal(o.rate.unlock_time, 300);
    assert_int_equal(o.rate.max_unlock_time, 86400);
    assert_string_equal(o.prompt.c_str(), "Verification code: ");
    assert_false(o.echo_code);
    assert_true(o.first_pass == FirstPass::none);
    assert_false(o.forward_pass);
    assert_false(o.defer);
    assert_false(o.no_recovery);
    assert_false(o.debug);
    assert_true(o.store == pam_totp::StoreKind::file);
    assert_string_equal(o.store_config.c_str(), "/etc/pam_totp/store.conf");
    assert_string_equal(o.helper.c_str(), PAM_TOTP_HELPER);
}

void every_option(void** /*state*/) {
    const auto r =
        parse({"secret=/etc/pam_totp/%u", "state_dir=/run/totp", "nullok", "window=3", "hotp_window=25", "deny=7",
               "fail_interval=60", "unlock_time=30", "max_unlock_time=120", "prompt=Code: ", "echo_code",
               "try_first_pass", "forward_pass", "defer", "no_recovery", "debug", "store=postgresql",
               "store_config=/etc/pam_totp/fleet.conf", "helper=/usr/local/sbin/pam_totp_check"});
    if (!r) {
        fail_msg("%s", r.error().message.c_str());
    }
    const ModuleOptions& o = r.value();
    assert_string_equal(o.secret.c_str(), "/etc/pam_totp/%u");
    assert_string_equal(o.state_dir.c_str(), "/run/totp");
    assert_true(o.nullok);
    assert_int_equal(o.window.value(), 3);
    assert_int_equal(o.hotp_window, 25);
    assert_int_equal(o.rate.deny, 7);
    assert_int_equal(o.rate.fail_interval, 60);
    assert_int_equal(o.rate.unlock_time, 30);
    assert_int_equal(o.rate.max_unlock_time, 120);
    assert_string_equal(o.prompt.c_str(), "Code: ");
    assert_true(o.echo_code);
    assert_true(o.first_pass == FirstPass::try_);
    assert_true(o.forward_pass);
    assert_true(o.defer);
    assert_true(o.no_recovery);
    assert_true(o.debug);
    assert_true(o.store == pam_totp::StoreKind::postgresql);
    assert_string_equal(o.store_config.c_str(), "/etc/pam_totp/fleet.conf");
    assert_string_equal(o.helper.c_str(), "/usr/local/sbin/pam_totp_check");

    const auto u = parse({"use_first_pass"});
    assert_true(u.ok());
    assert_true(u.value().first_pass == FirstPass::use);
}

void range_limits_accepted(void** /*state*/) {
    assert_true(parse({"window=0"}).ok());
    assert_true(parse({"window=10"}).ok());
    // hotp_window: 0 (the next counter only) to max_hotp_window.
    for (const unsigned w : {0U, 1U, 100U}) {
        const auto h = parse({"hotp_window=" + std::to_string(w)});
        assert_true(h.ok());
        assert_int_equal(h.value().hotp_window, w);
    }
    assert_int_equal(pam_totp::max_hotp_window, 100);
    assert_true(parse({"deny=1"}).ok());
    assert_true(parse({"deny=100"}).ok());
    assert_true(parse({"fail_interval=1", "unlock_time=1", "max_unlock_time=1"}).ok());
    assert_true(parse({"fail_interval=31536000"}).ok());
    assert_true(parse({"unlock_time=5", "max_unlock_time=5"}).ok());
    // Order does not matter for the max_unlock_time >= unlock_time check.
    assert_true(parse({"max_unlock_time=10", "unlock_time=10"}).ok());
    assert_true(parse({"prompt=" + std::string(256, 'x')}).ok());
}

struct BadCase {
    std::vector<std::string> args;
    const char* names;  // the option the message must name
};

void each_error_names_the_option(void** /*state*/) {
    const std::vector<BadCase> cases = {
        {{"bogus"}, "bogus"},
        {{"secret"}, "secret"},
        {{"secret="}, "secret"},
        {{"state_dir="}, "state_dir"},
        {{"state_dir=relative"}, "state_dir"},
        {{"nullok=yes"}, "nullok"},
        {{"window=abc"}, "window"},
        {{"window=11"}, "window"},
        {{"window=-1"}, "window"},
        {{"window="}, "window"},
        {{"window"}, "window"},
        {{"hotp_window=101"}, "hotp_window"},
        {{"hotp_window=-1"}, "hotp_window"},
        {{"hotp_window=abc"}, "hotp_window"},
        {{"hotp_window=010"}, "hotp_window"},
        {{"hotp_window="}, "hotp_window"},
        {{"hotp_window"}, "hotp_window"},
        {{"hotp_window=99999999999999999999999"}, "hotp_window"},
        {{"hotp_window=3", "hotp_window=3"}, "hotp_window"},
        {{"deny=0"}, "deny"},
        {{"deny=101"}, "deny"},
        {{"deny=1x"}, "deny"},
        {{"fail_interval=0"}, "fail_interval"},
        {{"unlock_time=0"}, "unlock_time"},
        {{"max_unlock_time=31536001"}, "max_unlock_time"},
        {{"unlock_time=99999999999999999999999"}, "unlock_time"},
        {{"unlock_time=10", "max_unlock_time=5"}, "max_unlock_time"},
        {{"prompt="}, "prompt"},
        {{"prompt=" + std::string(257, 'x')}, "prompt"},
        {{"prompt=a\tb"}, "prompt"},
        {{"echo_code=1"}, "echo_code"},
        {{"deny=3", "deny=3"}, "deny"},
        {{"nullok", "nullok"}, "nullok"},
        {{"try_first_pass", "use_first_pass"}, "use_first_pass"},
        {{"debug", "debug"}, "debug"},
        {{"defer"}, "defer"},  // only with forward_pass
        {{"defer", "nullok"}, "defer"},
        {{"forward_pass", "defer=1"}, "defer"},
        {{"forward_pass", "defer", "defer"}, "defer"},
        {{"store=ldap"}, "store"},
        {{"store"}, "store"},
        {{"store_config=store.conf"}, "store_config"},
        {{"helper=pam_totp_check"}, "helper"},
        {{"helper="}, "helper"},
    };
    for (const BadCase& c : cases) {
        const auto r = parse(c.args);
        if (r.ok()) {
            fail_msg("accepted: %s", c.args.front().c_str());
        }
        assert_true(r.error().code == pam_totp::Errc::invalid_argument);
        if (r.error().message.find(c.names) == std::string::npos) {
            fail_msg("'%s': message '%s' does not name %s", c.args.back().c_str(), r.error().message.c_str(), c.names);
        }
    }
}

// An administrator may paste a secret by mistake: an unknown argument that
// does not look like an option name is never quoted, not even in part; one
// that does (a typo) is named, without its value.
void unknown_option_is_never_echoed(void** /*state*/) {
    const std::string pasted = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const std::vector<std::string> not_option_shaped = {
        pasted,
        "jbswy3dpehpk3pxp",                   // lower case, but with digits
        "JBSWY3DP=EHPK3PXP",                  // a '=' inside
        "abcdefghijklmnopqrstuvwxyzabcdefg",  // letters only, but longer than an option name
        "se cret",
        "Secret=/etc/x",
    };
    for (const std::string& arg : not_option_shaped) {
        const auto r = parse({"nullok", arg});
        assert_false(r.ok());
        const std::string& m = r.error().message;
        // No 4 characters of it in a row (the message's own words aside).
        for (std::size_t i = 0; i + 4 <= arg.size(); ++i) {
            const std::string piece = arg.substr(i, 4);
            if (piece.find_first_not_of("abcdefghijklmnopqrstuvwxyz_ ") != std::string::npos &&
                m.find(piece) != std::string::npos) {
                fail_msg("'%s' quoted in '%s'", piece.c_str(), m.c_str());
            }
        }
        assert_true(m.find(arg.substr(0, 8)) == std::string::npos);
        // The argument's position is named instead.
        if (m.find("argument 2") == std::string::npos) {
            fail_msg("message '%s' does not say which argument", m.c_str());
        }
    }
    // A typo of an option name is named, never its value.
    const auto typo = parse({"sekret=" + pasted});
    assert_false(typo.ok());
    assert_true(typo.error().message.find("'sekret'") != std::string::npos);
    assert_true(typo.error().message.find("JBSW") == std::string::npos);
}

// A malformed value is never quoted either (a secret pasted into prompt=,
// secret= or a number).
void malformed_values_are_not_quoted(void** /*state*/) {
    const std::string value = "Zq9ZECRET\x01";
    for (const char* name : {"secret", "state_dir", "window", "hotp_window", "deny", "fail_interval", "unlock_time",
                             "max_unlock_time", "prompt"}) {
        const auto r = parse({std::string(name) + "=" + value});
        assert_false(r.ok());
        assert_true(r.error().message.find(name) != std::string::npos);
        if (r.error().message.find("Zq9Z") != std::string::npos) {
            fail_msg("value quoted in '%s'", r.error().message.c_str());
        }
    }
    for (const char* flag :
         {"nullok", "echo_code", "try_first_pass", "forward_pass", "defer", "no_recovery", "debug"}) {
        const auto r = parse({std::string(flag) + "=Zq9ZECRET"});
        assert_false(r.ok());
        assert_true(r.error().message.find("takes no value") != std::string::npos);
        assert_true(r.error().message.find("Zq9Z") == std::string::npos);
    }
}

// The one table: every option is known, once; and a second time is refused.
void every_option_once_and_only_once(void** /*state*/) {
    const std::vector<std::string> all = {"secret=/x",         "state_dir=/y",    "nullok",          "window=1",
                                          "hotp_window=4",     "deny=2",          "fail_interval=3", "unlock_time=4",
                                          "max_unlock_time=5", "prompt=P",        "echo_code",       "try_first_pass",
                                          "forward_pass",      "defer",           "no_recovery",     "debug",
                                          "store=file",        "store_config=/z", "helper=/h"};
    assert_true(parse(all).ok());
    for (const std::string& arg : all) {
        std::vector<std::string> twice = all;
        twice.push_back(arg);
        const auto r = parse(twice);
        assert_false(r.ok());
        if (r.error().message.find("given twice") == std::string::npos) {
            fail_msg("%s twice: '%s'", arg.c_str(), r.error().message.c_str());
        }
    }
    // use_first_pass, the other way of the try_first_pass slot.
    assert_true(parse({"use_first_pass", "forward_pass", "defer"}).ok());
}

void null_argv_entry_refused(void** /*state*/) {
    const char* argv[] = {"nullok", nullptr};
    assert_false(pam_totp::parse_module_options(2, argv).ok());
}

}  // namespace

int main() {
    const CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_option),
        cmocka_unit_test(range_limits_accepted),
        cmocka_unit_test(each_error_names_the_option),
        cmocka_unit_test(unknown_option_is_never_echoed),
        cmocka_unit_test(malformed_values_are_not_quoted),
        cmocka_unit_test(every_option_once_and_only_once),
        cmocka_unit_test(null_argv_entry_refused),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
