// The shared line syntax (core/files/kv_format.h): every refusal, with the line
// number it names, and the shared value helpers.
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

#include "cmocka.hpp"
#include "core/files/kv_format.h"

namespace {

using pam_totp::Errc;
using pam_totp::KvLine;
using pam_totp::parse_kv_lines;

constexpr std::string_view what = "test file";
// A value standing in for a secret: no message may ever contain it.
constexpr std::string_view secret_value = "JBSWY3DPEHPK3PXP";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// Parses `text` (version 1) and checks that it is refused with a message that
// starts "test file line <line_no>: ", contains `problem` and not the secret.
void expect_line_error(std::string_view text, std::size_t line_no, std::string_view problem) {
    const auto r = parse_kv_lines(text, what, 1);
    assert_false(r.ok());
    const std::string& m = r.error().message;
    const std::string prefix = std::string(what) + " line " + std::to_string(line_no) + ": ";
    if (m.rfind(prefix, 0) != 0 || !contains(m, problem) || contains(m, secret_value)) {
        std::fprintf(stderr, "unexpected message: \"%s\" (wanted prefix \"%s\", problem \"%.*s\")\n", m.c_str(),
                     prefix.c_str(), static_cast<int>(problem.size()), problem.data());
    }
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(m.rfind(prefix, 0) == 0);
    assert_true(contains(m, problem));
    assert_false(contains(m, secret_value));
}

// "version 1\n" followed by `body`, so that the line of interest is line 3:
// line 2 is always a key/value line that parses.
std::string file_with_line3(std::string_view line3) {
    return "version 1\nalpha one\n" + std::string(line3) + "\n";
}

void parses_lines_comments_and_blanks(void** /*state*/) {
    const std::string text = "version 1\n# a comment\n\nsecret JBSWY3DPEHPK3PXP\n#\nsome_key $y$j9T$a$b\n";
    const auto r = parse_kv_lines(text, what, 1);
    assert_true(r.ok());
    const auto& lines = r.value();
    assert_int_equal(lines.size(), 2);
    assert_int_equal(lines[0].line_no, 4);
    assert_true(lines[0].key == "secret");
    assert_true(lines[0].value == "JBSWY3DPEHPK3PXP");
    assert_int_equal(lines[1].line_no, 6);
    assert_true(lines[1].key == "some_key");
    assert_true(lines[1].value == "$y$j9T$a$b");
}

void accepts_missing_final_newline(void** /*state*/) {
    const auto r = parse_kv_lines("version 1\nkey value", what, 1);
    assert_true(r.ok());
    assert_int_equal(r.value().size(), 1);
    assert_true(r.value()[0].value == "value");
    const auto only_version = parse_kv_lines("version 1", what, 1);
    assert_true(only_version.ok());
    assert_true(only_version.value().empty());
}

void accepts_other_expected_version(void** /*state*/) {
    const auto r = parse_kv_lines("version 7\nkey value\n", what, 7);
    assert_true(r.ok());
    assert_int_equal(r.value().size(), 1);
}

void refuses_empty_file(void** /*state*/) {
    const auto r = parse_kv_lines("", what, 1);
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(r.error().message == "test file: empty file (expected 'version 1' on line 1)");
}

void refuses_bad_version_line(void** /*state*/) {
    const char* const bad[] = {
        "\n",           "versio 1\n",
        "Version 1\n",  "version\n",
        "version  1\n", "version 1 \n",
        "version 01\n", "version +1\n",
        "version x\n",  "# comment\nversion 1\n",
        "key value\n",  "version 99999999999999999999\n",
    };
    for (const char* text : bad) {
        expect_line_error(text, 1, "expected 'version 1'");
    }
}

void refuses_other_version(void** /*state*/) {
    expect_line_error("version 2\nkey value\n", 1, "format version 2 found, this build reads version 1");
    expect_line_error("version 0\n", 1, "format version 0 found, this build reads version 1");
}

void refuses_oversize_file(void** /*state*/) {
    // Exactly the limit is fine: comment lines up to max_file_size bytes.
    std::string text = "version 1\n";
    const std::string comment = "#" + std::string(98, 'x') + "\n";  // 100 bytes
    while (text.size() + comment.size() <= pam_totp::max_file_size) {
        text += comment;
    }
    text += std::string(pam_totp::max_file_size - text.size() - 1, '#') + "\n";
    assert_int_equal(text.size(), pam_totp::max_file_size);
    assert_true(parse_kv_lines(text, what, 1).ok());

    text += "\n";
    const auto r = parse_kv_lines(text, what, 1);
    assert_false(r.ok());
    assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
    assert_true(r.error().message == "test file: larger than 65536 bytes");
}

void refuses_overlong_line(void** /*state*/) {
    // 1024 bytes without the newline is the limit, comments included.
    const std::string at_limit = "key " + std::string(pam_totp::max_line_length - 4, 'v');
    assert_true(parse_kv_lines(file_with_line3(at_limit), what, 1).ok());
    expect_line_error(file_with_line3(at_limit + "v"), 3, "line longer than 1024 bytes");
    expect_line_error(file_with_line3("#" + std::string(pam_totp::max_line_length, 'c')), 3,
                      "line longer than 1024 bytes");
    // The secret on an overlong line is not echoed.
    expect_line_error(file_with_line3("secret " + std::string(secret_value) + std::string(1100, 'A')), 3,
                      "line longer than 1024 bytes");
    // Also on the last line without a newline.
    expect_line_error("version 1\nkey " + std::string(2000, 'v'), 2, "line longer than 1024 bytes");
}

void refuses_nul_byte(void** /*state*/) {
    const std::string line = std::string("secret ") + std::string(secret_value) + std::string(1, '\0') + "X";
    expect_line_error(file_with_line3(line), 3, "NUL byte at column 24");
    expect_line_error(std::string("version 1\0\n", 11), 1, "NUL byte at column 10");
}

void refuses_carriage_return(void** /*state*/) {
    expect_line_error("version 1\r\nkey value\r\n", 1, "carriage return at column 10");
    expect_line_error(file_with_line3("secret " + std::string(secret_value) + "\r"), 3, "carriage return");
}

void refuses_tab(void** /*state*/) {
    expect_line_error(file_with_line3("secret\t" + std::string(secret_value)), 3, "tab character at column 7");
    expect_line_error(file_with_line3("# a\tcomment"), 3, "tab character");
}

void refuses_control_bytes(void** /*state*/) {
    expect_line_error(file_with_line3("key va\x07lue"), 3, "control character at column 7");
    expect_line_error(file_with_line3("key value\x7f"), 3, "control character at column 10");
    expect_line_error(file_with_line3("key \x1b[0m"), 3, "control character at column 5");
    expect_line_error(file_with_line3("# \x0c"), 3, "control character");
}

void refuses_non_ascii_byte(void** /*state*/) {
    expect_line_error(file_with_line3("key caf\xc3\xa9"), 3, "non-ASCII byte at column 8");
    expect_line_error(file_with_line3("# comment \xff"), 3, "non-ASCII byte");
    expect_line_error("\xef\xbb\xbfversion 1\n", 1, "non-ASCII byte at column 1");  // a UTF-8 BOM
}

void refuses_missing_space(void** /*state*/) {
    expect_line_error(file_with_line3("secret"), 3, "expected 'key value', found no space");
    expect_line_error(file_with_line3(std::string(secret_value)), 3, "found no space");
}

void refuses_double_space(void** /*state*/) {
    expect_line_error(file_with_line3("secret  " + std::string(secret_value)), 3, "more than one space after 'secret'");
}

void refuses_trailing_space(void** /*state*/) {
    expect_line_error(file_with_line3("secret " + std::string(secret_value) + " "), 3, "trailing space");
    expect_line_error(file_with_line3("secret " + std::string(secret_value) + "   "), 3, "trailing space");
}

void refuses_space_inside_value(void** /*state*/) {
    expect_line_error(file_with_line3("secret JBSWY3DP EHPK3PXP"), 3, "space inside the value of 'secret'");
}

void refuses_empty_value(void** /*state*/) {
    expect_line_error(file_with_line3("digits "), 3, "empty value for 'digits'");
}

void refuses_bad_key(void** /*state*/) {
    expect_line_error(file_with_line3(" key value"), 3, "malformed key");
    expect_line_error(file_with_line3("Key value"), 3, "malformed key");
    expect_line_error(file_with_line3("key2 value"), 3, "malformed key");
    expect_line_error(file_with_line3("ke-y value"), 3, "malformed key");
    expect_line_error(file_with_line3("=key value"), 3, "malformed key");
    expect_line_error(file_with_line3(" value"), 3, "malformed key");
    // A bad key is not quoted: it could be anything, a pasted secret included.
    expect_line_error(file_with_line3(std::string(secret_value) + " value"), 3, "malformed key");
    // The length limit: 32 is fine, 33 is not.
    assert_true(parse_kv_lines(file_with_line3(std::string(32, 'k') + " v"), what, 1).ok());
    expect_line_error(file_with_line3(std::string(33, 'k') + " v"), 3, "malformed key");
}

void what_names_the_file_kind(void** /*state*/) {
    const auto r = parse_kv_lines("version 1\n\n\n\nkey\n", "secret file", 1);
    assert_false(r.ok());
    assert_true(r.error().message == "secret file line 5: expected 'key value', found no space");
}

void parse_decimal_is_strict(void** /*state*/) {
    using pam_totp::parse_decimal;
    assert_true(parse_decimal("0", 10).ok());
    assert_int_equal(parse_decimal("0", 10).value(), 0);
    assert_int_equal(parse_decimal("10", 10).value(), 10);
    assert_int_equal(parse_decimal("1764290000", 1ULL << 40).value(), 1764290000ULL);
    const std::uint64_t max64 = std::numeric_limits<std::uint64_t>::max();
    assert_true(parse_decimal("18446744073709551615", max64).value() == max64);
    assert_false(parse_decimal("18446744073709551616", max64).ok());
    assert_false(parse_decimal("99999999999999999999999", max64).ok());
    assert_false(parse_decimal("11", 10).ok());
    assert_true(contains(parse_decimal("11", 10).error().message, "out of range"));
    const char* const bad[] = {"", "-1", "+1", "01", "00", "1a", " 1", "1 ", "0x10", "1.0", "1e3"};
    for (const char* text : bad) {
        const auto r = parse_decimal(text, max64);
        assert_false(r.ok());
        assert_int_equal(static_cast<int>(r.error().code), static_cast<int>(Errc::format));
        assert_true(contains(r.error().message, "not a decimal number"));
    }
}

void value_helpers(void** /*state*/) {
    using pam_totp::is_enrollment_id;
    using pam_totp::is_yescrypt_string;
    assert_true(is_enrollment_id("0123456789abcdef0123456789abcdef"));
    assert_false(is_enrollment_id("0123456789abcdef0123456789abcde"));
    assert_false(is_enrollment_id("0123456789abcdef0123456789abcdef0"));
    assert_false(is_enrollment_id("0123456789ABCDEF0123456789abcdef"));
    assert_false(is_enrollment_id("0123456789abcdeg0123456789abcdef"));
    assert_false(is_enrollment_id(""));

    const std::string_view hash = "$y$j9T$abcdefghijklmnop$OT3J/1y2Li0C.4QmPPDIggvcR.szvXkmp0hgX9fdoH4";
    assert_true(is_yescrypt_string(hash, 4));
    assert_false(is_yescrypt_string(hash, 3));
    assert_true(is_yescrypt_string("$y$j9T$abcdefghijklmnop", 3));
    assert_false(is_yescrypt_string("$y$j9T$abcdefghijklmnop", 4));
    assert_false(is_yescrypt_string("$6$salt$hash", 3));       // not yescrypt
    assert_false(is_yescrypt_string("y$j9T$salt$hash", 4));    // no leading '$'
    assert_false(is_yescrypt_string("$y$j9T$$hash", 4));       // empty salt
    assert_false(is_yescrypt_string("$y$j9T$salt$hash$", 4));  // empty last field
    assert_false(is_yescrypt_string("$y$j9T$salt$ha-sh", 4));  // outside crypt's alphabet
    assert_false(is_yescrypt_string("$y$j9T$salt$ha sh", 4));
    assert_false(is_yescrypt_string("$y$", 1));
    assert_false(is_yescrypt_string("", 4));
    const std::string long_hash = "$y$j9T$salt$" + std::string(245, 'a');  // 257 characters
    assert_false(is_yescrypt_string(long_hash, 4));
    assert_true(is_yescrypt_string(long_hash.substr(0, 256), 4));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_lines_comments_and_blanks),
        cmocka_unit_test(accepts_missing_final_newline),
        cmocka_unit_test(accepts_other_expected_version),
        cmocka_unit_test(refuses_empty_file),
        cmocka_unit_test(refuses_bad_version_line),
        cmocka_unit_test(refuses_other_version),
        cmocka_unit_test(refuses_oversize_file),
        cmocka_unit_test(refuses_overlong_line),
        cmocka_unit_test(refuses_nul_byte),
        cmocka_unit_test(refuses_carriage_return),
        cmocka_unit_test(refuses_tab),
        cmocka_unit_test(refuses_control_bytes),
        cmocka_unit_test(refuses_non_ascii_byte),
        cmocka_unit_test(refuses_missing_space),
        cmocka_unit_test(refuses_double_space),
        cmocka_unit_test(refuses_trailing_space),
        cmocka_unit_test(refuses_space_inside_value),
        cmocka_unit_test(refuses_empty_value),
        cmocka_unit_test(refuses_bad_key),
        cmocka_unit_test(what_names_the_file_kind),
        cmocka_unit_test(parse_decimal_is_strict),
        cmocka_unit_test(value_helpers),
    };
    return cmocka_run_group_tests_name("kv_format", tests, nullptr, nullptr);
}
