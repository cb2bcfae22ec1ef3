// The otpauth:// URI (enroll_tool/otpauth_uri.h): RFC 3986 percent-encoding, the
// default parameters left out, the others put in, and the label checks.
#include <string>
#include <string_view>

#include "cmocka.hpp"
#include "core/otp/totp.h"
#include "enroll_tool/otpauth_uri.h"

namespace {

using pam_totp::Algorithm;
using pam_totp::Errc;
using pam_totp::make_otpauth_uri;
using pam_totp::percent_encode;
using pam_totp::SecureBuffer;
using pam_totp::TotpParams;
using pam_totp::validate_label_part;

// "Hello!\xde\xad\xbe\xef" is JBSWY3DPEHPK3PXP in base32.
SecureBuffer key10() {
    return SecureBuffer(std::string_view("Hello!\xde\xad\xbe\xef"));
}

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

void percent_encoding(void** /*state*/) {
    // RFC 3986 section 2.3: unreserved characters stay as they are.
    assert_string_equal(percent_encode("AZaz09-._~").c_str(), "AZaz09-._~");
    assert_string_equal(percent_encode("alice@example.com").c_str(), "alice%40example.com");
    assert_string_equal(percent_encode("a b").c_str(), "a%20b");
    assert_string_equal(percent_encode("a+b&c=d?e/f#g%").c_str(), "a%2Bb%26c%3Dd%3Fe%2Ff%23g%25");
    assert_string_equal(percent_encode(":").c_str(), "%3A");
    // UTF-8 bytes one by one, upper-case hex (section 2.1).
    assert_string_equal(percent_encode("\xc3\xa9").c_str(), "%C3%A9");
    assert_string_equal(percent_encode("").c_str(), "");
}

void default_parameters_omitted(void** /*state*/) {
    auto uri = make_otpauth_uri("Example Co", "alice@host", key10(), TotpParams{});
    assert_true(uri.ok());
    assert_string_equal(std::string(uri.value().view()).c_str(),
                        "otpauth://totp/Example%20Co:alice%40host?secret=JBSWY3DPEHPK3PXP&issuer=Example%20Co");
    assert_false(contains(uri.value().view(), "algorithm="));
    assert_false(contains(uri.value().view(), "digits="));
    assert_false(contains(uri.value().view(), "period="));
}

void non_default_parameters_included(void** /*state*/) {
    TotpParams p;
    p.algorithm = Algorithm::sha256;
    p.digits = 8;
    p.period = 60;
    auto uri = make_otpauth_uri("host", "bob", key10(), p);
    assert_true(uri.ok());
    assert_string_equal(
        std::string(uri.value().view()).c_str(),
        "otpauth://totp/host:bob?secret=JBSWY3DPEHPK3PXP&issuer=host&algorithm=SHA256&digits=8&period=60");

    // Each one alone.
    TotpParams only_alg;
    only_alg.algorithm = Algorithm::sha512;
    auto a = make_otpauth_uri("h", "u", key10(), only_alg);
    assert_true(a.ok());
    assert_true(contains(a.value().view(), "&algorithm=SHA512"));
    assert_false(contains(a.value().view(), "digits="));
    assert_false(contains(a.value().view(), "period="));

    TotpParams only_period;
    only_period.period = 15;
    auto b = make_otpauth_uri("h", "u", key10(), only_period);
    assert_true(b.ok());
    assert_true(contains(b.value().view(), "&period=15"));
    assert_false(contains(b.value().view(), "algorithm="));
}

void bad_parameters_refused(void** /*state*/) {
    TotpParams p;
    p.digits = 7;
    auto uri = make_otpauth_uri("h", "u", key10(), p);
    assert_false(uri.ok());
    TotpParams q;
    q.period = 10;
    assert_false(make_otpauth_uri("h", "u", key10(), q).ok());
}

void colon_refused(void** /*state*/) {
    const pam_totp::Status st = validate_label_part("--issuer", "a:b");
    assert_false(st.ok());
    assert_int_equal(st.error().code, Errc::invalid_argument);
    assert_true(contains(st.error().message, "--issuer"));
    assert_true(contains(st.error().message, "':'"));
    assert_false(make_otpauth_uri("a:b", "u", key10(), TotpParams{}).ok());
    assert_false(make_otpauth_uri("h", "u:v", key10(), TotpParams{}).ok());
}

void control_characters_refused(void** /*state*/) {
    for (const std::string_view bad : {std::string_view("a\tb"), std::string_view("a\nb"), std::string_view("\x1b[31m"),
                                       std::string_view("a\x7f"), std::string_view("a\0b", 3)}) {
        const pam_totp::Status st = validate_label_part("--label", bad);
        assert_false(st.ok());
        assert_true(contains(st.error().message, "control characters"));
        assert_false(make_otpauth_uri("h", bad, key10(), TotpParams{}).ok());
    }
    // Printable punctuation, spaces and UTF-8 are fine (percent-encoded).
    assert_true(validate_label_part("--label", "Alice Smith (work) \xc3\xa9").ok());
}

void length_limits(void** /*state*/) {
    assert_false(validate_label_part("--issuer", "").ok());
    assert_true(validate_label_part("--issuer", "x").ok());
    assert_true(validate_label_part("--issuer", std::string(128, 'x')).ok());
    const pam_totp::Status st = validate_label_part("--issuer", std::string(129, 'x'));
    assert_false(st.ok());
    assert_true(contains(st.error().message, "1 to 128"));
    assert_false(make_otpauth_uri("", "u", key10(), TotpParams{}).ok());
    assert_false(make_otpauth_uri("h", std::string(129, 'u'), key10(), TotpParams{}).ok());
}

void errors_never_hold_the_secret(void** /*state*/) {
    auto uri = make_otpauth_uri("a:b", "u", key10(), TotpParams{});
    assert_false(uri.ok());
    assert_false(contains(uri.error().message, "JBSWY3DPEHPK3PXP"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(percent_encoding),
        cmocka_unit_test(default_parameters_omitted),
        cmocka_unit_test(non_default_parameters_included),
        cmocka_unit_test(bad_parameters_refused),
        cmocka_unit_test(colon_refused),
        cmocka_unit_test(control_characters_refused),
        cmocka_unit_test(length_limits),
        cmocka_unit_test(errors_never_hold_the_secret),
    };
    return cmocka_run_group_tests_name("otpauth_uri", tests, nullptr, nullptr);
}
