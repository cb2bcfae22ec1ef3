// The secret file (core/files/secret_file.h), formats 1 and 2: good files,
// every refusal with the line it names (and never a secret), write -> parse
// round trips, and which format the writer picks.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/files/kv_format.h"
#include "core/files/secret_file.h"
#include "core/otp/hotp.h"

#include "cmocka.hpp"

namespace {

using pam_totp::Algorithm;
using pam_totp::Errc;
using pam_totp::parse_secret_file;
using pam_totp::SecretFile;
using pam_totp::SecureBuffer;
using pam_totp::serialise_secret_file;
using pam_totp::TokenEntry;
using pam_totp::TokenType;

constexpr std::string_view good_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";    // "Hello!\xde\xad\xbe\xef" twice
constexpr std::string_view rfc_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";     // "12345678901234567890" (RFC 4226)
constexpr std::string_view anchor_secret = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";  // "abcdefghijklmnopqrst"
constexpr std::string_view good_id = "0123456789abcdef0123456789abcdef";
// Hashes as totp-enroll writes them ($y$j9T$, 22 salt and 43 hash characters).
constexpr std::string_view hash1 = "$y$j9T$abcdefghijklmnopqrstu1$uTpzzsQwnh0IG2T.pxSj7z5N3GeBIJjqkf1qWZc4L09";
constexpr std::string_view hash2 = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7";
// Base32 of the bytes 1..n, without padding.
constexpr std::string_view secret_9_bytes = "AEBAGBAFAYDQQCI";
constexpr std::string_view secret_10_bytes = "AEBAGBAFAYDQQCIK";
constexpr std::string_view secret_128_bytes =
    "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYUCULBOGAZDINRYHI6D4QCCIRDEQSSMJZIFEVCWLBNFYXTAMJSGM2DKNRXHA4TUOZ4HU7D6QCBIJBUIR"
    "KGI5EESSSLJRGU4T2QKFJFGVCVKZLVQWK2LNOF2XS7MBQWEY3EMVTGO2DJNJVWY3LON5YHC4TTOR2XM53YPF5HW7D5PZ7YA";
constexpr std::string_view secret_129_bytes =
    "AEBAGBAFAYDQQCIKBMGA2DQPCAIREEYUCULBOGAZDINRYHI6D4QCCIRDEQSSMJZIFEVCWLBNFYXTAMJSGM2DKNRXHA4TUOZ4HU7D6QCBIJBUIR"
    "KGI5EESSSLJRGU4T2QKFJFGVCVKZLVQWK2LNOF2XS7MBQWEY3EMVTGO2DJNJVWY3LON5YHC4TTOR2XM53YPF5HW7D5PZ7YBAI";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// The good file, one line per entry; line numbers are index + 1:
// 1 version, 2 secret, 3 algorithm, 4 digits, 5 period, 6 enrolled,
// 7 enrollment_id, 8 recovery.
std::vector<std::string> good_lines() {
    return {
        "version 1",
        "secret " + std::string(good_secret),
        "algorithm sha1",
        "digits 6",
        "period 30",
        "enrolled 1764290000",
        "enrollment_id " + std::string(good_id),
        "recovery " + std::string(hash1),
    };
}

std::string join(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        text += line;
        text += '\n';
    }
    return text;
}

// The good file with the line of `key` replaced by `line` (dropped when
// `line` is empty).
std::string replacing(std::string_view key, std::string_view line) {
    std::vector<std::string> lines = good_lines();
    const std::string prefix = std::string(key) + " ";
    for (auto it = lines.begin(); it != lines.end(); ++it) {
        if (it->rfind(prefix, 0) == 0) {
            if (line.empty()) {
                lines.erase(it);
            } else {
                *it = std::string(line);
            }
            return join(lines);
        }
    }
    std::fprintf(stderr, "test bug: no line '%s'\n", prefix.c_str());
    std::abort();
}

// The good file plus `line` at the end (line 9).
std::string appending(std::string_view line) {
    return join(good_lines()) + std::string(line) + "\n";
}

// Refused with Errc::format, a message "<prefix><problem...>", and neither the
// good secret nor `forbidden` (the offending value) in it.
void expect_error(const std::string& text, std::string_view expected_start, std::string_view problem,
                  std::string_view forbidden = {}) {
    const auto r = parse_secret_file(text);
    assert_false(r.ok());
    const std::string& m = r.error().message;
    const bool no_secret = !contains(m, good_secret) && !contains(m, rfc_secret) && !contains(m, anchor_secret) &&
                           !contains(m, good_secret.substr(0, 8)) && !contains(m, rfc_secret.substr(0, 8));
    const bool good = m.rfind(expected_start, 0) == 0 && contains(m, problem) && no_secret &&
                      (forbidden.empty() || !contains(m, forbidden));
    if (!good) {
        std::fprintf(stderr, "unexpected message: \"%s\"\n", m.c_str());
    }
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(m.rfind(expected_start, 0) == 0);
    assert_true(contains(m, problem));
    assert_true(no_secret);
    if (!forbidden.empty()) {
        assert_false(contains(m, forbidden));
    }
}

void expect_line_error(const std::string& text, std::size_t line_no, std::string_view problem,
                       std::string_view forbidden = {}) {
    expect_error(text, "secret file line " + std::to_string(line_no) + ": ", problem, forbidden);
}

void expect_missing(std::string_view key) {
    const std::string message = "secret file: missing '" + std::string(key) + "'";
    const auto r = parse_secret_file(replacing(key, ""));
    assert_false(r.ok());
    if (r.error().message != message) {
        std::fprintf(stderr, "unexpected message: \"%s\"\n", r.error().message.c_str());
    }
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(r.error().message == message);
}

SecureBuffer pattern_key(std::size_t size, unsigned seed) {
    SecureBuffer key(size);
    for (std::size_t i = 0; i < size; ++i) {
        key.data()[i] = static_cast<std::uint8_t>(i * 37 + seed);
    }
    return key;
}

// A TOTP token with the default parameters.
TokenEntry totp_token(std::string_view name, SecureBuffer key, std::time_t added) {
    TokenEntry t;
    t.name = std::string(name);
    t.type = TokenType::totp;
    t.key = std::move(key);
    t.added = added;
    return t;
}

TokenEntry hotp_token(std::string_view name, SecureBuffer key, std::uint64_t counter, std::time_t added) {
    TokenEntry t;
    t.name = std::string(name);
    t.type = TokenType::hotp;
    t.key = std::move(key);
    t.counter = counter;
    t.added = added;
    return t;
}

// The token of a format 1 file (the only one).
const TokenEntry& only_token(const SecretFile& f) {
    assert_int_equal(f.tokens.size(), 1);
    return f.tokens.front();
}

// Every field of two files but `version` (and the period of an HOTP
// token, which is unused).
void expect_same_file(const SecretFile& g, const SecretFile& f) {
    assert_int_equal(g.tokens.size(), f.tokens.size());
    for (std::size_t i = 0; i < f.tokens.size(); ++i) {
        const TokenEntry& a = g.tokens[i];
        const TokenEntry& b = f.tokens[i];
        assert_string_equal(a.name.c_str(), b.name.c_str());
        assert_true(a.type == b.type);
        assert_int_equal(a.key.size(), b.key.size());
        assert_memory_equal(a.key.data(), b.key.data(), b.key.size());
        assert_true(a.params.algorithm == b.params.algorithm);
        assert_int_equal(a.params.digits, b.params.digits);
        if (b.type == TokenType::totp) {
            assert_int_equal(a.params.period, b.params.period);
        }
        assert_int_equal(a.offset, b.offset);
        assert_int_equal(a.counter, b.counter);
        assert_true(a.added == b.added);
        assert_true(a.confirmed_until == b.confirmed_until);
    }
    assert_int_equal(g.window.has_value(), f.window.has_value());
    if (f.window) {
        assert_int_equal(*g.window, *f.window);
    }
    assert_true(g.enrolled == f.enrolled);
    assert_true(g.enrollment_id == f.enrollment_id);
    // The recovery codes' key is the same (format 2 writes the anchor
    // whenever there are recovery codes: the first token's key if unset).
    if (!g.tokens.empty() && !f.tokens.empty()) {
        assert_true(g.recovery_key().view() == f.recovery_key().view());
    }
    if (f.recovery_anchor) {
        assert_true(g.recovery_anchor.has_value());
    }
    if (g.recovery_anchor && !f.recovery_anchor) {
        assert_false(f.recovery_hashes.empty());
        assert_int_equal(g.version, 2);
    }
    assert_true(g.recovery_hashes == f.recovery_hashes);
}

// --- good files -------------------------------------------------------------

void parses_good_file(void** /*state*/) {
    const auto r = parse_secret_file(join(good_lines()));
    assert_true(r.ok());
    const SecretFile& f = r.value();
    assert_int_equal(f.version, 1);
    // One TOTP token, named "default", added at enrollment.
    const TokenEntry& t = only_token(f);
    assert_string_equal(t.name.c_str(), "default");
    assert_true(t.name == pam_totp::default_token_name);
    assert_true(t.type == TokenType::totp);
    assert_int_equal(t.key.size(), 20);
    assert_memory_equal(t.key.data(), "Hello!\xde\xad\xbe\xefHello!\xde\xad\xbe\xef", 20);
    assert_true(t.params.algorithm == Algorithm::sha1);
    assert_int_equal(t.params.digits, 6);
    assert_int_equal(t.params.period, 30);
    assert_int_equal(t.offset, 0);
    assert_int_equal(t.counter, 0);
    assert_true(t.added == 1764290000);
    assert_true(t.confirmed_until == 0);
    assert_false(f.recovery_anchor.has_value());
    assert_true(&f.recovery_key() == &t.key);  // the recovery codes hang on the token's key
    assert_true(f.find("default") == &t);
    assert_true(f.find("phone") == nullptr);
    assert_false(f.window.has_value());
    assert_true(f.enrolled == 1764290000);
    assert_true(f.enrollment_id == good_id);
    assert_int_equal(f.recovery_hashes.size(), 1);
    assert_true(f.recovery_hashes[0] == hash1);
}

void parses_data_file_any_order(void** /*state*/) {
    const char* dir = std::getenv("TESTS_DATA");
    const std::string path = std::string(dir != nullptr ? dir : "tests/data") + "/secret_v1_good.txt";
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "cannot open %s (set TESTS_DATA)\n", path.c_str());
    }
    assert_true(static_cast<bool>(in));
    std::ostringstream read;
    read << in.rdbuf();
    const std::string text = read.str();
    const auto r = parse_secret_file(text);
    if (!r.ok()) {
        std::fprintf(stderr, "%s\n", r.error().message.c_str());
    }
    assert_true(r.ok());
    const SecretFile& f = r.value();
    const TokenEntry& t = only_token(f);
    assert_true(t.name == pam_totp::default_token_name);
    assert_int_equal(t.key.size(), 20);
    assert_true(t.params.algorithm == Algorithm::sha256);
    assert_int_equal(t.params.digits, 8);
    assert_int_equal(t.params.period, 60);
    assert_true(t.added == f.enrolled);
    assert_true(f.window.has_value());
    assert_int_equal(*f.window, 2);
    assert_true(f.enrollment_id == good_id);
    assert_int_equal(f.recovery_hashes.size(), 2);
    assert_true(f.recovery_hashes[1] == hash2);
}

void accepts_boundaries(void** /*state*/) {
    auto r = parse_secret_file(replacing("secret", "secret " + std::string(secret_10_bytes)));
    assert_true(r.ok());
    assert_int_equal(only_token(r.value()).key.size(), 10);
    r = parse_secret_file(replacing("secret", "secret " + std::string(secret_128_bytes)));
    assert_true(r.ok());
    assert_int_equal(only_token(r.value()).key.size(), 128);
    // Lower case base32, as some apps show it.
    r = parse_secret_file(replacing("secret", "secret jbswy3dpehpk3pxpjbswy3dpehpk3pxp"));
    assert_true(r.ok());
    assert_int_equal(only_token(r.value()).key.size(), 20);
    assert_true(parse_secret_file(replacing("period", "period 15")).ok());
    assert_true(parse_secret_file(replacing("period", "period 120")).ok());
    assert_true(parse_secret_file(replacing("digits", "digits 8")).ok());
    r = parse_secret_file(appending("window 0"));
    assert_true(r.ok());
    assert_int_equal(*r.value().window, 0);
    assert_true(parse_secret_file(appending("window 10")).ok());
    r = parse_secret_file(replacing("enrolled", "enrolled 0"));
    assert_true(r.ok());
    assert_true(r.value().enrolled == 0);
    r = parse_secret_file(replacing("recovery", ""));
    assert_true(r.ok());
    assert_true(r.value().recovery_hashes.empty());
    // Exactly max_recovery_codes hashes.
    std::string text = replacing("recovery", "");
    for (std::size_t i = 0; i < pam_totp::max_recovery_codes; ++i) {
        text += "recovery " + std::string(hash1) + "\n";
    }
    r = parse_secret_file(text);
    assert_true(r.ok());
    assert_int_equal(r.value().recovery_hashes.size(), pam_totp::max_recovery_codes);
}

// --- the line syntax, as seen through the secret file -----------------------

// The newest version is the one asked for; both are read.
void refuses_empty_file(void** /*state*/) {
    expect_error("", "secret file: empty file", "expected 'version 2'");
}

void refuses_bad_version_line(void** /*state*/) {
    expect_line_error(replacing("version", "version: 1"), 1, "expected 'version 2'");
    expect_line_error(join({"# comment first", "version 1"}), 1, "expected 'version 2'");
}

void refuses_wrong_version(void** /*state*/) {
    expect_line_error(replacing("version", "version 3"), 1, "format version 3 found, this build reads versions 1 to 2");
    expect_line_error(replacing("version", "version 0"), 1, "format version 0 found, this build reads versions 1 to 2");
}

// A format 1 file with format 2's keys: unknown keys, as in any file of
// its format (an older pam_totp refuses them the same way).
void refuses_v2_keys_in_v1(void** /*state*/) {
    expect_line_error(appending("token phone"), 9, "unknown key 'token'", "phone");
    expect_line_error(appending("type totp"), 9, "unknown key 'type'");
    expect_line_error(appending("offset 30"), 9, "unknown key 'offset'");
    expect_line_error(appending("counter 0"), 9, "unknown key 'counter'");
    expect_line_error(appending("added 1764290000"), 9, "unknown key 'added'");
    expect_line_error(appending("recovery_anchor " + std::string(anchor_secret)), 9, "unknown key 'recovery_anchor'");
}

void refuses_oversize_file(void** /*state*/) {
    std::string text = join(good_lines());
    while (text.size() <= pam_totp::max_file_size) {
        text += "# padding padding padding padding padding padding padding padding\n";
    }
    expect_error(text, "secret file: larger than 65536 bytes", "");
}

void refuses_overlong_line(void** /*state*/) {
    const std::string secret = "secret " + std::string(good_secret) + std::string(1000, 'A');
    expect_line_error(replacing("secret", secret), 2, "line longer than 1024 bytes");
    expect_line_error(appending("# " + std::string(1023, 'x')), 9, "line longer than 1024 bytes");
}

void refuses_bad_bytes(void** /*state*/) {
    const std::string s(good_secret);
    expect_line_error(replacing("secret", "secret " + s.substr(0, 4) + std::string(1, '\0') + s.substr(4)), 2,
                      "NUL byte at column 12");
    expect_line_error(replacing("secret", "secret " + s + "\r"), 2, "carriage return at column 40");
    expect_line_error(replacing("secret", "secret\t" + s), 2, "tab character at column 7");
    expect_line_error(replacing("digits", "digits 6\x0b"), 4, "control character at column 9");
    expect_line_error(replacing("secret", "secret " + s + "\xc2\xa0"), 2, "non-ASCII byte at column 40");
}

void refuses_malformed_lines(void** /*state*/) {
    const std::string s(good_secret);
    expect_line_error(replacing("secret", "secret"), 2, "expected 'key value', found no space");
    expect_line_error(replacing("secret", "secret=" + s), 2, "found no space");
    expect_line_error(replacing("secret", "secret  " + s), 2, "more than one space after 'secret'");
    expect_line_error(replacing("secret", "secret " + s + " "), 2, "trailing space");
    expect_line_error(replacing("secret", "secret "), 2, "empty value for 'secret'");
    expect_line_error(replacing("secret", "secret JBSW Y3DP EHPK 3PXP"), 2, "space inside the value of 'secret'",
                      "JBSW");
    expect_line_error(replacing("secret", "Secret " + s), 2, "malformed key");
    expect_line_error(replacing("secret", s + " secret"), 2, "malformed key");
}

// --- keys ---------------------------------------------------------------------

void refuses_unknown_key(void** /*state*/) {
    expect_line_error(appending("issuer Example"), 9, "unknown key 'issuer'", "Example");
    expect_line_error(appending("secret_backup " + std::string(good_secret)), 9, "unknown key 'secret_backup'");
}

void refuses_duplicate_key(void** /*state*/) {
    expect_line_error(appending("digits 8"), 9, "duplicate 'digits' (first on line 4)");
    expect_line_error(appending("secret " + std::string(secret_10_bytes)), 9, "duplicate 'secret' (first on line 2)",
                      secret_10_bytes);
    expect_line_error(appending("window 1\nwindow 1"), 10, "duplicate 'window' (first on line 9)");
    expect_line_error(appending("enrollment_id " + std::string(good_id)), 9,
                      "duplicate 'enrollment_id' (first on line 7)");
}

void refuses_missing_secret(void** /*state*/) {
    expect_missing("secret");
}
void refuses_missing_algorithm(void** /*state*/) {
    expect_missing("algorithm");
}
void refuses_missing_digits(void** /*state*/) {
    expect_missing("digits");
}
void refuses_missing_period(void** /*state*/) {
    expect_missing("period");
}
void refuses_missing_enrolled(void** /*state*/) {
    expect_missing("enrolled");
}
void refuses_missing_enrollment_id(void** /*state*/) {
    expect_missing("enrollment_id");
}

// --- values -------------------------------------------------------------------

void refuses_bad_base32(void** /*state*/) {
    const char* const bad[] = {"JBSWY3DPEHPK3PX1JBSWY3DP", "JBSWY3DPEHPK3PX0", "JBSWY3DP-EHPK3PXP",
                               "JBSWY3DP.EHPK3PXP"};
    for (const char* value : bad) {
        expect_line_error(replacing("secret", "secret " + std::string(value)), 2,
                          "'secret' is not valid base32 (RFC 4648)", value);
    }
}

void refuses_short_secret(void** /*state*/) {
    expect_line_error(replacing("secret", "secret " + std::string(secret_9_bytes)), 2,
                      "'secret' is shorter than 80 bits", secret_9_bytes);
}

void refuses_long_secret(void** /*state*/) {
    expect_line_error(replacing("secret", "secret " + std::string(secret_129_bytes)), 2,
                      "'secret' is longer than 1024 bits", secret_129_bytes.substr(0, 16));
}

void refuses_bad_algorithm(void** /*state*/) {
    const char* const bad[] = {"SHA1", "sha384", "md5", "sha-256", "hmac-sha1"};
    for (const char* value : bad) {
        expect_line_error(replacing("algorithm", "algorithm " + std::string(value)), 3,
                          "'algorithm' must be sha1, sha256 or sha512");
    }
}

void refuses_bad_digits(void** /*state*/) {
    expect_line_error(replacing("digits", "digits 7"), 4, "'digits': digits must be 6 or 8");
    expect_line_error(replacing("digits", "digits 0"), 4, "'digits': digits must be 6 or 8");
    expect_line_error(replacing("digits", "digits 10"), 4, "'digits': digits must be 6 or 8");
    expect_line_error(replacing("digits", "digits six"), 4, "'digits': not a decimal number");
    expect_line_error(replacing("digits", "digits 06"), 4, "'digits': not a decimal number (leading zero)");
    expect_line_error(replacing("digits", "digits 99999999999999"), 4, "'digits': out of range");
}

void refuses_bad_period(void** /*state*/) {
    expect_line_error(replacing("period", "period 14"), 5, "'period': period must be 15 to 120 seconds");
    expect_line_error(replacing("period", "period 121"), 5, "'period': period must be 15 to 120 seconds");
    expect_line_error(replacing("period", "period 0"), 5, "'period': period must be 15 to 120 seconds");
    expect_line_error(replacing("period", "period -30"), 5, "'period': not a decimal number");
}

void refuses_bad_window(void** /*state*/) {
    expect_line_error(appending("window 11"), 9, "'window': window must be 0 to 10 steps");
    expect_line_error(appending("window -1"), 9, "'window': not a decimal number");
    expect_line_error(appending("window 4294967296"), 9, "'window': out of range");
}

void refuses_negative_enrolled(void** /*state*/) {
    expect_line_error(replacing("enrolled", "enrolled -1764290000"), 6, "'enrolled': not a decimal number");
}

void refuses_non_numeric_enrolled(void** /*state*/) {
    const char* const bad[] = {"yesterday", "+1764290000", "1764290000.5", "0x6929a3d0", "1e9", "01764290000"};
    for (const char* value : bad) {
        expect_line_error(replacing("enrolled", "enrolled " + std::string(value)), 6,
                          "'enrolled': not a decimal number");
    }
}

void refuses_overflowing_enrolled(void** /*state*/) {
    // time_t is 64 bits on Debian: INT64_MAX is the largest accepted.
    assert_true(parse_secret_file(replacing("enrolled", "enrolled 9223372036854775807")).ok());
    expect_line_error(replacing("enrolled", "enrolled 9223372036854775808"), 6, "'enrolled': out of range");
    expect_line_error(replacing("enrolled", "enrolled 99999999999999999999999999"), 6, "'enrolled': out of range");
}

void refuses_bad_enrollment_id(void** /*state*/) {
    const char* const bad[] = {
        "0123456789abcdef0123456789abcde",    // 31
        "0123456789abcdef0123456789abcdef0",  // 33
        "0123456789ABCDEF0123456789ABCDEF",   // upper case
        "0123456789abcdef0123456789abcdeg",   // not hex
        "{0123456789abcdef0123456789abcd}",
    };
    for (const char* value : bad) {
        expect_line_error(replacing("enrollment_id", "enrollment_id " + std::string(value)), 7,
                          "'enrollment_id' must be 32 lower-case hex digits", value);
    }
}

void refuses_malformed_recovery_hash(void** /*state*/) {
    const std::string h(hash1);
    const std::string too_long = "$y$j9T$s4lt$" + std::string(300, 'a');
    const std::string bad[] = {
        "$6$rounds=5000$s4lt$hashed",  // not yescrypt
        "$y$j9T$s4ltonly",             // a setting, not a hash
        "$y$j9T$s4lt$h4sh$extra",      // one field too many
        "$y$j9T$$h4sh",                // empty salt
        "$y$j9T$s4lt$",                // empty hash
        "y$j9T$s4lt$h4sh",             // no leading '$'
        "$y$j9T$sa-lt$h4sh",           // outside crypt's alphabet
        "$y$j9T$s4lt$ha,sh", "plaintext-recovery-code", too_long,
        // Strict: only the form and cost totp-enroll writes.
        h.substr(0, h.size() - 1),                                              // the hash cut short
        h.substr(0, 30),                                                        // cut right after the salt
        h + "x",                                                                // one character too many
        "$y$jFT$" + h.substr(7),                                                // a cost of 1 GiB per attempt
        "$y$j8T$" + h.substr(7),                                                // another cost
        "$y$j9T$abcdefghijklmnop$OT3J/1y2Li0C.4QmPPDIggvcR.szvXkmp0hgX9fdoH4",  // a 16-character salt
    };
    for (const std::string& value : bad) {
        expect_line_error(replacing("recovery", "recovery " + value), 8,
                          "'recovery' is not a recovery-code hash as totp-enroll writes it ($y$j9T$salt$hash)",
                          value.substr(7));
    }
}

void refuses_too_many_recovery_hashes(void** /*state*/) {
    std::string text = join(good_lines());  // one recovery line already, on line 8
    for (std::size_t i = 1; i <= pam_totp::max_recovery_codes; ++i) {
        text += "recovery " + std::string(hash2) + "\n";
    }
    // Line 8 holds the first hash, lines 9.. the others: the 101st is on line 108.
    expect_line_error(text, 108, "more than 100 'recovery' lines", hash2);
}

void reports_the_first_error(void** /*state*/) {
    // A bad value before a missing key: the line error wins, reading top-down.
    std::string text = replacing("digits", "digits 7");
    text = text.substr(0, text.find("period"));
    expect_line_error(text, 4, "'digits': digits must be 6 or 8");
}

// --- confirmed ----------------------------------------------------------------

void parses_confirmed(void** /*state*/) {
    auto r = parse_secret_file(appending("confirmed 1764290040"));
    if (!r.ok()) {
        fail_msg("%s", r.error().message.c_str());
    }
    assert_true(only_token(r.value()).confirmed_until == 1764290040);
    // Optional: without it nothing was confirmed by a code.
    r = parse_secret_file(join(good_lines()));
    assert_true(r.ok());
    assert_true(only_token(r.value()).confirmed_until == 0);
    r = parse_secret_file(appending("confirmed 0"));
    assert_true(r.ok());
    assert_true(only_token(r.value()).confirmed_until == 0);
}

void refuses_bad_confirmed(void** /*state*/) {
    expect_line_error(appending("confirmed 1764290040\nconfirmed 1764290040"), 10,
                      "duplicate 'confirmed' (first on line 9)");
    expect_line_error(appending("confirmed -1"), 9, "'confirmed': not a decimal number");
    expect_line_error(appending("confirmed soon"), 9, "'confirmed': not a decimal number");
    expect_line_error(appending("confirmed 9223372036854775808"), 9, "'confirmed': out of range");
    expect_line_error(appending("confirmed "), 9, "empty value for 'confirmed'");
}

void round_trips_confirmed(void** /*state*/) {
    SecretFile f;
    f.tokens.push_back(totp_token(pam_totp::default_token_name, pattern_key(20, 3), 1764290000));
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    f.tokens[0].confirmed_until = 1764290040;
    f.recovery_hashes = {std::string(hash1)};
    const auto text = serialise_secret_file(f);
    assert_true(text.ok());
    assert_true(contains(text.value().view(), "\nconfirmed 1764290040\n"));
    const auto back = parse_secret_file(text.value().view());
    assert_true(back.ok());
    assert_true(only_token(back.value()).confirmed_until == 1764290040);
    // Not written when nothing was confirmed.
    f.tokens[0].confirmed_until = 0;
    const auto none = serialise_secret_file(f);
    assert_true(none.ok());
    assert_false(contains(none.value().view(), "confirmed"));
    // A negative one is refused.
    f.tokens[0].confirmed_until = -5;
    const auto neg = serialise_secret_file(f);
    assert_false(neg.ok());
    assert_true(contains(neg.error().message, "'confirmed'"));
}

// A hash the strict parser refuses is refused by the writer too.
void refuses_to_write_a_loose_hash(void** /*state*/) {
    SecretFile f;
    f.tokens.push_back(totp_token(pam_totp::default_token_name, pattern_key(20, 3), 0));
    f.enrollment_id = std::string(good_id);
    const std::string h(hash1);
    for (const std::string& bad : {h.substr(0, h.size() - 1), "$y$jFT$" + h.substr(7)}) {
        f.recovery_hashes = {bad};
        const auto r = serialise_secret_file(f);
        assert_false(r.ok());
        assert_true(contains(r.error().message, "'recovery'"));
    }
}

// --- writing ------------------------------------------------------------------

// One TOTP token named "default", added at enrollment: a format 1 file.
SecretFile sample_file(Algorithm alg) {
    SecretFile f;
    f.tokens.push_back(totp_token(pam_totp::default_token_name, pattern_key(20, 1), 1764290000));
    f.tokens[0].params.algorithm = alg;
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    return f;
}

// parse(serialise(f)) is f, and the text is of format `version`.
void expect_round_trip(const SecretFile& f, unsigned version = 1) {
    const auto text = serialise_secret_file(f);
    if (!text.ok()) {
        fail_msg("%s", text.error().message.c_str());
    }
    const std::string first_line = "version " + std::to_string(version) + "\n";
    if (text.value().view().substr(0, first_line.size()) != first_line) {
        fail_msg("expected format %u, got:\n%.*s", version, static_cast<int>(text.value().size()),
                 text.value().chars());
    }
    const auto back = parse_secret_file(text.value().view());
    if (!back.ok()) {
        fail_msg("%s", back.error().message.c_str());
    }
    assert_int_equal(back.value().version, version);
    expect_same_file(back.value(), f);
}

void round_trips_all_algorithms(void** /*state*/) {
    for (const Algorithm alg : {Algorithm::sha1, Algorithm::sha256, Algorithm::sha512}) {
        expect_round_trip(sample_file(alg));
    }
}

void round_trips_window_and_parameters(void** /*state*/) {
    SecretFile f = sample_file(Algorithm::sha512);
    f.tokens[0].params.digits = 8;
    f.tokens[0].params.period = 60;
    f.window = 0;
    expect_round_trip(f);
    f.window = 10;
    expect_round_trip(f);
    f.window.reset();
    f.tokens[0].params.period = 15;
    expect_round_trip(f);
}

void round_trips_recovery_hashes(void** /*state*/) {
    SecretFile f = sample_file(Algorithm::sha1);
    expect_round_trip(f);  // none
    f.recovery_hashes = {std::string(hash1)};
    expect_round_trip(f);
    f.recovery_hashes = {std::string(hash1), std::string(hash2), std::string(hash1)};
    expect_round_trip(f);
    f.recovery_hashes.assign(pam_totp::max_recovery_codes, std::string(hash2));
    expect_round_trip(f);
}

void round_trips_key_sizes(void** /*state*/) {
    for (const std::size_t size : {std::size_t{10}, std::size_t{11}, std::size_t{16}, std::size_t{32}, std::size_t{64},
                                   std::size_t{127}, std::size_t{128}}) {
        SecretFile f = sample_file(Algorithm::sha256);
        f.tokens[0].key = pattern_key(size, static_cast<unsigned>(size));
        f.enrolled = static_cast<std::time_t>(size);
        f.tokens[0].added = f.enrolled;
        expect_round_trip(f);
    }
}

void writes_version_header_and_order(void** /*state*/) {
    SecretFile f;
    f.tokens.push_back(totp_token(pam_totp::default_token_name,
                                  SecureBuffer(std::string_view("Hello!\xde\xad\xbe\xefHello!\xde\xad\xbe\xef")),
                                  1764290000));
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    f.window = 1;
    f.recovery_hashes = {std::string(hash1), std::string(hash2)};
    const auto text = serialise_secret_file(f);
    assert_true(text.ok());
    const std::string expected =
        "version 1\n"
        "# pam_totp secret file: see pam_totp-secret(5). Keep it private (mode 0600).\n"
        "secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"
        "algorithm sha1\n"
        "digits 6\n"
        "period 30\n"
        "window 1\n"
        "enrolled 1764290000\n"
        "enrollment_id 0123456789abcdef0123456789abcdef\n"
        "recovery " +
        std::string(hash1) + "\nrecovery " + std::string(hash2) + "\n";
    if (text.value().view() != expected) {
        std::fprintf(stderr, "got:\n%.*s", static_cast<int>(text.value().size()), text.value().chars());
    }
    assert_true(text.value().view() == expected);
}

void refuses_to_write_invalid_file(void** /*state*/) {
    const auto refused = [](const SecretFile& f, std::string_view problem) {
        const auto r = serialise_secret_file(f);
        assert_false(r.ok());
        if (!contains(r.error().message, problem)) {
            std::fprintf(stderr, "unexpected message: \"%s\"\n", r.error().message.c_str());
        }
        assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::invalid_argument));
        assert_true(contains(r.error().message, "cannot write secret file: "));
        assert_true(contains(r.error().message, problem));
    };
    SecretFile f = sample_file(Algorithm::sha1);
    f.tokens[0].key = pattern_key(9, 0);
    refused(f, "shorter than 80 bits");
    f.tokens[0].key = pattern_key(129, 0);
    refused(f, "longer than 1024 bits");
    f = sample_file(Algorithm::sha1);
    f.tokens[0].params.digits = 7;
    refused(f, "'digits': digits must be 6 or 8");
    f = sample_file(Algorithm::sha1);
    f.tokens[0].params.period = 121;
    refused(f, "'period'");
    f = sample_file(Algorithm::sha1);
    f.window = 11;
    refused(f, "'window'");
    f = sample_file(Algorithm::sha1);
    f.enrolled = -1;
    refused(f, "'enrolled' is negative");
    f = sample_file(Algorithm::sha1);
    f.tokens[0].added = -1;
    refused(f, "'added' or 'confirmed' is negative");
    f = sample_file(Algorithm::sha1);
    f.enrollment_id = "0123456789ABCDEF0123456789abcdef";
    refused(f, "'enrollment_id'");
    // A newline in a hash would smuggle in a line of its own.
    f = sample_file(Algorithm::sha1);
    f.recovery_hashes = {std::string(hash1) + "\nwindow 10"};
    refused(f, "'recovery'");
    f = sample_file(Algorithm::sha1);
    f.recovery_hashes.assign(pam_totp::max_recovery_codes + 1, std::string(hash1));
    refused(f, "more than 100");
}

// --- format 2 -------------------------------------------------------------------

// The good format 2 file, one line per entry (line numbers are index + 1):
// 1 version, 2 enrolled, 3 enrollment_id, 4 recovery_anchor, 5 recovery; a
// TOTP token "phone" on lines 6-12 (6 token, 7 type, 8 secret, 9 algorithm,
// 10 digits, 11 period, 12 added) and an HOTP token "yubikey" on lines 13-19
// (13 token, 14 type, 15 secret, 16 algorithm, 17 digits, 18 counter,
// 19 added).
std::vector<std::string> v2_lines() {
    return {
        "version 2",
        "enrolled 1764290000",
        "enrollment_id " + std::string(good_id),
        "recovery_anchor " + std::string(anchor_secret),
        "recovery " + std::string(hash1),
        "token phone",
        "type totp",
        "secret " + std::string(good_secret),
        "algorithm sha1",
        "digits 6",
        "period 30",
        "added 1764290000",
        "token yubikey",
        "type hotp",
        "secret " + std::string(rfc_secret),
        "algorithm sha1",
        "digits 6",
        "counter 5",
        "added 1764290100",
    };
}

// The same tokens the other way round: "yubikey" on lines 6-12 (6 token,
// 7 type, 8 secret, 9 algorithm, 10 digits, 11 counter, 12 added), "phone"
// on lines 13-19 (13 token, ..., 18 period, 19 added).
std::vector<std::string> v2_lines_hotp_first() {
    const std::vector<std::string> l = v2_lines();
    std::vector<std::string> out(l.begin(), l.begin() + 5);
    out.insert(out.end(), l.begin() + 12, l.end());
    out.insert(out.end(), l.begin() + 5, l.begin() + 12);
    return out;
}

// `lines` with line `n` (1-based) replaced by `line`, dropped when `line` is empty.
std::string v2_replacing(std::size_t n, const std::string& line, std::vector<std::string> lines = v2_lines()) {
    if (line.empty()) {
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(n - 1));
    } else {
        lines[n - 1] = line;
    }
    return join(lines);
}

// `lines` with `line` inserted to become line `n`.
std::string v2_inserting(std::size_t n, const std::string& line, std::vector<std::string> lines = v2_lines()) {
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(n - 1), line);
    return join(lines);
}

SecretFile parsed(const std::string& text) {
    auto r = parse_secret_file(text);
    if (!r.ok()) {
        fail_msg("%s", r.error().message.c_str());
    }
    return std::move(r).value();
}

void parses_v2_file(void** /*state*/) {
    const SecretFile f = parsed(join(v2_lines()));
    assert_int_equal(f.version, 2);
    assert_true(f.enrolled == 1764290000);
    assert_true(f.enrollment_id == good_id);
    assert_true(f.recovery_hashes == std::vector<std::string>{std::string(hash1)});
    assert_false(f.window.has_value());
    assert_true(f.recovery_anchor.has_value());
    assert_true(f.recovery_anchor->view() == "abcdefghijklmnopqrst");
    assert_int_equal(f.tokens.size(), 2);
    const TokenEntry& phone = f.tokens[0];
    assert_string_equal(phone.name.c_str(), "phone");
    assert_true(phone.type == TokenType::totp);
    assert_memory_equal(phone.key.data(), "Hello!\xde\xad\xbe\xefHello!\xde\xad\xbe\xef", 20);
    assert_true(phone.params.algorithm == Algorithm::sha1);
    assert_int_equal(phone.params.digits, 6);
    assert_int_equal(phone.params.period, 30);
    assert_int_equal(phone.offset, 0);
    assert_true(phone.added == 1764290000);
    assert_true(phone.confirmed_until == 0);
    const TokenEntry& yubikey = f.tokens[1];
    assert_string_equal(yubikey.name.c_str(), "yubikey");
    assert_true(yubikey.type == TokenType::hotp);
    assert_true(yubikey.key.view() == "12345678901234567890");
    assert_true(yubikey.params.algorithm == Algorithm::sha1);
    assert_int_equal(yubikey.params.digits, 6);
    assert_int_equal(yubikey.counter, 5);
    assert_true(yubikey.added == 1764290100);
    // The recovery codes hang on the anchor, not on a token.
    assert_true(&f.recovery_key() == &*f.recovery_anchor);
    assert_true(f.find("yubikey") == &yubikey);
    assert_true(f.find("Phone") == nullptr);  // names are compared exactly
    // The other order is read in its order (the login tries tokens in
    // it); the recovery codes' key stays the anchor.
    const SecretFile g = parsed(join(v2_lines_hotp_first()));
    assert_string_equal(g.tokens[0].name.c_str(), "yubikey");
    assert_string_equal(g.tokens[1].name.c_str(), "phone");
    assert_true(g.recovery_key().view() == f.recovery_key().view());
    // Without recovery codes and anchor, the first token's key.
    std::vector<std::string> bare = v2_lines();
    bare.erase(bare.begin() + 3, bare.begin() + 5);
    const SecretFile h = parsed(join(bare));
    assert_true(&h.recovery_key() == &h.tokens[0].key);
}

// The optional keys, any order of the keys within each part, comments and
// blank lines.
void parses_v2_optional_keys(void** /*state*/) {
    const std::string text = join({
        "version 2",
        "# written by hand",
        "recovery " + std::string(hash2),
        "window 3",
        "recovery_anchor " + std::string(anchor_secret),
        "enrollment_id " + std::string(good_id),
        "recovery " + std::string(hash1),
        "enrolled 1764290000",
        "",
        "token old-phone.2",
        "added 1764000000",
        "confirmed 1764000030",
        "offset -90",
        "period 60",
        "digits 8",
        "algorithm sha512",
        "secret " + std::string(good_secret),
        "type totp",
        "token 0hw_token",
        "counter 0",
        "digits 8",
        "added 1764290000",
        "secret " + std::string(rfc_secret),
        "algorithm sha1",
        "type hotp",
    });
    const SecretFile f = parsed(text);
    assert_int_equal(*f.window, 3);
    assert_true(f.recovery_anchor.has_value());
    assert_true(f.recovery_anchor->view() == "abcdefghijklmnopqrst");
    assert_true(&f.recovery_key() == &*f.recovery_anchor);
    assert_true(f.recovery_hashes == (std::vector<std::string>{std::string(hash2), std::string(hash1)}));
    const TokenEntry& a = f.tokens.at(0);
    assert_string_equal(a.name.c_str(), "old-phone.2");
    assert_true(a.params.algorithm == Algorithm::sha512);
    assert_int_equal(a.params.digits, 8);
    assert_int_equal(a.params.period, 60);
    assert_int_equal(a.offset, -90);
    assert_true(a.confirmed_until == 1764000030);
    assert_true(a.added == 1764000000);
    const TokenEntry& b = f.tokens.at(1);
    assert_string_equal(b.name.c_str(), "0hw_token");
    assert_true(b.type == TokenType::hotp);
    assert_int_equal(b.params.digits, 8);
    assert_int_equal(b.counter, 0);
}

void v2_accepts_boundaries(void** /*state*/) {
    for (const char* offset : {"-300", "300", "0", "-1", "1"}) {
        const SecretFile f = parsed(v2_inserting(12, "offset " + std::string(offset)));
        assert_int_equal(f.tokens[0].offset, std::stol(offset));
    }
    // The largest counter a file may hold leaves room for the widest
    // look-ahead and the step past it within what the state reads back.
    assert_int_equal(pam_totp::max_file_hotp_counter, pam_totp::max_hotp_counter - pam_totp::max_hotp_window - 1);
    SecretFile f = parsed(v2_replacing(18, "counter " + std::to_string(pam_totp::max_file_hotp_counter)));
    assert_int_equal(f.tokens[1].counter, pam_totp::max_file_hotp_counter);
    // Names: 1 and 32 characters, digits first, '.', '_', '-' inside.
    for (const std::string& name : {std::string("a"), std::string(32, 'z'), std::string("9"), std::string("a.b_c-d"),
                                    std::string("YubiKey-5C")}) {
        f = parsed(v2_replacing(6, "token " + name));
        assert_true(f.tokens[0].name == name);
    }
    // A single token, of either type; a name other than "default".
    const std::vector<std::string> l = v2_lines();
    f = parsed(join(std::vector<std::string>(l.begin(), l.begin() + 12)));
    assert_int_equal(f.tokens.size(), 1);
    std::vector<std::string> hotp_only(l.begin(), l.begin() + 5);
    hotp_only.insert(hotp_only.end(), l.begin() + 12, l.end());
    f = parsed(join(hotp_only));
    assert_int_equal(f.tokens.size(), 1);
    assert_true(f.tokens[0].type == TokenType::hotp);
    // No recovery codes at all (an anchor without them is allowed), and
    // neither codes nor anchor.
    f = parsed(v2_replacing(5, ""));
    assert_true(f.recovery_hashes.empty());
    assert_true(f.recovery_anchor.has_value());
    std::vector<std::string> bare = l;
    bare.erase(bare.begin() + 3, bare.begin() + 5);
    f = parsed(join(bare));
    assert_true(f.recovery_hashes.empty());
    assert_false(f.recovery_anchor.has_value());
    // An HOTP token may have 8 digits; a TOTP token any algorithm.
    assert_true(parse_secret_file(v2_replacing(17, "digits 8")).ok());
    assert_true(parse_secret_file(v2_replacing(9, "algorithm sha256")).ok());
}

// A format 2 file with `n` TOTP tokens (keys differ), each 7 lines, the
// first token on line 4.
std::string many_tokens(std::size_t n) {
    std::vector<std::string> lines = {"version 2", "enrolled 1764290000", "enrollment_id " + std::string(good_id)};
    for (std::size_t i = 0; i < n; ++i) {
        const auto key = pam_totp::base32_encode(pattern_key(20, static_cast<unsigned>(i)));
        lines.push_back("token t" + std::to_string(i));
        lines.push_back("type totp");
        lines.push_back("secret " + std::string(key.value().view()));
        lines.push_back("algorithm sha1");
        lines.push_back("digits 6");
        lines.push_back("period 30");
        lines.push_back("added 1764290000");
    }
    return join(lines);
}

void v2_token_count(void** /*state*/) {
    const SecretFile f = parsed(many_tokens(pam_totp::max_tokens_per_file));
    assert_int_equal(f.tokens.size(), 8);
    // The ninth token's line (4 + 8 * 7) is refused.
    expect_line_error(many_tokens(pam_totp::max_tokens_per_file + 1), 60, "more than 8 tokens");
    // None at all.
    expect_error(join({"version 2", "enrolled 1764290000", "enrollment_id " + std::string(good_id),
                       "recovery " + std::string(hash1)}),
                 "secret file: no 'token' (at least one is needed)", "");
}

void v2_refuses_unknown_keys(void** /*state*/) {
    // In the file's part: format 1's per-token keys among them.
    expect_line_error(v2_inserting(4, "issuer Example"), 4, "unknown key 'issuer'", "Example");
    expect_line_error(v2_inserting(4, "secret " + std::string(good_secret)), 4, "unknown key 'secret'");
    expect_line_error(v2_inserting(4, "period 30"), 4, "unknown key 'period'");
    expect_line_error(v2_inserting(4, "confirmed 1764290010"), 4, "unknown key 'confirmed'");
    // In a token's section.
    expect_line_error(v2_inserting(9, "label Example"), 9, "unknown key 'label'", "Example");
    expect_line_error(v2_inserting(20, "issuer Example"), 20, "unknown key 'issuer'", "Example");
    expect_line_error(v2_inserting(9, "version 2"), 9, "unknown key 'version'");
}

void v2_refuses_duplicate_keys(void** /*state*/) {
    // In the file's part.
    expect_line_error(v2_inserting(4, "enrolled 1764290000"), 4, "duplicate 'enrolled' (first on line 2)");
    expect_line_error(v2_inserting(4, "window 1\nwindow 2"), 5, "duplicate 'window' (first on line 4)");
    expect_line_error(v2_inserting(4, "recovery_anchor " + std::string(anchor_secret) + "\nrecovery_anchor " +
                                          std::string(anchor_secret)),
                      5, "duplicate 'recovery_anchor' (first on line 4)");
    // In one token's section (each token has its own keys: the good file
    // repeats every key once per token).
    expect_line_error(v2_inserting(11, "digits 8"), 11, "duplicate 'digits' (first on line 10)");
    expect_line_error(v2_inserting(9, "secret " + std::string(anchor_secret)), 9,
                      "duplicate 'secret' (first on line 8)");
    expect_line_error(v2_inserting(19, "counter 6"), 19, "duplicate 'counter' (first on line 18)");
    expect_line_error(v2_inserting(20, "type totp"), 20, "duplicate 'type' (first on line 14)");
    expect_line_error(v2_inserting(13, "offset 30\noffset 60"), 14, "duplicate 'offset' (first on line 13)");
}

// The file's keys and the recovery codes come before the first token:
// after it they would read as the token's.
void v2_refuses_file_keys_after_a_token(void** /*state*/) {
    expect_line_error(v2_inserting(7, "window 1"), 7, "'window' belongs before the first 'token' line");
    expect_line_error(v2_inserting(20, "window 1"), 20, "'window' belongs before the first 'token' line");
    expect_line_error(v2_inserting(7, "enrolled 1764290000"), 7, "'enrolled' belongs before the first 'token' line");
    expect_line_error(v2_inserting(13, "enrollment_id " + std::string(good_id)), 13,
                      "'enrollment_id' belongs before the first 'token' line");
    expect_line_error(v2_inserting(7, "recovery_anchor " + std::string(anchor_secret)), 7,
                      "'recovery_anchor' belongs before the first 'token' line");
    expect_line_error(v2_inserting(7, "recovery " + std::string(hash2)), 7,
                      "'recovery' belongs before the first 'token' line", hash2.substr(7));
    expect_line_error(v2_inserting(20, "recovery " + std::string(hash2)), 20,
                      "'recovery' belongs before the first 'token' line", hash2.substr(7));
}

// A key a token's type needs, missing: the message names the token's line.
void v2_refuses_missing_keys(void** /*state*/) {
    // The last section (closed by the end of the file).
    for (const auto& [line, key] : {std::pair<std::size_t, const char*>{14, "type"},
                                    {15, "secret"},
                                    {16, "algorithm"},
                                    {17, "digits"},
                                    {18, "counter"},
                                    {19, "added"}}) {
        expect_line_error(v2_replacing(line, ""), 13, "token: missing '" + std::string(key) + "'");
    }
    for (const auto& [line, key] : {std::pair<std::size_t, const char*>{14, "type"},
                                    {15, "secret"},
                                    {16, "algorithm"},
                                    {17, "digits"},
                                    {18, "period"},
                                    {19, "added"}}) {
        expect_line_error(v2_replacing(line, "", v2_lines_hotp_first()), 13,
                          "token: missing '" + std::string(key) + "'");
    }
    // A token line and nothing else.
    expect_line_error(v2_inserting(20, "token spare"), 20, "token: missing 'type'");
    // The file's own.
    expect_error(v2_replacing(2, ""), "secret file: missing 'enrolled'", "");
    expect_error(v2_replacing(3, ""), "secret file: missing 'enrollment_id'", "");
}

// A section that is not the last is closed by the next `token` line; its
// problems still name its own line (as the last one's do), not the line
// that closed it.
void v2_names_the_line_of_an_unfinished_token(void** /*state*/) {
    struct Case {
        std::string text;
        std::size_t line;
        std::string message;
    };
    std::vector<Case> cases = {
        {v2_replacing(11, ""), 6, "token: missing 'period'"},
        {v2_replacing(11, "", v2_lines_hotp_first()), 6, "token: missing 'counter'"},
        {v2_inserting(13, "counter 3"), 6, "token: 'counter' is not for totp tokens"},
        {v2_replacing(9, "algorithm sha256", v2_lines_hotp_first()), 6,
         "token: 'algorithm' of an hotp token must be sha1 (RFC 4226)"},
    };
    // A duplicate secret in the second of three tokens.
    std::vector<std::string> three = v2_lines();
    three[14] = "secret " + std::string(good_secret);  // yubikey (line 15) takes phone's secret
    three.push_back("token spare");
    three.push_back("type totp");
    three.push_back("secret " + std::string(anchor_secret));
    three.push_back("algorithm sha1");
    three.push_back("digits 6");
    three.push_back("period 30");
    three.push_back("added 1764290000");
    cases.push_back({join(three), 13, "token: the same 'secret' as an earlier token"});
    // Every case is tried, and each wrong one told, before the test fails.
    std::size_t wrong = 0;
    for (const Case& c : cases) {
        const auto r = parse_secret_file(c.text);
        const std::string expected = "secret file line " + std::to_string(c.line) + ": " + c.message;
        const std::string got = r.ok() ? std::string("(accepted)") : r.error().message;
        if (got != expected) {
            print_error("expected \"%s\", got \"%s\"\n", expected.c_str(), got.c_str());
            ++wrong;
        }
    }
    assert_int_equal(wrong, 0);
}

// Keys of the other type.
void v2_refuses_keys_of_the_other_type(void** /*state*/) {
    expect_line_error(v2_inserting(20, "period 30"), 13, "token: 'period' is not for hotp tokens");
    expect_line_error(v2_inserting(20, "offset 30"), 13, "token: 'offset' is not for hotp tokens");
    expect_line_error(v2_inserting(20, "offset 0"), 13, "token: 'offset' is not for hotp tokens");
    expect_line_error(v2_inserting(20, "confirmed 1764290010"), 13, "token: 'confirmed' is not for hotp tokens");
    expect_line_error(v2_inserting(20, "counter 0", v2_lines_hotp_first()), 13,
                      "token: 'counter' is not for totp tokens");
    // HOTP is HMAC-SHA-1 (RFC 4226 section 5.2).
    for (const char* alg : {"sha256", "sha512"}) {
        expect_line_error(v2_replacing(16, "algorithm " + std::string(alg)), 13,
                          "token: 'algorithm' of an hotp token must be sha1 (RFC 4226)");
    }
}

void v2_refuses_bad_names(void** /*state*/) {
    const std::pair<std::string, const char*> bad[] = {
        {"-phone", "a token name starts with a letter or digit"},
        {".phone", "a token name starts with a letter or digit"},
        {"_phone", "a token name starts with a letter or digit"},
        {"a/b", "a token name holds only letters, digits, '.', '_' and '-'"},
        {"a:b", "a token name holds only letters, digits, '.', '_' and '-'"},
        {"phone\\1", "a token name holds only letters, digits, '.', '_' and '-'"},
        {"a$b", "a token name holds only letters, digits, '.', '_' and '-'"},
        {std::string(33, 'z'), "a token name is 1 to 32 characters"},
    };
    for (const auto& [name, problem] : bad) {
        expect_line_error(v2_replacing(13, "token " + name), 13, problem);
        expect_line_error(v2_replacing(6, "token " + name), 6, problem);
    }
    // The line syntax refuses the rest (an empty value, a space, a byte that is not ASCII).
    expect_line_error(v2_replacing(13, "token "), 13, "empty value for 'token'");
    expect_line_error(v2_replacing(13, "token my phone"), 13, "space inside the value of 'token'");
    expect_line_error(v2_replacing(13, "token t\xc3\xa9l\xc3\xa9phone"), 13, "non-ASCII byte");
}

void v2_refuses_duplicate_names(void** /*state*/) {
    expect_line_error(v2_replacing(13, "token phone"), 13, "a second token named like an earlier one");
    // A name differing in case is another name.
    assert_true(parse_secret_file(v2_replacing(13, "token Phone")).ok());
}

// One secret in two tokens: one code would count for two (and share one
// replay record). Compared as keys, however the base32 is spelled.
void v2_refuses_duplicate_secrets(void** /*state*/) {
    expect_line_error(v2_replacing(15, "secret " + std::string(good_secret)), 13,
                      "token: the same 'secret' as an earlier token");
    std::string lower(good_secret);
    for (char& c : lower) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    expect_line_error(v2_replacing(15, "secret " + lower), 13, "token: the same 'secret' as an earlier token",
                      lower.substr(0, 8));
    // HMAC pads a short key with zero bytes (RFC 2104 section 2): K and K
    // followed by zeros give the same codes, so they are one secret.
    for (const char* padded : {"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPAA", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPAAAA"}) {
        expect_line_error(v2_replacing(15, "secret " + std::string(padded)), 13,
                          "token: the same 'secret' as an earlier token", padded);
    }
    // The other way round (the longer one first) too.
    expect_line_error(v2_replacing(8, "secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPAA",
                                   [] {
                                       std::vector<std::string> l = v2_lines();
                                       l[14] = "secret " + std::string(good_secret);
                                       return l;
                                   }()),
                      13, "token: the same 'secret' as an earlier token");
}

// A format 2 key is at most one HMAC block (64 bytes): longer keys are
// hashed first, which would hide two spellings of one secret.
void v2_refuses_keys_beyond_a_block(void** /*state*/) {
    const std::string key64(pam_totp::base32_encode(pattern_key(64, 5)).value().view());
    const std::string key65(pam_totp::base32_encode(pattern_key(65, 5)).value().view());
    const SecretFile f = parsed(v2_replacing(15, "secret " + key64));
    assert_int_equal(f.tokens[1].key.size(), 64);
    expect_line_error(v2_replacing(15, "secret " + key65), 13, "token: 'secret' is longer than 512 bits (format 2)",
                      key65.substr(0, 16));
    expect_line_error(v2_replacing(8, "secret " + key65), 6, "token: 'secret' is longer than 512 bits (format 2)",
                      key65.substr(0, 16));
    // Format 1 keeps its own limit (1024 bits).
    assert_true(parse_secret_file(replacing("secret", "secret " + std::string(secret_128_bytes))).ok());
}

// The recovery codes' record hangs on the anchor: a format 2 file with
// codes must name it, or reordering the tokens would move the record.
void v2_refuses_recovery_without_anchor(void** /*state*/) {
    expect_error(v2_replacing(4, ""), "secret file: 'recovery' lines without 'recovery_anchor'", "");
    // A format 1 file has one token: its key is the codes' key, no anchor.
    assert_true(parse_secret_file(join(good_lines())).ok());
}

void v2_refuses_bad_values(void** /*state*/) {
    for (const char* type : {"u2f", "TOTP", "Hotp", "totp2"}) {
        expect_line_error(v2_replacing(7, "type " + std::string(type)), 7, "'type' must be totp or hotp");
    }
    // Offsets: within +-max_clock_offset, a plain signed decimal.
    expect_line_error(v2_inserting(12, "offset 301"), 12, "'offset' must be -300 to 300 seconds");
    expect_line_error(v2_inserting(12, "offset -301"), 12, "'offset' must be -300 to 300 seconds");
    expect_line_error(v2_inserting(12, "offset 1000000"), 12, "'offset' must be -300 to 300 seconds");
    expect_line_error(v2_inserting(12, "offset 1000001"), 12, "'offset': out of range");
    expect_line_error(v2_inserting(12, "offset -99999999999999999999"), 12, "'offset': out of range");
    for (const char* offset : {"-0", "+30", "--30", "030", "30s", "-", "1.5", "0x1e"}) {
        expect_line_error(v2_inserting(12, "offset " + std::string(offset)), 12, "'offset': not a decimal number");
    }
    // Counters.
    expect_line_error(v2_replacing(18, "counter " + std::to_string(pam_totp::max_file_hotp_counter + 1)), 18,
                      "'counter': out of range");
    expect_line_error(v2_replacing(18, "counter 4611686018427387904"), 18, "'counter': out of range");
    expect_line_error(v2_replacing(18, "counter 18446744073709551616"), 18, "'counter': out of range");
    expect_line_error(v2_replacing(18, "counter -1"), 18, "'counter': not a decimal number");
    expect_line_error(v2_replacing(18, "counter 05"), 18, "'counter': not a decimal number (leading zero)");
    // The values format 1 checks, in a token.
    expect_line_error(v2_replacing(17, "digits 7"), 17, "'digits': digits must be 6 or 8");
    expect_line_error(v2_replacing(11, "period 14"), 11, "'period': period must be 15 to 120 seconds");
    expect_line_error(v2_replacing(9, "algorithm md5"), 9, "'algorithm' must be sha1, sha256 or sha512");
    expect_line_error(v2_replacing(12, "added -1"), 12, "'added': not a decimal number");
    expect_line_error(v2_inserting(12, "confirmed soon"), 12, "'confirmed': not a decimal number");
    expect_line_error(v2_replacing(15, "secret " + std::string(secret_9_bytes)), 15, "'secret' is shorter than 80 bits",
                      secret_9_bytes);
    expect_line_error(v2_replacing(15, "secret GEZDGNBVGY3TQOJ1"), 15, "'secret' is not valid base32 (RFC 4648)",
                      "GEZDGNBVGY3TQOJ1");
    // The file's values.
    expect_line_error(v2_inserting(4, "window 11"), 4, "'window': window must be 0 to 10 steps");
    expect_line_error(v2_inserting(4, "recovery_anchor " + std::string(secret_9_bytes)), 4,
                      "'recovery_anchor' is shorter than 80 bits", secret_9_bytes);
    expect_line_error(v2_inserting(4, "recovery_anchor MFRGGZDF-MZTWQ2LK"), 4,
                      "'recovery_anchor' is not valid base32 (RFC 4648)", "MFRGGZDF");
    expect_line_error(v2_replacing(3, "enrollment_id 0123"), 3, "'enrollment_id' must be 32 lower-case hex digits");
    expect_line_error(v2_replacing(5, "recovery $6$salt$hash"), 5, "'recovery' is not a recovery-code hash");
}

// --- writing format 2, and which format is written ------------------------------

// Two tokens, both types, every optional key: format 2, and back the same.
SecretFile two_token_file() {
    SecretFile f;
    f.tokens.push_back(totp_token("phone", pattern_key(20, 1), 1764290000));
    f.tokens[0].params = pam_totp::TotpParams{Algorithm::sha256, 8, 60};
    f.tokens[0].offset = -90;
    f.tokens[0].confirmed_until = 1764290040;
    f.tokens.push_back(hotp_token("yubikey", pattern_key(20, 2), 42, 1764290100));
    f.window = 2;
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    f.recovery_hashes = {std::string(hash1), std::string(hash2)};
    return f;
}

void round_trips_v2(void** /*state*/) {
    SecretFile f = two_token_file();
    expect_round_trip(f, 2);
    // The good file, read and written again.
    expect_round_trip(parsed(join(v2_lines())), 2);
    expect_round_trip(parsed(join(v2_lines_hotp_first())), 2);
    // HOTP: counters 0 and the largest, 8 digits.
    for (const std::uint64_t counter : {std::uint64_t{0}, std::uint64_t{1}, pam_totp::max_file_hotp_counter}) {
        f.tokens[1].counter = counter;
        f.tokens[1].params.digits = counter == 0 ? 8 : 6;
        expect_round_trip(f, 2);
    }
    // Offsets, both bounds.
    for (const long offset : {-300L, -30L, 30L, 300L}) {
        f.tokens[0].offset = offset;
        expect_round_trip(f, 2);
    }
    // A recovery anchor; no window; no recovery codes.
    f.recovery_anchor = pattern_key(20, 9);
    f.window.reset();
    f.recovery_hashes.clear();
    expect_round_trip(f, 2);
    // The most tokens a file holds.
    const SecretFile most = parsed(many_tokens(pam_totp::max_tokens_per_file));
    expect_round_trip(most, 2);
}

// With recovery codes a format 2 file always names their key: the first
// token's when no anchor was set, so that reordering or adding tokens
// later leaves the codes' record where it is.
void writes_the_anchor_with_recovery_codes(void** /*state*/) {
    SecretFile f = two_token_file();
    assert_false(f.recovery_anchor.has_value());
    const auto text = serialise_secret_file(f);
    assert_true(text.ok());
    const std::string first_key(pam_totp::base32_encode(f.tokens[0].key).value().view());
    assert_true(contains(text.value().view(), "\nrecovery_anchor " + first_key + "\nrecovery "));
    SecretFile back = parsed(std::string(text.value().view()));
    assert_true(back.recovery_anchor->view() == f.tokens[0].key.view());
    // The tokens swapped: the codes' key stays.
    std::swap(back.tokens[0], back.tokens[1]);
    const SecretFile swapped = parsed(std::string(serialise_secret_file(back).value().view()));
    assert_true(swapped.recovery_key().view() == f.tokens[0].key.view());
    // Without recovery codes no anchor is written.
    f.recovery_hashes.clear();
    const auto none = serialise_secret_file(f);
    assert_true(none.ok());
    assert_false(contains(none.value().view(), "recovery_anchor"));
}

void round_trips_hotp_alone(void** /*state*/) {
    // An HOTP token alone, even one named "default", needs format 2.
    SecretFile f;
    f.tokens.push_back(hotp_token(pam_totp::default_token_name, pattern_key(20, 4), 7, 1764290000));
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    expect_round_trip(f, 2);
}

// Format 1 only when the file says nothing format 1 cannot: one TOTP token
// named "default", no offset, added at enrollment, no recovery anchor.
void serialise_picks_the_format(void** /*state*/) {
    SecretFile f = sample_file(Algorithm::sha1);
    f.window = 4;
    f.tokens[0].confirmed_until = 1764290010;
    f.recovery_hashes = {std::string(hash1)};
    expect_round_trip(f, 1);  // window, confirmed and recovery codes are format 1's too
    SecretFile g = f.clone();
    g.tokens[0].name = "phone";
    expect_round_trip(g, 2);
    g = f.clone();
    g.tokens[0].offset = 30;
    expect_round_trip(g, 2);
    g = f.clone();
    g.tokens[0].added = f.enrolled + 1;
    expect_round_trip(g, 2);
    g = f.clone();
    g.recovery_anchor = pattern_key(20, 7);
    expect_round_trip(g, 2);
    g = f.clone();
    g.tokens.push_back(totp_token("backup", pattern_key(20, 8), f.enrolled));
    expect_round_trip(g, 2);
    // A format 2 file that fits format 1 is written as format 1 (and reads
    // back the same but for its version). Without recovery codes: with
    // them format 2 names an anchor, which format 1 cannot hold.
    const std::string v2_text =
        join({"version 2", "enrolled 1764290000", "enrollment_id " + std::string(good_id), "token default", "type totp",
              "secret " + std::string(good_secret), "algorithm sha1", "digits 6", "period 30", "added 1764290000"});
    const SecretFile from_v2 = parsed(v2_text);
    assert_int_equal(from_v2.version, 2);
    expect_round_trip(from_v2, 1);
    // With them it stays format 2, its anchor the token's own key.
    const SecretFile anchored = parsed(join(
        {"version 2", "enrolled 1764290000", "enrollment_id " + std::string(good_id),
         "recovery_anchor " + std::string(good_secret), "recovery " + std::string(hash1), "token default", "type totp",
         "secret " + std::string(good_secret), "algorithm sha1", "digits 6", "period 30", "added 1764290000"}));
    expect_round_trip(anchored, 2);
    // A format 1 file is written as format 1 again.
    expect_round_trip(parsed(join(good_lines())), 1);
}

void writes_v2_layout(void** /*state*/) {
    SecretFile f = parsed(join(v2_lines()));
    f.window = 1;
    f.recovery_anchor = SecureBuffer(std::string_view("abcdefghijklmnopqrst"));
    f.tokens[0].offset = 90;
    f.tokens[0].confirmed_until = 1764290010;
    const auto text = serialise_secret_file(f);
    assert_true(text.ok());
    const std::string expected =
        "version 2\n"
        "# pam_totp secret file: see pam_totp-secret(5). Keep it private (mode 0600).\n"
        "enrolled 1764290000\n"
        "enrollment_id 0123456789abcdef0123456789abcdef\n"
        "window 1\n"
        "recovery_anchor MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U\n"
        "recovery " +
        std::string(hash1) +
        "\n"
        "token phone\n"
        "type totp\n"
        "secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n"
        "algorithm sha1\n"
        "digits 6\n"
        "period 30\n"
        "offset 90\n"
        "added 1764290000\n"
        "confirmed 1764290010\n"
        "token yubikey\n"
        "type hotp\n"
        "secret GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"
        "algorithm sha1\n"
        "digits 6\n"
        "counter 5\n"
        "added 1764290100\n";
    if (text.value().view() != expected) {
        fail_msg("got:\n%.*s", static_cast<int>(text.value().size()), text.value().chars());
    }
}

void refuses_to_write_invalid_v2(void** /*state*/) {
    const auto refused = [](const SecretFile& f, std::string_view problem) {
        const auto r = serialise_secret_file(f);
        if (r.ok()) {
            fail_msg("written; expected a refusal: %.*s", static_cast<int>(problem.size()), problem.data());
        }
        if (!contains(r.error().message, problem)) {
            fail_msg("unexpected message: \"%s\"", r.error().message.c_str());
        }
        assert_int_equal(r.error().code, Errc::invalid_argument);
        assert_true(contains(r.error().message, "cannot write secret file: "));
    };
    SecretFile f = two_token_file();
    f.tokens.clear();
    refused(f, "a secret file holds 1 to 8 tokens");
    f = parsed(many_tokens(pam_totp::max_tokens_per_file));
    f.tokens.push_back(totp_token("ninth", pattern_key(20, 99), 0));
    refused(f, "a secret file holds 1 to 8 tokens");
    f = two_token_file();
    f.tokens[1].name = "phone";
    refused(f, "two tokens named phone");
    f = two_token_file();
    f.tokens[1].key = f.tokens[0].key.clone();
    refused(f, "two tokens with the same secret");
    for (const std::string& name : {std::string(), std::string("-x"), std::string("my phone"), std::string(33, 'a'),
                                    std::string("a\nwindow 10")}) {
        f = two_token_file();
        f.tokens[0].name = name;
        refused(f, "a token name");
    }
    f = two_token_file();
    f.tokens[1].params.algorithm = Algorithm::sha256;
    refused(f, "'algorithm' of an hotp token must be sha1 (RFC 4226)");
    f = two_token_file();
    f.tokens[0].offset = 301;
    refused(f, "'offset' must be -300 to 300 seconds");
    f = two_token_file();
    f.tokens[0].offset = -301;
    refused(f, "'offset' must be -300 to 300 seconds");
    f = two_token_file();
    f.tokens[1].counter = pam_totp::max_file_hotp_counter + 1;
    refused(f, "'counter' is out of range");
    f = two_token_file();
    f.tokens[1].params.digits = 7;
    refused(f, "'digits'");
    f = two_token_file();
    f.tokens[1].added = -1;
    refused(f, "'added' or 'confirmed' is negative");
    f = two_token_file();
    f.recovery_anchor = pattern_key(9, 0);
    refused(f, "'recovery_anchor' is shorter than 80 bits");
    f = two_token_file();
    f.tokens[1].key = pattern_key(65, 3);
    refused(f, "the secret of token yubikey is longer than 512 bits, the most a file of several tokens holds");
    f = two_token_file();
    f.tokens[1].key = f.tokens[0].key.clone();
    f.tokens[1].key.append(std::string_view("\0\0", 2));
    refused(f, "two tokens with the same secret");
    // One plain TOTP token keeps format 1's limit.
    f = sample_file(Algorithm::sha1);
    f.tokens[0].key = pattern_key(128, 3);
    expect_round_trip(f, 1);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_good_file),
        cmocka_unit_test(parses_data_file_any_order),
        cmocka_unit_test(accepts_boundaries),
        cmocka_unit_test(refuses_empty_file),
        cmocka_unit_test(refuses_bad_version_line),
        cmocka_unit_test(refuses_wrong_version),
        cmocka_unit_test(refuses_v2_keys_in_v1),
        cmocka_unit_test(refuses_oversize_file),
        cmocka_unit_test(refuses_overlong_line),
        cmocka_unit_test(refuses_bad_bytes),
        cmocka_unit_test(refuses_malformed_lines),
        cmocka_unit_test(refuses_unknown_key),
        cmocka_unit_test(refuses_duplicate_key),
        cmocka_unit_test(refuses_missing_secret),
        cmocka_unit_test(refuses_missing_algorithm),
        cmocka_unit_test(refuses_missing_digits),
        cmocka_unit_test(refuses_missing_period),
        cmocka_unit_test(refuses_missing_enrolled),
        cmocka_unit_test(refuses_missing_enrollment_id),
        cmocka_unit_test(refuses_bad_base32),
        cmocka_unit_test(refuses_short_secret),
        cmocka_unit_test(refuses_long_secret),
        cmocka_unit_test(refuses_bad_algorithm),
        cmocka_unit_test(refuses_bad_digits),
        cmocka_unit_test(refuses_bad_period),
        cmocka_unit_test(refuses_bad_window),
        cmocka_unit_test(refuses_negative_enrolled),
        cmocka_unit_test(refuses_non_numeric_enrolled),
        cmocka_unit_test(refuses_overflowing_enrolled),
        cmocka_unit_test(refuses_bad_enrollment_id),
        cmocka_unit_test(refuses_malformed_recovery_hash),
        cmocka_unit_test(refuses_too_many_recovery_hashes),
        cmocka_unit_test(reports_the_first_error),
        cmocka_unit_test(parses_confirmed),
        cmocka_unit_test(refuses_bad_confirmed),
        cmocka_unit_test(round_trips_confirmed),
        cmocka_unit_test(refuses_to_write_a_loose_hash),
        cmocka_unit_test(round_trips_all_algorithms),
        cmocka_unit_test(round_trips_window_and_parameters),
        cmocka_unit_test(round_trips_recovery_hashes),
        cmocka_unit_test(round_trips_key_sizes),
        cmocka_unit_test(writes_version_header_and_order),
        cmocka_unit_test(refuses_to_write_invalid_file),
        cmocka_unit_test(parses_v2_file),
        cmocka_unit_test(parses_v2_optional_keys),
        cmocka_unit_test(v2_accepts_boundaries),
        cmocka_unit_test(v2_token_count),
        cmocka_unit_test(v2_refuses_unknown_keys),
        cmocka_unit_test(v2_refuses_duplicate_keys),
        cmocka_unit_test(v2_refuses_file_keys_after_a_token),
        cmocka_unit_test(v2_refuses_missing_keys),
        cmocka_unit_test(v2_names_the_line_of_an_unfinished_token),
        cmocka_unit_test(v2_refuses_keys_of_the_other_type),
        cmocka_unit_test(v2_refuses_bad_names),
        cmocka_unit_test(v2_refuses_duplicate_names),
        cmocka_unit_test(v2_refuses_duplicate_secrets),
        cmocka_unit_test(v2_refuses_keys_beyond_a_block),
        cmocka_unit_test(v2_refuses_recovery_without_anchor),
        cmocka_unit_test(v2_refuses_bad_values),
        cmocka_unit_test(round_trips_v2),
        cmocka_unit_test(round_trips_hotp_alone),
        cmocka_unit_test(writes_the_anchor_with_recovery_codes),
        cmocka_unit_test(serialise_picks_the_format),
        cmocka_unit_test(writes_v2_layout),
        cmocka_unit_test(refuses_to_write_invalid_v2),
    };
    return cmocka_run_group_tests_name("secret_file", tests, nullptr, nullptr);
}
