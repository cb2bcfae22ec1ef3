// libFuzzer target: parse_secret_file (core/files/secret_file.h).
// Properties (formats 1 and 2): errors are Errc::format and quote no secret or hash; every
// recovery hash accepted is one totp-enroll could have written; a file that
// parses serialises, and the serialisation parses back to the same fields
// and serialises to the same bytes again.
#include <cstddef>
#include <cstdint>

#include "core/files/secret_file.h"
#include "core/otp/recovery.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool same(const pam_totp::TokenEntry& a, const pam_totp::TokenEntry& b) {
    // The period of an HOTP token is not written (it has none).
    const bool totp = a.type == pam_totp::TokenType::totp;
    return a.name == b.name && a.type == b.type && a.key.view() == b.key.view() &&
           a.params.algorithm == b.params.algorithm && a.params.digits == b.params.digits &&
           (!totp || a.params.period == b.params.period) && a.offset == b.offset && a.counter == b.counter &&
           a.added == b.added && (!totp || a.confirmed_until == b.confirmed_until);
}

bool same(const pam_totp::SecretFile& a, const pam_totp::SecretFile& b) {
    if (a.tokens.size() != b.tokens.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.tokens.size(); ++i) {
        if (!same(a.tokens[i], b.tokens[i])) {
            return false;
        }
    }
    const bool anchors = a.recovery_anchor.has_value() == b.recovery_anchor.has_value() &&
                         (!a.recovery_anchor || a.recovery_anchor->view() == b.recovery_anchor->view());
    return anchors && a.window == b.window && a.enrolled == b.enrolled && a.enrollment_id == b.enrollment_id &&
           a.recovery_hashes == b.recovery_hashes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    auto parsed = pam_totp::parse_secret_file(text);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == pam_totp::Errc::format);
        FUZZ_CHECK(!parsed.error().message.empty());
        FUZZ_CHECK_MSG(!fuzz::message_looks_secret(parsed.error().message), parsed.error().message);
        return 0;
    }
    const pam_totp::SecretFile& file = parsed.value();
    FUZZ_CHECK(!file.tokens.empty() && file.tokens.size() <= pam_totp::max_tokens_per_file);
    for (const pam_totp::TokenEntry& token : file.tokens) {
        FUZZ_CHECK(token.key.size() >= pam_totp::min_secret_bytes && token.key.size() <= pam_totp::max_secret_bytes);
        FUZZ_CHECK(pam_totp::token_name_problem(token.name).empty());
        // What the module relies on: no HOTP token of another algorithm, no offset beyond the bound.
        FUZZ_CHECK(token.type == pam_totp::TokenType::totp || token.params.algorithm == pam_totp::Algorithm::sha1);
        FUZZ_CHECK(token.offset >= -pam_totp::max_clock_offset && token.offset <= pam_totp::max_clock_offset);
    }
    FUZZ_CHECK(file.recovery_hashes.size() <= pam_totp::max_recovery_codes);
    // Only hashes of the form and cost totp-enroll writes reach the module.
    for (const std::string& hash : file.recovery_hashes) {
        FUZZ_CHECK(pam_totp::is_recovery_hash(hash));
    }

    auto text1 = pam_totp::serialise_secret_file(file);
    FUZZ_CHECK(text1.ok());
    auto again = pam_totp::parse_secret_file(text1.value().view());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(same(file, again.value()));
    auto text2 = pam_totp::serialise_secret_file(again.value());
    FUZZ_CHECK(text2.ok());
    FUZZ_CHECK(text1.value().view() == text2.value().view());
    return 0;
}
