// libFuzzer target: parse_legacy_state (core/store/legacy_state.h), the
// state of pam_totp 0.1 that an upgrade reads once per account.
// Properties: errors are Errc::format, name the file kind and quote no secret
// or hash; a state that parses stays within the format's bounds, and every
// used code it lists is a yescrypt setting (what the carry-over keeps of it
// is checked again with is_recovery_setting).
#include <cstddef>
#include <cstdint>

#include "core/files/kv_format.h"
#include "core/otp/recovery.h"
#include "core/store/legacy_state.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    auto parsed = pam_totp::parse_legacy_state(text);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == pam_totp::Errc::format);
        FUZZ_CHECK(parsed.error().message.starts_with("state file"));
        FUZZ_CHECK_MSG(!fuzz::message_looks_secret(parsed.error().message), parsed.error().message);
        return 0;
    }
    const pam_totp::LegacyState& state = parsed.value();
    FUZZ_CHECK(size <= pam_totp::max_file_size);
    FUZZ_CHECK(state.failures.size() <= pam_totp::max_legacy_failures);
    FUZZ_CHECK(state.used_recovery.size() <= pam_totp::max_legacy_used_recovery);
    FUZZ_CHECK(state.enrollment_id.empty() || pam_totp::is_enrollment_id(state.enrollment_id));
    for (const std::string& used : state.used_recovery) {
        FUZZ_CHECK(pam_totp::is_yescrypt_string(used, 3));
        // A strict setting is one the carry-over keeps; anything else is
        // dropped, never passed on as a malformed one.
        if (pam_totp::is_recovery_setting(used)) {
            FUZZ_CHECK(used.starts_with(pam_totp::recovery_hash_prefix));
        }
    }
    for (const std::time_t when : state.failures) {
        FUZZ_CHECK(when >= 0);
    }
    FUZZ_CHECK(state.locked_until >= 0);
    return 0;
}
