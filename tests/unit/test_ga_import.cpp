// Reading google-authenticator files (enroll_tool/ga_import.h): the samples of
// tests/data/ga/ as strings, what is carried over, and every refusal.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/otp/totp.h"
#include "enroll_tool/enrollment.h"
#include "enroll_tool/ga_import.h"

#include "cmocka.hpp"

namespace {

using pam_totp::Errc;
using pam_totp::parse_google_authenticator;

// "Hello!\xde\xad\xbe\xef" and "1234567890123456" in base32.
constexpr std::string_view key80 = "JBSWY3DPEHPK3PXP";
constexpr std::string_view key128 = "GEZDGNBVGY3TQOJQGEZDGNBVGY";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

void totp_basic(void** /*state*/) {
    auto ga = parse_google_authenticator(
        "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n47829351\n10384726\n66192034\n38401957\n90275518\n");
    assert_true(ga.ok());
    const auto& g = ga.value();
    assert_true(g.key.view() == "Hello!\xde\xad\xbe\xef");
    assert_int_equal(g.period, 30);
    assert_false(g.window.has_value());
    assert_int_equal(g.scratch_codes.size(), 5);
    assert_true(g.scratch_codes[0].view() == "47829351");
    assert_true(g.scratch_codes[4].view() == "90275518");
    assert_true(g.notes.empty());
}

void totp_options(void** /*state*/) {
    auto ga = parse_google_authenticator(
        "GEZDGNBVGY3TQOJQGEZDGNBVGY\n"
        "\" RATE_LIMIT 3 30 1764290000\n"
        "\" WINDOW_SIZE 17\n"
        "\" DISALLOW_REUSE 58809666\n"
        "\" TOTP_AUTH\n"
        "51739204\n82047163\n29518470\n");
    assert_true(ga.ok());
    const auto& g = ga.value();
    assert_true(g.key.view() == "1234567890123456");
    // 17 codes in all: 8 steps either side.
    assert_true(g.window.has_value());
    assert_int_equal(*g.window, 8);
    assert_int_equal(g.scratch_codes.size(), 3);
    // RATE_LIMIT is not carried over, and that is said; DISALLOW_REUSE is
    // what pam_totp always does, so no note.
    assert_int_equal(g.notes.size(), 1);
    assert_true(contains(g.notes[0], "RATE_LIMIT"));
}

void step_size(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" STEP_SIZE 60\n\" TOTP_AUTH\n73920145\n");
    assert_true(ga.ok());
    assert_int_equal(ga.value().period, 60);
    assert_int_equal(ga.value().scratch_codes.size(), 1);

    auto too_short = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" STEP_SIZE 10\n\" TOTP_AUTH\n");
    assert_false(too_short.ok());
    assert_true(contains(too_short.error().message, "line 2"));
    assert_true(contains(too_short.error().message, "STEP_SIZE"));
}

void window_capped(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" WINDOW_SIZE 41\n\" TOTP_AUTH\n");
    assert_true(ga.ok());
    assert_true(ga.value().window.has_value());
    assert_int_equal(*ga.value().window, pam_totp::max_window);
    assert_int_equal(*ga.value().window, 10);
    assert_int_equal(ga.value().notes.size(), 1);
    assert_true(contains(ga.value().notes[0], "WINDOW_SIZE 41"));

    auto three = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n");
    assert_true(three.ok());
    assert_int_equal(*three.value().window, 1);
    assert_true(three.value().notes.empty());
}

// An HOTP file (" HOTP_COUNTER n) is imported as an HOTP token whose next
// counter is n; its WINDOW_SIZE is the look-ahead (the module's
// hotp_window=) and its STEP_SIZE means nothing to a counter: noted, not kept.
void hotp_imported(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 1\n47829351\n10384726\n");
    if (!ga.ok()) {
        fail_msg("%s", ga.error().message.c_str());
    }
    const auto& g = ga.value();
    assert_true(g.key.view() == "Hello!\xde\xad\xbe\xef");
    assert_true(g.hotp_counter == std::optional<std::uint64_t>(1));
    assert_false(g.window.has_value());
    assert_int_equal(g.scratch_codes.size(), 2);
    assert_true(g.notes.empty());
    // Counter 0, and the largest a file takes.
    auto zero = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 0\n");
    assert_true(zero.ok());
    assert_true(zero.value().hotp_counter == std::optional<std::uint64_t>(0));
    const std::string top = std::to_string(pam_totp::max_start_counter);
    auto high = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER " + top + "\n");
    assert_true(high.ok());
    assert_true(high.value().hotp_counter == std::optional<std::uint64_t>(pam_totp::max_start_counter));
    // A TOTP file has none.
    auto totp = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n");
    assert_true(totp.ok());
    assert_false(totp.value().hotp_counter.has_value());
    // WINDOW_SIZE and STEP_SIZE of an HOTP file: notes, nothing kept.
    auto opts = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" WINDOW_SIZE 17\n\" STEP_SIZE 60\n\" HOTP_COUNTER 5\n");
    assert_true(opts.ok());
    assert_false(opts.value().window.has_value());
    assert_int_equal(opts.value().period, 30);
    assert_int_equal(opts.value().notes.size(), 2);
    assert_true(contains(opts.value().notes[0], "WINDOW_SIZE 17"));
    assert_true(contains(opts.value().notes[0], "hotp_window="));
    assert_true(contains(opts.value().notes[1], "STEP_SIZE"));
}

void hotp_refusals(void** /*state*/) {
    const auto refused = [](const std::string& text, std::string_view problem) {
        auto ga = parse_google_authenticator(text);
        if (ga.ok()) {
            fail_msg("imported; expected: %.*s", static_cast<int>(problem.size()), problem.data());
        }
        if (!contains(ga.error().message, problem)) {
            fail_msg("unexpected message: \"%s\"", ga.error().message.c_str());
        }
        assert_int_equal(ga.error().code, Errc::format);
        assert_false(contains(ga.error().message, key80));
    };
    refused("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 1\n\" HOTP_COUNTER 2\n", "line 3");
    refused("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 1\n\" HOTP_COUNTER 2\n", "a second HOTP_COUNTER line");
    refused("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER\n", "HOTP_COUNTER needs a number from 0 to");
    refused("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER -1\n", "line 2");
    refused("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER x\n", "HOTP_COUNTER needs a number");
    refused("JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER " + std::to_string(pam_totp::max_start_counter + 1) + "\n",
            "HOTP_COUNTER needs a number from 0 to " + std::to_string(pam_totp::max_start_counter));
    // Both kinds at once: which one is meant is not known.
    refused("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n", "both \" TOTP_AUTH and \" HOTP_COUNTER");
}

void no_totp_auth_refused(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n47829351\n");
    assert_false(ga.ok());
    assert_int_equal(ga.error().code, Errc::format);
    assert_true(contains(ga.error().message, "TOTP_AUTH"));
}

void unknown_option_refused(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" FANCY_FEATURE 1\n\" TOTP_AUTH\n47829351\n");
    assert_false(ga.ok());
    assert_int_equal(ga.error().code, Errc::format);
    assert_true(contains(ga.error().message, "line 2"));
    assert_true(contains(ga.error().message, "unknown option"));
}

void bad_secret_refused(void** /*state*/) {
    auto ga = parse_google_authenticator("NOT-A-BASE32-SECRET!\n\" TOTP_AUTH\n47829351\n");
    assert_false(ga.ok());
    assert_true(contains(ga.error().message, "line 1"));
    // Too short a secret (40 bits).
    auto short_key = parse_google_authenticator("JBSWY3DP\n\" TOTP_AUTH\n");
    assert_false(short_key.ok());
    assert_true(contains(short_key.error().message, "80 to 1024 bits"));
    assert_false(contains(short_key.error().message, "JBSWY3DP"));
}

void scratch_7_digits_refused(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n47829351\n1038472\n");
    assert_false(ga.ok());
    assert_int_equal(ga.error().code, Errc::format);
    assert_true(contains(ga.error().message, "line 4"));
    // The message names the line, not the code.
    assert_false(contains(ga.error().message, "1038472"));
    assert_false(parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n478293510\n").ok());
    assert_false(parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n4782935a\n").ok());
}

void binary_refused(void** /*state*/) {
    const std::string text = std::string(key80) + "\n\" TOTP_AUTH\n" +
                             std::string(
                                 "4782\0"
                                 "351\n",
                                 9);
    auto ga = parse_google_authenticator(text);
    assert_false(ga.ok());
    assert_true(contains(ga.error().message, "binary"));
    auto high = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\xff\xfe\n");
    assert_false(high.ok());
    assert_true(contains(high.error().message, "binary"));
}

void crlf_accepted(void** /*state*/) {
    auto ga =
        parse_google_authenticator("GEZDGNBVGY3TQOJQGEZDGNBVGY\r\n\" WINDOW_SIZE 5\r\n\" TOTP_AUTH\r\n51739204\r\n");
    assert_true(ga.ok());
    assert_true(ga.value().key.view() == "1234567890123456");
    assert_int_equal(*ga.value().window, 2);
    assert_int_equal(ga.value().scratch_codes.size(), 1);
    assert_true(ga.value().scratch_codes[0].view() == "51739204");
}

void no_final_newline_and_blank_lines(void** /*state*/) {
    auto ga = parse_google_authenticator("JBSWY3DPEHPK3PXP\n\n\" TOTP_AUTH\n\n47829351");
    assert_true(ga.ok());
    assert_int_equal(ga.value().scratch_codes.size(), 1);
}

void empty_refused(void** /*state*/) {
    auto ga = parse_google_authenticator("");
    assert_false(ga.ok());
    assert_int_equal(ga.error().code, Errc::format);
}

void key128_accepted(void** /*state*/) {
    const std::string text = std::string(key128) + "\n\" TOTP_AUTH\n";
    auto ga = parse_google_authenticator(text);
    assert_true(ga.ok());
    assert_int_equal(ga.value().key.size(), 16);
    assert_true(ga.value().scratch_codes.empty());
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(totp_basic),
        cmocka_unit_test(totp_options),
        cmocka_unit_test(step_size),
        cmocka_unit_test(window_capped),
        cmocka_unit_test(hotp_imported),
        cmocka_unit_test(hotp_refusals),
        cmocka_unit_test(no_totp_auth_refused),
        cmocka_unit_test(unknown_option_refused),
        cmocka_unit_test(bad_secret_refused),
        cmocka_unit_test(scratch_7_digits_refused),
        cmocka_unit_test(binary_refused),
        cmocka_unit_test(crlf_accepted),
        cmocka_unit_test(no_final_newline_and_blank_lines),
        cmocka_unit_test(empty_refused),
        cmocka_unit_test(key128_accepted),
    };
    return cmocka_run_group_tests_name("ga_import", tests, nullptr, nullptr);
}
