// parse_module_options: every option, its defaults, and every refusal naming
// the option at fault.
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/login/module_options.h"

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
    assert_int_equal(o.rate.deny, 5);
    assert_int_equal(o.rate.fail_interval, 900);
    assert_int_equal(o.rate.unlock_time, 300);
    assert_int_equal(o.rate.max_unlock_time, 86400);
    assert_string_equal(o.prompt.c_str(), "Verification code: ");
    assert_false(o.echo_code);
    assert_true(o.first_pass == FirstPass::none);
    assert_false(o.forward_pass);
    assert_false(o.no_recovery);
    assert_false(o.debug);
}

void every_option(void** /*state*/) {
    const auto r = parse({"secret=/etc/pam_totp/%u", "state_dir=/run/totp", "nullok", "window=3", "deny=7",
                          "fail_interval=60", "unlock_time=30", "max_unlock_time=120", "prompt=Code: ", "echo_code",
                          "try_first_pass", "forward_pass", "no_recovery", "debug"});
    if (!r) {
        fail_msg("%s", r.error().message.c_str());
    }
    const ModuleOptions& o = r.value();
    assert_string_equal(o.secret.c_str(), "/etc/pam_totp/%u");
    assert_string_equal(o.state_dir.c_str(), "/run/totp");
    assert_true(o.nullok);
    assert_int_equal(o.window.value(), 3);
    assert_int_equal(o.rate.deny, 7);
    assert_int_equal(o.rate.fail_interval, 60);
    assert_int_equal(o.rate.unlock_time, 30);
    assert_int_equal(o.rate.max_unlock_time, 120);
    assert_string_equal(o.prompt.c_str(), "Code: ");
    assert_true(o.echo_code);
    assert_true(o.first_pass == FirstPass::try_);
    assert_true(o.forward_pass);
    assert_true(o.no_recovery);
    assert_true(o.debug);

    const auto u = parse({"use_first_pass"});
    assert_true(u.ok());
    assert_true(u.value().first_pass == FirstPass::use);
}

void range_limits_accepted(void** /*state*/) {
    assert_true(parse({"window=0"}).ok());
    assert_true(parse({"window=10"}).ok());
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

void unknown_option_is_not_echoed_whole(void** /*state*/) {
    // An administrator may paste a secret by mistake: the message cuts it.
    const std::string pasted = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const auto r = parse({pasted});
    assert_false(r.ok());
    assert_true(r.error().message.find(pasted) == std::string::npos);
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
        cmocka_unit_test(unknown_option_is_not_echoed_whole),
        cmocka_unit_test(null_argv_entry_refused),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
