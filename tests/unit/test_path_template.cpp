// User names and the secret= path template.
#include <string>
#include <string_view>

#include "cmocka.hpp"
#include "core/files/path_template.h"

namespace {

using pam_totp::Errc;

// The expansion, or "" after checking it failed with invalid_argument.
std::string expand(std::string_view templ, std::string_view user = "alice", std::string_view home = "/home/alice") {
    auto r = pam_totp::expand_path_template(templ, user, home);
    if (!r.ok()) {
        assert_int_equal(r.error().code, Errc::invalid_argument);
        assert_false(r.error().message.empty());
        return {};
    }
    assert_false(r.value().empty());
    return r.value();
}

void tilde_and_home(void** /*state*/) {
    assert_string_equal(expand("~/.pam_totp").c_str(), "/home/alice/.pam_totp");
    assert_string_equal(expand("~").c_str(), "/home/alice");
    assert_string_equal(expand("%h/.pam_totp").c_str(), "/home/alice/.pam_totp");
    assert_string_equal(expand("%h/%h").c_str(), "/home/alice//home/alice");
}

void user_and_percent(void** /*state*/) {
    assert_string_equal(expand("/var/lib/totp/%u").c_str(), "/var/lib/totp/alice");
    assert_string_equal(expand("/etc/totp/%u.secret", "alice.smith").c_str(), "/etc/totp/alice.smith.secret");
    assert_string_equal(expand("/etc/100%%/%u").c_str(), "/etc/100%/alice");
    assert_string_equal(expand("/etc/%%u").c_str(), "/etc/%u");  // %% then a plain 'u'
    assert_string_equal(expand("/plain/path").c_str(), "/plain/path");
    // A '%' in the name is inserted as is, never expanded again.
    assert_string_equal(expand("/etc/totp/%u", "a%hb").c_str(), "/etc/totp/a%hb");
}

void home_is_needed_only_when_used(void** /*state*/) {
    assert_string_equal(expand("/etc/totp/%u", "alice", "").c_str(), "/etc/totp/alice");
    assert_string_equal(expand("/etc/totp/%u", "alice", "relative/home").c_str(), "/etc/totp/alice");
    assert_true(expand("~/.pam_totp", "alice", "").empty());
    assert_true(expand("~/.pam_totp", "alice", "home/alice").empty());
    assert_true(expand("%h/.pam_totp", "alice", "").empty());
    assert_true(expand("%h/.pam_totp", "alice", "./alice").empty());
}

void bad_escapes_are_refused(void** /*state*/) {
    assert_true(expand("/etc/%x").empty());
    assert_true(expand("/etc/%U").empty());
    assert_true(expand("/etc/totp/%").empty());    // trailing lone %
    assert_true(expand("/etc/totp/%%%").empty());  // %% then a lone %
    assert_true(expand("%").empty());
}

void tilde_only_at_the_start(void** /*state*/) {
    assert_string_equal(expand("/etc/~/x").c_str(), "/etc/~/x");
    assert_string_equal(expand("/etc/x~").c_str(), "/etc/x~");
    // "~bob" is not bob's home: kept literally, and then relative.
    assert_true(expand("~bob/.pam_totp").empty());
    assert_true(expand("~~").empty());
}

void result_must_be_absolute_and_clean(void** /*state*/) {
    assert_true(expand("").empty());
    assert_true(expand(".pam_totp").empty());
    assert_true(expand("%u/.pam_totp").empty());
    assert_true(expand("/etc/../root/x").empty());
    assert_true(expand("/etc/totp/..").empty());
    assert_true(expand("%h/x", "alice", "/home/../etc").empty());
    assert_true(expand("%h/x", "alice", "/home/alice/..").empty());
    assert_true(expand(std::string_view("/etc/\0x", 7)).empty());
    assert_true(expand("%h/x", "alice", std::string_view("/home/a\0b", 9)).empty());
    // Dots that are not a ".." component are fine.
    assert_string_equal(expand("/etc/..totp/x..y/...").c_str(), "/etc/..totp/x..y/...");

    std::string longpath = "/" + std::string(5000, 'a');
    assert_true(expand(longpath).empty());
    assert_true(expand("%h/x", "alice", longpath).empty());
}

void bad_user_names_are_refused(void** /*state*/) {
    const std::string long300(300, 'a');
    const std::string_view refused[] = {
        "a/b",
        "/",
        "..",
        ".",
        "a..b",
        "..a",
        "a..",
        "-x",
        "-",
        "",
        "tab\t",
        "sp ace",
        "nl\n",
        "cr\r",
        "esc\x1b",
        "del\x7f",
        std::string_view("nul\0x", 5),
        long300,
    };
    for (const std::string_view u : refused) {
        const pam_totp::Status st = pam_totp::validate_user_name(u);
        assert_false(st.ok());
        assert_int_equal(st.error().code, Errc::invalid_argument);
        // The template is never expanded for such a user.
        assert_false(pam_totp::expand_path_template("/etc/totp/%u", u, "/home/x").ok());
        // Even when the template does not use %u.
        assert_false(pam_totp::expand_path_template("/etc/totp/fixed", u, "/home/x").ok());
    }
}

void good_user_names_are_accepted(void** /*state*/) {
    const std::string max256(256, 'u');
    const std::string_view accepted[] = {
        "root",         "alice.smith", "user_1", "a",  "x-y",           "john@example.com",
        "DOMAIN\\user", "a.b.c",       "a%b",    "u$", "\xc3\xa9milie", max256,
    };
    for (const std::string_view u : accepted) {
        assert_true(pam_totp::validate_user_name(u).ok());
        auto r = pam_totp::expand_path_template("/etc/totp/%u", u, "/home/x");
        assert_true(r.ok());
        assert_true(r.value() == "/etc/totp/" + std::string(u));
    }
}

void messages_do_not_echo_the_name(void** /*state*/) {
    const pam_totp::Status st = pam_totp::validate_user_name("evil\nFAKE LOG LINE");
    assert_false(st.ok());
    assert_true(st.error().message.find("FAKE") == std::string::npos);
    assert_true(st.error().message.find('\n') == std::string::npos);
}

void template_uses_user_cases(void** /*state*/) {
    for (const char* yes : {"%u", "/etc/x/%u", "/etc/%u/secret", "%%%u", "/etc/%u.%u", "~/%u"}) {
        if (!pam_totp::template_uses_user(yes)) {
            fail_msg("template_uses_user(\"%s\") is false", yes);
        }
    }
    // "%%u" is a literal "%u", not the name; a lone '%' or 'u' is no %u.
    for (const char* no : {"/etc/x", "~/.pam_totp", "%%u", "/a/%%u", "%h/.u", "u", "%", "", "/etc/%U", "%%%%u"}) {
        if (pam_totp::template_uses_user(no)) {
            fail_msg("template_uses_user(\"%s\") is true", no);
        }
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tilde_and_home),
        cmocka_unit_test(user_and_percent),
        cmocka_unit_test(home_is_needed_only_when_used),
        cmocka_unit_test(bad_escapes_are_refused),
        cmocka_unit_test(tilde_only_at_the_start),
        cmocka_unit_test(result_must_be_absolute_and_clean),
        cmocka_unit_test(bad_user_names_are_refused),
        cmocka_unit_test(good_user_names_are_accepted),
        cmocka_unit_test(messages_do_not_echo_the_name),
        cmocka_unit_test(template_uses_user_cases),
    };
    return cmocka_run_group_tests_name("path_template", tests, nullptr, nullptr);
}
