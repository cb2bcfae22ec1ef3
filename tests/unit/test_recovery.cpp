// Recovery codes: generation, normalisation, yescrypt hashing, one-time use.
#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cmocka.hpp"
#include "core/otp/recovery.h"

namespace {

using pam_totp::Errc;
using pam_totp::SecureBuffer;

SecureBuffer canonical(std::string_view typed) {
    auto r = pam_totp::normalise_recovery_code(typed);
    assert_true(r.ok());
    return std::move(r).value();
}

std::string hash_of(std::string_view typed) {
    auto h = pam_totp::hash_recovery_code(canonical(typed));
    assert_true(h.ok());
    return std::move(h).value();
}

void entropy_is_enough(void** /*state*/) {
    // The claim in recovery.h: 12 symbols of 31 give well over 50 bits.
    assert_int_equal(pam_totp::recovery_alphabet.size(), 31);
    const auto symbols = static_cast<double>(pam_totp::recovery_alphabet.size());
    const double bits = static_cast<double>(pam_totp::recovery_code_chars) * std::log2(symbols);
    assert_true(bits >= 50.0);
    // No two symbols in the alphabet are the same.
    const std::set<char> distinct(pam_totp::recovery_alphabet.begin(), pam_totp::recovery_alphabet.end());
    assert_int_equal(distinct.size(), pam_totp::recovery_alphabet.size());
}

void generated_code_has_the_format(void** /*state*/) {
    for (int n = 0; n < 200; ++n) {
        auto r = pam_totp::generate_recovery_code();
        assert_true(r.ok());
        const std::string_view code = r.value().view();
        assert_int_equal(code.size(), 14);
        for (std::size_t i = 0; i < code.size(); ++i) {
            if (i == 4 || i == 9) {
                assert_int_equal(code[i], '-');
                continue;
            }
            assert_true(pam_totp::recovery_alphabet.find(code[i]) != std::string_view::npos);
            assert_true(std::string_view("0O1IL").find(code[i]) == std::string_view::npos);
        }
        // What we print must be accepted back.
        assert_true(pam_totp::looks_like_recovery_code(code));
        auto c = pam_totp::normalise_recovery_code(code);
        assert_true(c.ok());
        assert_int_equal(c.value().size(), pam_totp::recovery_code_chars);
    }
}

void generated_codes_are_unique_and_spread(void** /*state*/) {
    std::set<std::string> seen;
    std::set<char> symbols;
    for (int n = 0; n < 1000; ++n) {
        auto r = pam_totp::generate_recovery_code();
        assert_true(r.ok());
        const std::string_view code = r.value().view();
        seen.emplace(code);
        for (const char c : code) {
            symbols.insert(c);
        }
    }
    assert_int_equal(seen.size(), 1000);
    // 12000 draws from 31 symbols: missing one has probability ~31 * e^-387.
    assert_int_equal(symbols.size(), pam_totp::recovery_alphabet.size() + 1);  // + '-'
}

void normalise_accepts_what_people_type(void** /*state*/) {
    const char* const variants[] = {
        "ABCD-EFGH-JKMN",       "abcd-efgh-jkmn",          "abcdefghjkmn", "ABCD EFGH JKMN", "aBcD-eFgH jKmN",
        " abcd - efgh - jkmn ", "A-B-C-D-E-F-G-H-J-K-M-N", "ABCDEFGHJKMN",
    };
    for (const char* v : variants) {
        auto r = pam_totp::normalise_recovery_code(v);
        assert_true(r.ok());
        assert_true(r.value().view() == "ABCDEFGHJKMN");
        assert_true(pam_totp::looks_like_recovery_code(v));
    }
}

void normalise_refuses_what_is_not_a_code(void** /*state*/) {
    const std::string long300(300, 'A');
    const std::string digits_only = "2345-6789-2345";
    const std::string_view refused[] = {
        "",                                        // empty
        "----  ----",                              // separators only
        "ABCD-EFGH-JKM",                           // 11 symbols
        "ABCD-EFGH-JKMNP",                         // 13 symbols
        "ABCD-EFGH-JKM0",                          // zero
        "ABCD-EFGH-JKMO",                          // letter O
        "ABCD-EFGH-JKM1",                          // one
        "ABCD-EFGH-JKMI",                          // letter I
        "ABCD-EFGH-JKML",                          // letter L
        "abcd-efgh-jkml",                          // lower-case l
        "ABCD\tEFGH-JKMN",                         // tab is not a separator
        "ABCD-EFGH-JKMN\n",                        // trailing newline
        "ABCD-EFGH\x01JKMN",                       // control character
        std::string_view("ABCD-EFGH-\0JKMN", 15),  // NUL inside
        "ABCD_EFGH_JKMN",                          // wrong separator
        "123456",                                  // a TOTP code
        "1234567",                                 // 7 digits
        "123456789",                               // 9 digits
        "1234567A",                                // 8, not all digits
        "ABCD-EFGH-1234",                          // 12, with 0/1-free digits but a 1
        long300,                                   // far too long
    };
    for (const std::string_view v : refused) {
        auto r = pam_totp::normalise_recovery_code(v);
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::format);
        assert_false(pam_totp::looks_like_recovery_code(v));
    }
    assert_true(pam_totp::looks_like_recovery_code(digits_only));
}

void normalise_bounds_the_input(void** /*state*/) {
    // A valid code padded with separators beyond 64 bytes is refused before
    // it is even read, so the cost of a reply never depends on its length.
    std::string padded = "ABCD-EFGH-JKMN";
    padded.append(64 - padded.size(), ' ');
    assert_true(pam_totp::looks_like_recovery_code(padded));
    padded.push_back(' ');
    assert_false(pam_totp::looks_like_recovery_code(padded));
    assert_false(pam_totp::normalise_recovery_code(padded).ok());
}

void hash_verifies_and_rejects(void** /*state*/) {
    const std::string h1 = hash_of("ABCD-EFGH-JKMN");
    const std::string h2 = hash_of("ABCD-EFGH-JKMN");
    assert_true(h1.starts_with("$y$"));
    assert_true(h1.find("ABCD") == std::string::npos);
    // A fresh salt each time: the same code never hashes the same way twice.
    assert_true(h1 != h2);
    assert_true(pam_totp::recovery_code_setting(h1) != pam_totp::recovery_code_setting(h2));

    const std::vector<std::string> hashes = {hash_of("2345-6789-ABCD"), h1};
    auto found = pam_totp::find_recovery_code(canonical("abcd efgh jkmn"), hashes, {});
    assert_true(found.ok());
    assert_int_equal(found.value(), 1);
    found = pam_totp::find_recovery_code(canonical("2345-6789-abcd"), hashes, {});
    assert_true(found.ok());
    assert_int_equal(found.value(), 0);

    // One symbol off: no match.
    auto wrong = pam_totp::find_recovery_code(canonical("ABCD-EFGH-JKMP"), hashes, {});
    assert_true(wrong.ok());
    assert_int_equal(wrong.value(), -1);

    // No hashes at all: no match, no error.
    auto none = pam_totp::find_recovery_code(canonical("ABCD-EFGH-JKMN"), {}, {});
    assert_true(none.ok());
    assert_int_equal(none.value(), -1);
}

void used_code_is_refused(void** /*state*/) {
    const std::string h = hash_of("WXYZ-2345-6789");
    const std::vector<std::string> hashes = {h};
    const SecureBuffer code = canonical("WXYZ-2345-6789");

    auto first = pam_totp::find_recovery_code(code, hashes, {"$y$j9T$someothersalt"});
    assert_true(first.ok());
    assert_int_equal(first.value(), 0);

    const std::vector<std::string> used = {pam_totp::recovery_code_setting(h)};
    auto again = pam_totp::find_recovery_code(code, hashes, used);
    assert_true(again.ok());
    assert_int_equal(again.value(), -1);
}

void setting_is_the_hash_without_its_output(void** /*state*/) {
    assert_true(pam_totp::recovery_code_setting("$y$j9T$abcdefgh$0123456789") == "$y$j9T$abcdefgh");
    assert_true(pam_totp::recovery_code_setting("$y$j9T$salt$") == "$y$j9T$salt");
    assert_true(pam_totp::recovery_code_setting("nodollar") == "nodollar");

    const std::string h = hash_of("QRST-UVWX-YZ23");
    const std::string setting = pam_totp::recovery_code_setting(h);
    assert_true(pam_totp::is_recovery_setting(setting));
    assert_true(h.starts_with(setting + "$"));
    // The setting holds none of the hash output.
    assert_int_equal(h.size(), setting.size() + 1 + 43);
}

// Only the hashes totp-enroll writes: "$y$j9T$", 22 salt characters, "$",
// 43 hash characters, all of crypt's alphabet.
void strict_hash_form(void** /*state*/) {
    const std::string h = hash_of("QRST-UVWX-YZ23");
    assert_true(h.starts_with(pam_totp::recovery_hash_prefix));
    assert_true(pam_totp::is_recovery_hash(h));
    const std::string setting = h.substr(0, 7 + 22);
    assert_true(pam_totp::is_recovery_setting(setting));
    const std::string refused[] = {
        h.substr(0, h.size() - 1),                                              // cut short by one
        h.substr(0, h.size() - 20),                                             // cut short
        h + "A",                                                                // one too many
        "$y$jFT$" + h.substr(7),                                                // a user-chosen cost (1 GiB)
        "$y$j8T$" + h.substr(7),                                                // a cheaper one is not ours either
        "$y$j9T$abcdefghijklmnop$OT3J/1y2Li0C.4QmPPDIggvcR.szvXkmp0hgX9fdoH4",  // 16-character salt
        h.substr(0, 35) + "$" + h.substr(36),                                   // '$' inside the hash
        h.substr(0, 10) + "-" + h.substr(11),                                   // outside crypt's alphabet (salt)
        h.substr(0, 40) + "," + h.substr(41),                                   // outside crypt's alphabet (hash)
        setting,                                                                // a setting is not a hash
        "$6$rounds=5000$saltsaltsaltsalt$" + std::string(86, 'a'),
        "",
    };
    for (const std::string& bad : refused) {
        if (pam_totp::is_recovery_hash(bad)) {
            fail_msg("accepted as a hash: %s", bad.c_str());
        }
        // Refused before any hashing: an error, not a quiet "no match".
        auto f = pam_totp::find_recovery_code(canonical("QRST-UVWX-YZ23"), {bad}, {});
        assert_false(f.ok());
        assert_int_equal(f.error().code, Errc::format);
    }
    for (const std::string& bad :
         {setting.substr(0, setting.size() - 1), setting + "A", "$y$jFT$" + setting.substr(7), h}) {
        assert_false(pam_totp::is_recovery_setting(bad));
    }
    // A bad hash after a good one is still an error once reached, and the
    // good one before it is found first.
    const std::vector<std::string> mixed = {h, h.substr(0, h.size() - 1)};
    assert_int_equal(pam_totp::find_recovery_code(canonical("QRST-UVWX-YZ23"), mixed, {}).value(), 0);
    assert_false(pam_totp::find_recovery_code(canonical("QRST-UVWX-YZ24"), mixed, {}).ok());
}

// The tag of a used code: HMAC of the code under the token's key, the same
// whatever the hash's salt (so a re-import with new salts keeps it used),
// different for another code or another key.
void tags_depend_on_key_and_code_only(void** /*state*/) {
    const SecureBuffer key(std::string_view("12345678901234567890"));
    const SecureBuffer other_key(std::string_view("12345678901234567891"));
    const auto a = pam_totp::recovery_tag(key, canonical("ABCD-EFGH-JKMN"));
    assert_true(a == pam_totp::recovery_tag(key, canonical("abcd efgh jkmn")));
    assert_true(a != pam_totp::recovery_tag(key, canonical("ABCD-EFGH-JKMP")));
    assert_true(a != pam_totp::recovery_tag(other_key, canonical("ABCD-EFGH-JKMN")));
    // Two hashes of one code (two imports): two settings, one tag.
    const std::string h1 = hash_of("ABCD-EFGH-JKMN");
    const std::string h2 = hash_of("ABCD-EFGH-JKMN");
    assert_true(pam_totp::recovery_code_setting(h1) != pam_totp::recovery_code_setting(h2));
    // The tag is 8 bytes; hex round trip.
    const std::string hex = a.hex();
    assert_int_equal(hex.size(), 16);
    const auto back = pam_totp::RecoveryTag::from_hex(hex);
    assert_true(back.has_value());
    assert_true(*back == a);
    // It is not the code, nor the key, in any spelling.
    assert_true(hex.find("ABCD") == std::string::npos);
    // A fixed vector (Python's hmac): HMAC-SHA-256(key, "pam_totp recovery tag v1" NUL code), 8 bytes.
    assert_string_equal(hex.c_str(), "42005fbf13edac62");
    for (const char* bad :
         {"", "0123456789abcde", "0123456789abcdef0", "0123456789ABCDEF", "0123456789abcdeg", " 123456789abcdef"}) {
        assert_false(pam_totp::RecoveryTag::from_hex(bad).has_value());
    }
    assert_true(pam_totp::RecoveryTag::from_hex("0123456789abcdef")->hex() == "0123456789abcdef");
}

// Scratch codes imported from google-authenticator: 8 digits, 0 and 1 included.
void legacy_scratch_codes(void** /*state*/) {
    for (const char* typed : {"12345678", "1234 5678", "1234-5678", "01020304"}) {
        assert_true(pam_totp::looks_like_recovery_code(typed));
        auto n = pam_totp::normalise_recovery_code(typed);
        assert_true(n.ok());
        assert_int_equal(n.value().size(), pam_totp::legacy_code_digits);
    }
    assert_true(pam_totp::normalise_recovery_code("1234 5678").value().view() == "12345678");
    auto hash = pam_totp::hash_recovery_code(SecureBuffer(std::string_view("12345678")));
    assert_true(hash.ok());
    const std::vector<std::string> hashes{hash.value()};
    assert_int_equal(pam_totp::find_recovery_code(canonical("1234-5678"), hashes, {}).value(), 0);
    assert_int_equal(pam_totp::find_recovery_code(canonical("12345679"), hashes, {}).value(), -1);
}

void bad_inputs_are_errors(void** /*state*/) {
    // Not canonical: callers must normalise first.
    auto h = pam_totp::hash_recovery_code(SecureBuffer("abcd-efgh-jkmn"));
    assert_false(h.ok());
    assert_int_equal(h.error().code, Errc::invalid_argument);
    auto f = pam_totp::find_recovery_code(SecureBuffer(""), {hash_of("ABCD-EFGH-JKMN")}, {});
    assert_false(f.ok());

    // A stored hash libxcrypt cannot use is an error, not a silent "no match".
    auto broken = pam_totp::find_recovery_code(canonical("ABCD-EFGH-JKMN"), {"*0"}, {});
    assert_false(broken.ok());
    assert_true(broken.error().message.find("ABCD") == std::string::npos);
    auto garbage = pam_totp::find_recovery_code(canonical("ABCD-EFGH-JKMN"), {"$y$not-a-hash"}, {});
    assert_false(garbage.ok());
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entropy_is_enough),
        cmocka_unit_test(generated_code_has_the_format),
        cmocka_unit_test(generated_codes_are_unique_and_spread),
        cmocka_unit_test(normalise_accepts_what_people_type),
        cmocka_unit_test(normalise_refuses_what_is_not_a_code),
        cmocka_unit_test(normalise_bounds_the_input),
        cmocka_unit_test(hash_verifies_and_rejects),
        cmocka_unit_test(used_code_is_refused),
        cmocka_unit_test(setting_is_the_hash_without_its_output),
        cmocka_unit_test(strict_hash_form),
        cmocka_unit_test(tags_depend_on_key_and_code_only),
        cmocka_unit_test(legacy_scratch_codes),
        cmocka_unit_test(bad_inputs_are_errors),
    };
    return cmocka_run_group_tests_name("recovery", tests, nullptr, nullptr);
}
