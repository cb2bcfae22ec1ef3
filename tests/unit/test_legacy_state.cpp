// The state pam_totp 0.1 kept (core/store/legacy_state.h, format 1): read
// once per account on its first login, never written. Parsing, and every
// refusal with the line it names.
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "cmocka.hpp"
#include "core/store/legacy_state.h"

namespace {

using pam_totp::Errc;
using pam_totp::LegacyState;
using pam_totp::parse_legacy_state;

constexpr std::string_view id_a = "0123456789abcdef0123456789abcdef";
constexpr std::string_view id_b = "fedcba9876543210fedcba9876543210";
// pam_totp 0.1 remembered a used code by its hash's setting; its salts were
// not always 22 characters, and the reader takes any yescrypt setting.
constexpr std::string_view used_1 = "$y$j9T$abcdefghijklmnop";
constexpr std::string_view used_2 = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// What pam_totp 0.1's serialise_user_state wrote, byte for byte. Lines:
// 1 version, 2 comment, 3 enrollment_id, 4 last_step, 5 lockouts,
// 6 locked_until, 7 failure, 8 failure, 9 used.
std::string written_by_0_1() {
    return "version 1\n"
           "# pam_totp state: maintained by pam_totp.so, do not edit while logins run.\n"
           "enrollment_id " +
           std::string(id_a) +
           "\n"
           "last_step 58794000\n"
           "lockouts 2\n"
           "locked_until 1764290300\n"
           "failure 1764290000\n"
           "failure 1764290010\n"
           "used " +
           std::string(used_1) + "\n";
}

LegacyState full_state() {
    LegacyState s;
    s.enrollment_id = std::string(id_a);
    s.last_step = 58794000;
    s.lockouts = 2;
    s.locked_until = 1764290300;
    s.failures = {1764290000, 1764290010};
    s.used_recovery = {std::string(used_1)};
    return s;
}

void expect_line_error(const std::string& text, std::size_t line_no, std::string_view problem,
                       std::string_view forbidden = {}) {
    const auto r = parse_legacy_state(text);
    assert_false(r.ok());
    const std::string& m = r.error().message;
    const std::string prefix = "state file line " + std::to_string(line_no) + ": ";
    const bool good = m.rfind(prefix, 0) == 0 && contains(m, problem) && (forbidden.empty() || !contains(m, forbidden));
    if (!good) {
        std::fprintf(stderr, "unexpected message: \"%s\"\n", m.c_str());
    }
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(m.rfind(prefix, 0) == 0);
    assert_true(contains(m, problem));
    if (!forbidden.empty()) {
        assert_false(contains(m, forbidden));
    }
}

void parses_what_0_1_wrote(void** /*state*/) {
    const auto r = parse_legacy_state(written_by_0_1());
    if (!r.ok()) {
        fail_msg("%s", r.error().message.c_str());
    }
    assert_true(r.value() == full_state());
}

void parses_minimal_states(void** /*state*/) {
    // Only the version line: a state not yet bound to any enrollment.
    auto r = parse_legacy_state("version 1\n");
    assert_true(r.ok());
    assert_true(r.value() == LegacyState{});
    // An absent last_step is "no code accepted yet", not step 0.
    r = parse_legacy_state("version 1\nenrollment_id " + std::string(id_a) + "\nlockouts 0\nlocked_until 0\n");
    assert_true(r.ok());
    assert_false(r.value().last_step.has_value());
    r = parse_legacy_state("version 1\nlast_step 0\n");
    assert_true(r.ok());
    assert_true(r.value().last_step.has_value());
    assert_true(*r.value().last_step == 0);
}

void parses_the_extremes(void** /*state*/) {
    const auto r = parse_legacy_state(
        "version 1\nlast_step 18446744073709551615\nlockouts 4294967295\n"
        "locked_until 9223372036854775807\n");
    assert_true(r.ok());
    assert_true(*r.value().last_step == std::numeric_limits<std::uint64_t>::max());
    assert_true(r.value().lockouts == std::numeric_limits<unsigned>::max());
    assert_true(r.value().locked_until == std::numeric_limits<std::time_t>::max());
    // Order does not matter; comments and blank lines may go anywhere after the version.
    const auto any = parse_legacy_state("version 1\n\nused " + std::string(used_2) +
                                        "\n# c\nfailure 5\nenrollment_id " + std::string(id_b) + "\nfailure 3\n");
    assert_true(any.ok());
    assert_true(any.value().enrollment_id == id_b);
    assert_true(any.value().failures == (std::vector<std::time_t>{5, 3}));  // file order
    assert_true(any.value().used_recovery == (std::vector<std::string>{std::string(used_2)}));
    // The most the format holds.
    std::string text = "version 1\n";
    for (std::size_t i = 0; i < pam_totp::max_legacy_failures; ++i) {
        text += "failure 1764290000\n";
    }
    for (std::size_t i = 0; i < pam_totp::max_legacy_used_recovery; ++i) {
        text += "used " + std::string(used_2) + "\n";
    }
    const auto big = parse_legacy_state(text);
    assert_true(big.ok());
    assert_int_equal(big.value().failures.size(), pam_totp::max_legacy_failures);
    assert_int_equal(big.value().used_recovery.size(), pam_totp::max_legacy_used_recovery);
}

void refuses_bad_syntax(void** /*state*/) {
    const auto empty = parse_legacy_state("");
    assert_false(empty.ok());
    assert_true(empty.error().message == "state file: empty file (expected 'version 1' on line 1)");
    // Format 2 is the new state: not a legacy file.
    expect_line_error("version 2\naccount alice\n", 1, "format version 2 found, this build reads version 1");
    expect_line_error("version one\n", 1, "expected 'version 1'");
    expect_line_error("version 1\nlockouts  0\n", 2, "more than one space after 'lockouts'");
    expect_line_error("version 1\nlockouts 0 \n", 2, "trailing space");
    expect_line_error("version 1\nlockouts\n", 2, "found no space");
    expect_line_error("version 1\nlockouts 0\r\n", 2, "carriage return");
    expect_line_error("version 1\n\nLOCKOUTS 0\n", 3, "malformed key");
    expect_line_error("version 1\nlast_step " + std::string(2000, '1') + "\n", 2, "line longer than 1024 bytes");
}

void refuses_unknown_key(void** /*state*/) {
    expect_line_error(written_by_0_1() + "last_code 123456\n", 10, "unknown key 'last_code'", "123456");
    // A key of format 2 is unknown in format 1.
    expect_line_error("version 1\naccount alice\n", 2, "unknown key 'account'", "alice");
}

void refuses_duplicate_key(void** /*state*/) {
    expect_line_error(written_by_0_1() + "lockouts 3\n", 10, "duplicate 'lockouts' (first on line 5)");
    expect_line_error(written_by_0_1() + "enrollment_id " + std::string(id_b) + "\n", 10,
                      "duplicate 'enrollment_id' (first on line 3)", id_b);
    expect_line_error(written_by_0_1() + "last_step 1\n", 10, "duplicate 'last_step' (first on line 4)");
    expect_line_error(written_by_0_1() + "locked_until 0\n", 10, "duplicate 'locked_until' (first on line 6)");
}

void refuses_bad_enrollment_id(void** /*state*/) {
    expect_line_error("version 1\nenrollment_id 0123\n", 2, "'enrollment_id' must be 32 lower-case hex digits");
    expect_line_error("version 1\nenrollment_id 0123456789ABCDEF0123456789abcdef\n", 2,
                      "'enrollment_id' must be 32 lower-case hex digits", "ABCDEF");
    expect_line_error("version 1\nenrollment_id 0123456789abcdef0123456789abcdeX\n", 2,
                      "'enrollment_id' must be 32 lower-case hex digits");
}

void refuses_bad_numbers(void** /*state*/) {
    expect_line_error("version 1\nlast_step -1\n", 2, "'last_step': not a decimal number");
    expect_line_error("version 1\nlast_step 18446744073709551616\n", 2, "'last_step': out of range");
    expect_line_error("version 1\nlockouts 4294967296\n", 2, "'lockouts': out of range");
    expect_line_error("version 1\nlockouts two\n", 2, "'lockouts': not a decimal number");
    expect_line_error("version 1\nlocked_until +5\n", 2, "'locked_until': not a decimal number");
    expect_line_error("version 1\nlocked_until 9223372036854775808\n", 2, "'locked_until': out of range");
    expect_line_error("version 1\nfailure 1\nfailure 1764290000.5\n", 3, "'failure': not a decimal number");
    expect_line_error("version 1\nfailure 01\n", 2, "'failure': not a decimal number (leading zero)");
    expect_line_error("version 1\nfailure 9223372036854775808\n", 2, "'failure': out of range");
}

void refuses_malformed_used_setting(void** /*state*/) {
    const char* const bad[] = {
        "$y$j9T$abcdefghijklmnop$OT3J/1y2Li0C.4QmPPDIggvcR",  // a whole hash, not the setting
        "$y$j9T",
        "$y$j9T$",
        "$2b$10$abcdefghijklmnop",
        "$y$j9T$abc-def",
    };
    for (const char* value : bad) {
        expect_line_error("version 1\nused " + std::string(value) + "\n", 2,
                          "'used' is not a yescrypt setting ($y$params$salt)", std::string_view(value).substr(3));
    }
}

void refuses_too_many_failures(void** /*state*/) {
    std::string text = "version 1\n";
    for (std::size_t i = 0; i <= pam_totp::max_legacy_failures; ++i) {
        text += "failure 1764290000\n";
    }
    // The 1001st failure is on line 1002.
    expect_line_error(text, 1002, "more than 1000 'failure' lines");
}

void refuses_too_many_used(void** /*state*/) {
    std::string text = "version 1\n";
    for (std::size_t i = 0; i <= pam_totp::max_legacy_used_recovery; ++i) {
        text += "used " + std::string(used_2) + "\n";
    }
    expect_line_error(text, 1002, "more than 1000 'used' lines", used_2);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_what_0_1_wrote),
        cmocka_unit_test(parses_minimal_states),
        cmocka_unit_test(parses_the_extremes),
        cmocka_unit_test(refuses_bad_syntax),
        cmocka_unit_test(refuses_unknown_key),
        cmocka_unit_test(refuses_duplicate_key),
        cmocka_unit_test(refuses_bad_enrollment_id),
        cmocka_unit_test(refuses_bad_numbers),
        cmocka_unit_test(refuses_malformed_used_setting),
        cmocka_unit_test(refuses_too_many_failures),
        cmocka_unit_test(refuses_too_many_used),
    };
    return cmocka_run_group_tests_name("legacy_state", tests, nullptr, nullptr);
}
