// HOTP (core/otp/hotp.h): the RFC 4226 Appendix D vectors through
// hotp_generate and hotp_verify, the look-ahead window's bounds, replay,
// malformed codes, 8 digits, the tag an unsettled attempt records and
// finding its counter again, and resynchronisation from two consecutive
// codes.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "core/otp/hotp.h"
#include "core/otp/recovery.h"
#include "vectors.h"

#include "cmocka.hpp"

namespace {

using pam_totp::Errc;
using pam_totp::HotpOutcome;
using pam_totp::SecureBuffer;

// RFC 4226 Appendix D: the key is the ASCII string "12345678901234567890".
SecureBuffer rfc_key() {
    return SecureBuffer(std::string_view("12345678901234567890"));
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

std::string code_of(const SecureBuffer& key, unsigned digits, std::uint64_t counter) {
    auto r = pam_totp::hotp_generate(key, digits, counter);
    if (!r.ok()) {
        fail_msg("hotp_generate: %s", r.error().message.c_str());
    }
    return std::string(r.value().view());
}

// The six-digit codes of Appendix D, by counter.
std::vector<std::string> appendix_d_codes() {
    const auto rows = pam_totp::test::read_vector_file("rfc4226.vec");
    assert_int_equal(rows.size(), 10);
    std::vector<std::string> codes;
    for (const auto& row : rows) {
        assert_int_equal(row.size(), 3);
        assert_int_equal(std::stoull(row[1]), codes.size());  // in counter order
        codes.push_back(row[2]);
    }
    return codes;
}

pam_totp::HotpVerdict verify(const std::string& code, std::uint64_t next, unsigned window, unsigned digits = 6) {
    auto r = pam_totp::hotp_verify(rfc_key(), digits, code, next, window);
    if (!r.ok()) {
        fail_msg("hotp_verify: %s", r.error().message.c_str());
    }
    return r.value();
}

void expect_accepted(const std::string& code, std::uint64_t next, unsigned window, std::uint64_t counter,
                     unsigned digits = 6) {
    const auto v = verify(code, next, window, digits);
    if (v.outcome != HotpOutcome::accepted || v.counter != counter) {
        fail_msg("code %s from %llu (+%u): outcome %d counter %llu, expected accepted at %llu", code.c_str(),
                 static_cast<unsigned long long>(next), window, static_cast<int>(v.outcome),
                 static_cast<unsigned long long>(v.counter), static_cast<unsigned long long>(counter));
    }
}

// --- Appendix D ---------------------------------------------------------------------

void rfc4226_appendix_d_generate(void** /*state*/) {
    const auto rows = pam_totp::test::read_vector_file("rfc4226.vec");
    assert_int_equal(rows.size(), 10);
    for (const auto& row : rows) {
        const SecureBuffer key(pam_totp::test::from_hex(row[0]));
        assert_true(key.view() == rfc_key().view());
        assert_string_equal(code_of(key, 6, std::stoull(row[1])).c_str(), row[2].c_str());
    }
}

// Each vector verified at its own counter with no look-ahead, and the
// whole sequence in order, each accepted once, as a token used in turn.
void rfc4226_appendix_d_verify(void** /*state*/) {
    const std::vector<std::string> codes = appendix_d_codes();
    for (std::uint64_t c = 0; c < codes.size(); ++c) {
        expect_accepted(codes[c], c, 0, c);
    }
    std::uint64_t next = 0;
    for (std::uint64_t c = 0; c < codes.size(); ++c) {
        expect_accepted(codes[c], next, pam_totp::default_hotp_window, c);
        next = c + 1;  // past the accepted value only (RFC 4226 section 7.2)
    }
}

// Section 5.3: Digit = 8 is Snum mod 10^8; Appendix D gives Snum (the
// "Truncated" table's decimal column).
void eight_digits(void** /*state*/) {
    const auto rows = pam_totp::test::read_vector_file("rfc4226_truncated.vec");
    assert_int_equal(rows.size(), 10);
    for (const auto& row : rows) {
        assert_int_equal(row.size(), 4);
        const SecureBuffer key(pam_totp::test::from_hex(row[0]));
        const std::uint64_t counter = std::stoull(row[1]);
        const std::uint64_t snum = std::stoull(row[3]);
        assert_int_equal(std::stoull(row[2], nullptr, 16), snum);  // the table's two columns agree
        char expected[9];
        std::snprintf(expected, sizeof expected, "%08llu", static_cast<unsigned long long>(snum % 100000000ULL));
        assert_string_equal(code_of(key, 8, counter).c_str(), expected);
        char six[7];
        std::snprintf(six, sizeof six, "%06llu", static_cast<unsigned long long>(snum % 1000000ULL));
        assert_string_equal(code_of(key, 6, counter).c_str(), six);
        expect_accepted(expected, counter, 0, counter, 8);
        // An 8-digit code is not a 6-digit one, nor its last six digits one of 8.
        assert_int_equal(verify(expected, counter, 0, 6).outcome, HotpOutcome::wrong);
        assert_int_equal(verify(six, counter, 0, 8).outcome, HotpOutcome::wrong);
    }
}

void bad_digits_are_errors(void** /*state*/) {
    for (const unsigned digits : {0U, 5U, 7U, 9U, 10U}) {
        auto g = pam_totp::hotp_generate(rfc_key(), digits, 0);
        assert_false(g.ok());
        assert_int_equal(g.error().code, Errc::invalid_argument);
        assert_true(contains(g.error().message, "6 or 8 digits"));
        auto v = pam_totp::hotp_verify(rfc_key(), digits, "755224", 0, 1);
        assert_false(v.ok());
        assert_true(contains(v.error().message, "6 or 8 digits"));
        auto r = pam_totp::hotp_resync(rfc_key(), digits, "755224", "287082", 0, 10);
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::invalid_argument);
    }
}

// --- the look-ahead window ------------------------------------------------------------

// Counters next .. next + window are accepted, and only they (RFC 4226
// section 7.4: a bounded look-ahead).
void look_ahead_bounds(void** /*state*/) {
    const std::vector<std::string> codes = appendix_d_codes();
    // next 2, window 3: counters 2..5.
    expect_accepted(codes[2], 2, 3, 2);
    expect_accepted(codes[4], 2, 3, 4);
    expect_accepted(codes[5], 2, 3, 5);
    assert_int_equal(verify(codes[6], 2, 3).outcome, HotpOutcome::wrong);
    assert_int_equal(verify(codes[9], 2, 3).outcome, HotpOutcome::wrong);
    // Window 0: the next counter only.
    expect_accepted(codes[7], 7, 0, 7);
    assert_int_equal(verify(codes[8], 7, 0).outcome, HotpOutcome::wrong);
    // The default window: next + 10 is in, next + 11 is out.
    const SecureBuffer key = rfc_key();
    const unsigned w = pam_totp::default_hotp_window;
    expect_accepted(code_of(key, 6, 100 + w), 100, w, 100 + w);
    assert_int_equal(verify(code_of(key, 6, 100 + w + 1), 100, w).outcome, HotpOutcome::wrong);
    // The largest window.
    const unsigned m = pam_totp::max_hotp_window;
    expect_accepted(code_of(key, 6, 500 + m), 500, m, 500 + m);
    assert_int_equal(verify(code_of(key, 6, 500 + m + 1), 500, m).outcome, HotpOutcome::wrong);
}

void out_of_range_arguments_are_errors(void** /*state*/) {
    const SecureBuffer key = rfc_key();
    const auto refused = [&](std::uint64_t next, unsigned window) {
        auto r = pam_totp::hotp_verify(key, 6, "755224", next, window);
        if (r.ok()) {
            fail_msg("next %llu, window %u: accepted as arguments", static_cast<unsigned long long>(next), window);
        }
        assert_int_equal(r.error().code, Errc::invalid_argument);
    };
    refused(0, pam_totp::max_hotp_window + 1);
    // Whatever it accepts, the counter after it (what the state records)
    // stays within max_hotp_counter: next + window + 1 at most.
    refused(pam_totp::max_hotp_counter, 0);
    refused(pam_totp::max_hotp_counter - 10, 10);
    refused(pam_totp::max_hotp_counter + 1, 0);
    const std::uint64_t top = pam_totp::max_hotp_counter - 1;
    expect_accepted(code_of(key, 6, top), top, 0, top);
    const std::uint64_t from = pam_totp::max_hotp_counter - 11;
    expect_accepted(code_of(key, 6, from + 10), from, 10, from + 10);
    // A file's counter leaves room for the widest look-ahead.
    const std::uint64_t file_top = pam_totp::max_file_hotp_counter;
    expect_accepted(code_of(key, 6, file_top + pam_totp::max_hotp_window), file_top, pam_totp::max_hotp_window,
                    file_top + pam_totp::max_hotp_window);
}

// The last accepted counter (next - 1) is told apart as a replay; older
// ones are plain wrong codes; at next 0 there is nothing to replay.
void replay_of_the_last_counter(void** /*state*/) {
    const std::vector<std::string> codes = appendix_d_codes();
    auto v = verify(codes[3], 4, 10);
    assert_int_equal(v.outcome, HotpOutcome::replayed);
    assert_int_equal(v.counter, 3);
    assert_int_equal(verify(codes[2], 4, 10).outcome, HotpOutcome::wrong);
    assert_int_equal(verify(codes[0], 4, 10).outcome, HotpOutcome::wrong);
    // A window does not reach back.
    assert_int_equal(verify(codes[0], 1, 10).outcome, HotpOutcome::replayed);
    assert_int_equal(verify(codes[0], 0, 10).outcome, HotpOutcome::accepted);
}

// Anything but exactly `digits` ASCII digits is wrong, not an error.
void malformed_codes_are_wrong(void** /*state*/) {
    const std::vector<std::string> codes = appendix_d_codes();
    const std::string good = codes[0];
    const std::string cases[] = {
        "",
        "75522",
        "7552240",
        "abcdef",
        good + " ",
        " " + good,
        good.substr(0, 5) + "\n",
        "+" + good.substr(1),
        "-" + good.substr(1),
        std::string("75\0"
                    "224",
                    6),
        std::string(300, '7'),
        "\xef\xbc\x97\xef\xbc\x95\xef\xbc\x95\xef\xbc\x92\xef\xbc\x92\xef\xbc\x94",  // full-width 755224
    };
    for (const std::string& c : cases) {
        const auto v = verify(c, 0, 10);
        assert_int_equal(v.outcome, HotpOutcome::wrong);
    }
    // The right code is fine, so the refusals above came from the form.
    expect_accepted(good, 0, 10, 0);
}

// --- the tag of an unsettled attempt -------------------------------------------------------

void code_tag_is_keyed_and_distinct(void** /*state*/) {
    const SecureBuffer key = rfc_key();
    const SecureBuffer other(std::string_view("another key of 20 b."));
    const std::vector<std::string> codes = appendix_d_codes();
    const auto t0 = pam_totp::hotp_code_tag(key, codes[0]);
    assert_true(t0 == pam_totp::hotp_code_tag(key, codes[0]));  // the same every time
    assert_false(t0 == pam_totp::hotp_code_tag(key, codes[1]));
    assert_false(t0 == pam_totp::hotp_code_tag(other, codes[0]));
    // Not the tag a recovery code of the same text would have: the two
    // records never mix.
    assert_false(t0 == pam_totp::recovery_tag(key, SecureBuffer(std::string_view(codes[0]))));
    // The tag says nothing readable about the code.
    assert_false(contains(t0.hex(), codes[0]));
}

void find_tagged_finds_the_counter(void** /*state*/) {
    const SecureBuffer key = rfc_key();
    const std::vector<std::string> codes = appendix_d_codes();
    const auto tag7 = pam_totp::hotp_code_tag(key, codes[7]);
    const auto found = [&](const pam_totp::RecoveryTag& tag, std::uint64_t first, std::uint64_t last) {
        auto r = pam_totp::hotp_find_tagged(key, 6, tag, first, last);
        if (!r.ok()) {
            fail_msg("hotp_find_tagged: %s", r.error().message.c_str());
        }
        return r.value();
    };
    assert_true(found(tag7, 0, 9) == std::optional<std::uint64_t>(7));
    assert_true(found(tag7, 7, 7) == std::optional<std::uint64_t>(7));
    assert_true(found(tag7, 0, 7) == std::optional<std::uint64_t>(7));
    assert_false(found(tag7, 0, 6).has_value());
    assert_false(found(tag7, 8, 9).has_value());
    // A code that matched no counter: nothing was used.
    assert_false(found(pam_totp::hotp_code_tag(key, "000000"), 0, 9).has_value());
    // Out of bounds: an error, not a silent miss.
    for (const auto& [first, last] : {std::pair<std::uint64_t, std::uint64_t>{5, 4},
                                      {0, pam_totp::max_hotp_resync + 1},
                                      {pam_totp::max_hotp_counter, pam_totp::max_hotp_counter + 1}}) {
        auto r = pam_totp::hotp_find_tagged(key, 6, tag7, first, last);
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::invalid_argument);
    }
    // The widest range allowed is searched.
    assert_true(found(tag7, 0, pam_totp::max_hotp_resync) == std::optional<std::uint64_t>(7));
}

// --- resynchronisation ------------------------------------------------------------------------

void resync_finds_two_consecutive_codes(void** /*state*/) {
    const SecureBuffer key = rfc_key();
    const std::vector<std::string> codes = appendix_d_codes();
    auto r = pam_totp::hotp_resync(key, 6, codes[4], codes[5], 0, 10);
    if (!r.ok()) {
        fail_msg("hotp_resync: %s", r.error().message.c_str());
    }
    assert_int_equal(r.value(), 6);  // the next counter to accept
    // The first code at the last counter of the span still counts (c = from + span).
    r = pam_totp::hotp_resync(key, 6, codes[4], codes[5], 0, 4);
    assert_true(r.ok());
    assert_int_equal(r.value(), 6);
    r = pam_totp::hotp_resync(key, 6, codes[4], codes[5], 4, 0);
    assert_true(r.ok());
    assert_int_equal(r.value(), 6);
    // Far ahead, as a token pressed many times in a drawer.
    r = pam_totp::hotp_resync(key, 6, code_of(key, 6, 5000), code_of(key, 6, 5001), 100, pam_totp::max_hotp_resync);
    assert_true(r.ok());
    assert_int_equal(r.value(), 5002);
    // 8 digits.
    r = pam_totp::hotp_resync(key, 8, code_of(key, 8, 30), code_of(key, 8, 31), 0, 100);
    assert_true(r.ok());
    assert_int_equal(r.value(), 32);
}

void resync_refusals(void** /*state*/) {
    const SecureBuffer key = rfc_key();
    const std::vector<std::string> codes = appendix_d_codes();
    const auto not_found = [](const pam_totp::Result<std::uint64_t>& r, std::string_view message) {
        assert_false(r.ok());
        if (!contains(r.error().message, message)) {
            fail_msg("unexpected message: \"%s\"", r.error().message.c_str());
        }
        assert_int_equal(r.error().code, Errc::not_found);
    };
    // Not consecutive, or in the wrong order.
    not_found(pam_totp::hotp_resync(key, 6, codes[4], codes[6], 0, 10),
              "no two consecutive codes of the token match within 10 counter values of 0");
    not_found(pam_totp::hotp_resync(key, 6, codes[5], codes[4], 0, 10), "no two consecutive codes");
    // Beyond the span, or before its start.
    not_found(pam_totp::hotp_resync(key, 6, codes[4], codes[5], 0, 3),
              "no two consecutive codes of the token match within 3 counter values of 0");
    not_found(pam_totp::hotp_resync(key, 6, codes[4], codes[5], 5, 10), "within 10 counter values of 5");
    // Malformed codes: a usage error naming the length, never the codes.
    for (const auto& [a, b] : {std::pair<std::string, std::string>{"75522", codes[1]},
                               {codes[0], "28708x"},
                               {codes[0] + "1", codes[1]},
                               {"", ""}}) {
        auto r = pam_totp::hotp_resync(key, 6, a, b, 0, 10);
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::invalid_argument);
        assert_true(contains(r.error().message, "each code must be 6 digits"));
        assert_false(contains(r.error().message, codes[1]));
    }
    // A span beyond the bound, or one reaching past the top counter.
    auto wide = pam_totp::hotp_resync(key, 6, codes[0], codes[1], 0, pam_totp::max_hotp_resync + 1);
    assert_false(wide.ok());
    assert_int_equal(wide.error().code, Errc::invalid_argument);
    auto top = pam_totp::hotp_resync(key, 6, codes[0], codes[1], pam_totp::max_hotp_counter - 5, 10);
    assert_false(top.ok());
    assert_int_equal(top.error().code, Errc::invalid_argument);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4226_appendix_d_generate),
        cmocka_unit_test(rfc4226_appendix_d_verify),
        cmocka_unit_test(eight_digits),
        cmocka_unit_test(bad_digits_are_errors),
        cmocka_unit_test(look_ahead_bounds),
        cmocka_unit_test(out_of_range_arguments_are_errors),
        cmocka_unit_test(replay_of_the_last_counter),
        cmocka_unit_test(malformed_codes_are_wrong),
        cmocka_unit_test(code_tag_is_keyed_and_distinct),
        cmocka_unit_test(find_tagged_finds_the_counter),
        cmocka_unit_test(resync_finds_two_consecutive_codes),
        cmocka_unit_test(resync_refusals),
    };
    return cmocka_run_group_tests_name("hotp", tests, nullptr, nullptr);
}
