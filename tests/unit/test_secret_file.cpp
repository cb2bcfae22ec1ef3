// The v1 secret file (core/files/secret_file.h): a good file, every refusal with
// the line it names (and never the secret), and write -> parse round trips.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cmocka.hpp"
#include "core/files/kv_format.h"
#include "core/files/secret_file.h"

namespace {

using pam_totp::Algorithm;
using pam_totp::Errc;
using pam_totp::parse_secret_file;
using pam_totp::SecretFile;
using pam_totp::SecureBuffer;
using pam_totp::serialise_secret_file;

constexpr std::string_view good_secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";  // "Hello!\xde\xad\xbe\xef" twice
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
    const bool good = m.rfind(expected_start, 0) == 0 && contains(m, problem) && !contains(m, good_secret) &&
                      (forbidden.empty() || !contains(m, forbidden));
    if (!good) {
        std::fprintf(stderr, "unexpected message: \"%s\"\n", m.c_str());
    }
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(m.rfind(expected_start, 0) == 0);
    assert_true(contains(m, problem));
    assert_false(contains(m, good_secret));
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

// --- good files -------------------------------------------------------------

void parses_good_file(void** /*state*/) {
    const auto r = parse_secret_file(join(good_lines()));
    assert_true(r.ok());
    const SecretFile& f = r.value();
    assert_int_equal(f.key.size(), 20);
    assert_memory_equal(f.key.data(), "Hello!\xde\xad\xbe\xefHello!\xde\xad\xbe\xef", 20);
    assert_true(f.params.algorithm == Algorithm::sha1);
    assert_int_equal(f.params.digits, 6);
    assert_int_equal(f.params.period, 30);
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
    assert_int_equal(f.key.size(), 20);
    assert_true(f.params.algorithm == Algorithm::sha256);
    assert_int_equal(f.params.digits, 8);
    assert_int_equal(f.params.period, 60);
    assert_true(f.window.has_value());
    assert_int_equal(*f.window, 2);
    assert_true(f.enrollment_id == good_id);
    assert_int_equal(f.recovery_hashes.size(), 2);
    assert_true(f.recovery_hashes[1] == hash2);
}

void accepts_boundaries(void** /*state*/) {
    auto r = parse_secret_file(replacing("secret", "secret " + std::string(secret_10_bytes)));
    assert_true(r.ok());
    assert_int_equal(r.value().key.size(), 10);
    r = parse_secret_file(replacing("secret", "secret " + std::string(secret_128_bytes)));
    assert_true(r.ok());
    assert_int_equal(r.value().key.size(), 128);
    // Lower case base32, as some apps show it.
    r = parse_secret_file(replacing("secret", "secret jbswy3dpehpk3pxpjbswy3dpehpk3pxp"));
    assert_true(r.ok());
    assert_int_equal(r.value().key.size(), 20);
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

void refuses_empty_file(void** /*state*/) {
    expect_error("", "secret file: empty file", "expected 'version 1'");
}

void refuses_bad_version_line(void** /*state*/) {
    expect_line_error(replacing("version", "version: 1"), 1, "expected 'version 1'");
    expect_line_error(join({"# comment first", "version 1"}), 1, "expected 'version 1'");
}

void refuses_wrong_version(void** /*state*/) {
    expect_line_error(replacing("version", "version 2"), 1, "format version 2 found, this build reads version 1");
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
    assert_true(r.value().confirmed_until == 1764290040);
    // Optional: without it nothing was confirmed by a code.
    r = parse_secret_file(join(good_lines()));
    assert_true(r.ok());
    assert_true(r.value().confirmed_until == 0);
    r = parse_secret_file(appending("confirmed 0"));
    assert_true(r.ok());
    assert_true(r.value().confirmed_until == 0);
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
    f.key = pattern_key(20, 3);
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    f.confirmed_until = 1764290040;
    f.recovery_hashes = {std::string(hash1)};
    const auto text = serialise_secret_file(f);
    assert_true(text.ok());
    assert_true(contains(text.value().view(), "\nconfirmed 1764290040\n"));
    const auto back = parse_secret_file(text.value().view());
    assert_true(back.ok());
    assert_true(back.value().confirmed_until == 1764290040);
    // Not written when nothing was confirmed.
    f.confirmed_until = 0;
    const auto none = serialise_secret_file(f);
    assert_true(none.ok());
    assert_false(contains(none.value().view(), "confirmed"));
    // A negative one is refused.
    f.confirmed_until = -5;
    const auto neg = serialise_secret_file(f);
    assert_false(neg.ok());
    assert_true(contains(neg.error().message, "'confirmed'"));
}

// A hash the strict parser refuses is refused by the writer too.
void refuses_to_write_a_loose_hash(void** /*state*/) {
    SecretFile f;
    f.key = pattern_key(20, 3);
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

SecretFile sample_file(Algorithm alg) {
    SecretFile f;
    f.key = pattern_key(20, 1);
    f.params.algorithm = alg;
    f.enrolled = 1764290000;
    f.enrollment_id = std::string(good_id);
    return f;
}

void expect_round_trip(const SecretFile& f) {
    const auto text = serialise_secret_file(f);
    if (!text.ok()) {
        std::fprintf(stderr, "%s\n", text.error().message.c_str());
    }
    assert_true(text.ok());
    const auto back = parse_secret_file(text.value().view());
    if (!back.ok()) {
        std::fprintf(stderr, "%s\n", back.error().message.c_str());
    }
    assert_true(back.ok());
    const SecretFile& g = back.value();
    assert_int_equal(g.key.size(), f.key.size());
    assert_memory_equal(g.key.data(), f.key.data(), f.key.size());
    assert_true(g.params.algorithm == f.params.algorithm);
    assert_int_equal(g.params.digits, f.params.digits);
    assert_int_equal(g.params.period, f.params.period);
    assert_int_equal(g.window.has_value(), f.window.has_value());
    if (f.window) {
        assert_int_equal(*g.window, *f.window);
    }
    assert_true(g.enrolled == f.enrolled);
    assert_true(g.enrollment_id == f.enrollment_id);
    assert_true(g.confirmed_until == f.confirmed_until);
    assert_true(g.recovery_hashes == f.recovery_hashes);
}

void round_trips_all_algorithms(void** /*state*/) {
    for (const Algorithm alg : {Algorithm::sha1, Algorithm::sha256, Algorithm::sha512}) {
        expect_round_trip(sample_file(alg));
    }
}

void round_trips_window_and_parameters(void** /*state*/) {
    SecretFile f = sample_file(Algorithm::sha512);
    f.params.digits = 8;
    f.params.period = 60;
    f.window = 0;
    expect_round_trip(f);
    f.window = 10;
    expect_round_trip(f);
    f.window.reset();
    f.params.period = 15;
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
        f.key = pattern_key(size, static_cast<unsigned>(size));
        f.enrolled = static_cast<std::time_t>(size);
        expect_round_trip(f);
    }
}

void writes_version_header_and_order(void** /*state*/) {
    SecretFile f;
    f.key = SecureBuffer(std::string_view("Hello!\xde\xad\xbe\xefHello!\xde\xad\xbe\xef"));
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
    f.key = pattern_key(9, 0);
    refused(f, "shorter than 80 bits");
    f.key = pattern_key(129, 0);
    refused(f, "longer than 1024 bits");
    f = sample_file(Algorithm::sha1);
    f.params.digits = 7;
    refused(f, "'digits': digits must be 6 or 8");
    f = sample_file(Algorithm::sha1);
    f.params.period = 121;
    refused(f, "'period'");
    f = sample_file(Algorithm::sha1);
    f.window = 11;
    refused(f, "'window'");
    f = sample_file(Algorithm::sha1);
    f.enrolled = -1;
    refused(f, "'enrolled' or 'confirmed' is negative");
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

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_good_file),
        cmocka_unit_test(parses_data_file_any_order),
        cmocka_unit_test(accepts_boundaries),
        cmocka_unit_test(refuses_empty_file),
        cmocka_unit_test(refuses_bad_version_line),
        cmocka_unit_test(refuses_wrong_version),
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
    };
    return cmocka_run_group_tests_name("secret_file", tests, nullptr, nullptr);
}
