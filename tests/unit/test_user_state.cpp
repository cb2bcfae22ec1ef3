// The per-user state file (core/user_state.h): parsing, every refusal with
// the line it names, round trips, and rebinding to a new enrollment.
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "cmocka.hpp"
#include "core/files/kv_format.h"
#include "core/store/user_state.h"

namespace {

using pam_totp::Errc;
using pam_totp::parse_user_state;
using pam_totp::rebind_user_state;
using pam_totp::serialise_user_state;
using pam_totp::UserState;

constexpr std::string_view id_a = "0123456789abcdef0123456789abcdef";
constexpr std::string_view id_b = "fedcba9876543210fedcba9876543210";
constexpr std::string_view used_1 = "$y$j9T$abcdefghijklmnop";
constexpr std::string_view used_2 = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// Lines: 1 version, 2 enrollment_id, 3 last_step, 4 lockouts, 5 locked_until,
// 6 failure, 7 failure, 8 used.
std::string good_text() {
    return "version 1\n"
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

UserState full_state() {
    UserState s;
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
    const auto r = parse_user_state(text);
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

void expect_round_trip(const UserState& s) {
    const std::string text = serialise_user_state(s);
    const auto back = parse_user_state(text);
    if (!back.ok()) {
        std::fprintf(stderr, "%s\n--\n%s", back.error().message.c_str(), text.c_str());
    }
    assert_true(back.ok());
    assert_true(back.value() == s);
}

void parses_full_state(void** /*state*/) {
    const auto r = parse_user_state(good_text());
    assert_true(r.ok());
    assert_true(r.value() == full_state());
}

void parses_minimal_states(void** /*state*/) {
    // Only the version line: a state not yet bound to any enrollment.
    auto r = parse_user_state("version 1\n");
    assert_true(r.ok());
    assert_true(r.value() == UserState{});
    // An absent last_step is "no code accepted yet", not step 0.
    r = parse_user_state("version 1\nenrollment_id " + std::string(id_a) + "\nlockouts 0\nlocked_until 0\n");
    assert_true(r.ok());
    assert_false(r.value().last_step.has_value());
    r = parse_user_state("version 1\nlast_step 0\n");
    assert_true(r.ok());
    assert_true(r.value().last_step.has_value());
    assert_true(*r.value().last_step == 0);
}

void round_trips(void** /*state*/) {
    expect_round_trip(UserState{});
    expect_round_trip(full_state());
    UserState s;
    s.enrollment_id = std::string(id_b);
    expect_round_trip(s);
    s.last_step = 0;
    expect_round_trip(s);
    s.last_step = std::numeric_limits<std::uint64_t>::max();
    s.lockouts = std::numeric_limits<unsigned>::max();
    s.locked_until = std::numeric_limits<std::time_t>::max();
    expect_round_trip(s);
    // Failures without an enrollment (nothing to bind them to yet).
    UserState f;
    f.failures = {1, 2, 3};
    expect_round_trip(f);
    // The most the format holds.
    UserState big = full_state();
    big.failures.assign(pam_totp::max_failures_kept, 1764290000);
    big.used_recovery.assign(pam_totp::max_used_recovery, std::string(used_2));
    const std::string text = serialise_user_state(big);
    assert_true(text.size() <= pam_totp::max_file_size);
    expect_round_trip(big);
}

void serialise_omits_absent_fields(void** /*state*/) {
    const std::string empty = serialise_user_state(UserState{});
    assert_true(empty.rfind("version 1\n", 0) == 0);
    assert_false(contains(empty, "enrollment_id"));
    assert_false(contains(empty, "last_step"));
    assert_false(contains(empty, "failure"));
    assert_false(contains(empty, "used"));
    const std::string full = serialise_user_state(full_state());
    assert_true(contains(full, "\nenrollment_id " + std::string(id_a) + "\n"));
    assert_true(contains(full, "\nlast_step 58794000\n"));
    assert_true(contains(full, "\nfailure 1764290000\nfailure 1764290010\n"));
    assert_true(contains(full, "\nused " + std::string(used_1) + "\n"));
}

void refuses_bad_syntax(void** /*state*/) {
    const auto empty = parse_user_state("");
    assert_false(empty.ok());
    assert_true(empty.error().message == "state file: empty file (expected 'version 1' on line 1)");
    expect_line_error("version 2\n", 1, "format version 2 found, this build reads version 1");
    expect_line_error("version one\n", 1, "expected 'version 1'");
    expect_line_error("version 1\nlockouts  0\n", 2, "more than one space after 'lockouts'");
    expect_line_error("version 1\nlockouts 0 \n", 2, "trailing space");
    expect_line_error("version 1\nlockouts\n", 2, "found no space");
    expect_line_error("version 1\nlockouts 0\r\n", 2, "carriage return");
    expect_line_error("version 1\n\nLOCKOUTS 0\n", 3, "malformed key");
    expect_line_error("version 1\nlast_step " + std::string(2000, '1') + "\n", 2, "line longer than 1024 bytes");
}

void refuses_unknown_key(void** /*state*/) {
    expect_line_error(good_text() + "last_code 123456\n", 9, "unknown key 'last_code'", "123456");
}

void refuses_duplicate_key(void** /*state*/) {
    expect_line_error(good_text() + "lockouts 3\n", 9, "duplicate 'lockouts' (first on line 4)");
    expect_line_error(good_text() + "enrollment_id " + std::string(id_b) + "\n", 9,
                      "duplicate 'enrollment_id' (first on line 2)", id_b);
    expect_line_error(good_text() + "last_step 1\n", 9, "duplicate 'last_step' (first on line 3)");
    expect_line_error(good_text() + "locked_until 0\n", 9, "duplicate 'locked_until' (first on line 5)");
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

void refuses_malformed_used_id(void** /*state*/) {
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
    for (std::size_t i = 0; i <= pam_totp::max_failures_kept; ++i) {
        text += "failure 1764290000\n";
    }
    // The 1001st failure is on line 1002.
    expect_line_error(text, 1002, "more than 1000 'failure' lines");
}

void refuses_too_many_used(void** /*state*/) {
    std::string text = "version 1\n";
    for (std::size_t i = 0; i <= pam_totp::max_used_recovery; ++i) {
        text += "used " + std::string(used_2) + "\n";
    }
    expect_line_error(text, 1002, "more than 1000 'used' lines", used_2);
}

void rebind_same_id_keeps_everything(void** /*state*/) {
    UserState s = full_state();
    rebind_user_state(s, id_a);
    assert_true(s == full_state());
}

void rebind_new_id_starts_afresh_but_keeps_lockout(void** /*state*/) {
    UserState s = full_state();
    rebind_user_state(s, id_b);
    assert_true(s.enrollment_id == id_b);
    assert_true(s.last_step == full_state().last_step);  // steps are absolute time: kept
    assert_true(s.used_recovery.empty());
    // Re-enrolling must not end a lockout or reset the count towards one.
    assert_int_equal(s.lockouts, 2);
    assert_true(s.locked_until == 1764290300);
    assert_int_equal(s.failures.size(), 2);
}

void rebind_empty_state_binds(void** /*state*/) {
    UserState s;
    s.failures = {5};
    rebind_user_state(s, id_a);
    assert_true(s.enrollment_id == id_a);
    assert_false(s.last_step.has_value());
    assert_int_equal(s.failures.size(), 1);
    expect_round_trip(s);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_full_state),
        cmocka_unit_test(parses_minimal_states),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(serialise_omits_absent_fields),
        cmocka_unit_test(refuses_bad_syntax),
        cmocka_unit_test(refuses_unknown_key),
        cmocka_unit_test(refuses_duplicate_key),
        cmocka_unit_test(refuses_bad_enrollment_id),
        cmocka_unit_test(refuses_bad_numbers),
        cmocka_unit_test(refuses_malformed_used_id),
        cmocka_unit_test(refuses_too_many_failures),
        cmocka_unit_test(refuses_too_many_used),
        cmocka_unit_test(rebind_same_id_keeps_everything),
        cmocka_unit_test(rebind_new_id_starts_afresh_but_keeps_lockout),
        cmocka_unit_test(rebind_empty_state_binds),
    };
    return cmocka_run_group_tests_name("user_state", tests, nullptr, nullptr);
}
