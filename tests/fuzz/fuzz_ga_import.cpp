// libFuzzer target: parse_google_authenticator (enroll_tool/ga_import.h).
// Properties: errors are Errc::format with a message that never repeats the
// secret (line 1); an accepted file gives a key of 80..1024 bits, a period of
// 15..120 s, a window within max_window, at most 100 scratch codes of 8
// digits each, and parses to the same result a second time.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/files/secret_file.h"
#include "core/otp/totp.h"
#include "enroll_tool/ga_import.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    auto parsed = pam_totp::parse_google_authenticator(text);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == pam_totp::Errc::format);
        FUZZ_CHECK(!parsed.error().message.empty());
        // An error about line 1 (the secret) must not quote it. Checked on
        // the message alone: the fuzzer soon copies message text into line 1.
        if (parsed.error().message.starts_with("google-authenticator file line 1:")) {
            FUZZ_CHECK_MSG(!fuzz::message_looks_secret(parsed.error().message), parsed.error().message);
        }
        return 0;
    }
    const pam_totp::GaImport& ga = parsed.value();
    FUZZ_CHECK(ga.key.size() >= pam_totp::min_secret_bytes && ga.key.size() <= pam_totp::max_secret_bytes);
    FUZZ_CHECK(ga.period >= pam_totp::min_period && ga.period <= pam_totp::max_period);
    FUZZ_CHECK(!ga.window || *ga.window <= pam_totp::max_window);
    FUZZ_CHECK(ga.scratch_codes.size() <= 100);
    for (const pam_totp::SecureBuffer& code : ga.scratch_codes) {
        const std::string_view v = code.view();
        FUZZ_CHECK(v.size() == 8 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }));
    }
    auto again = pam_totp::parse_google_authenticator(text);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again.value().key.view() == ga.key.view() && again.value().period == ga.period &&
               again.value().window == ga.window && again.value().scratch_codes.size() == ga.scratch_codes.size());
    return 0;
}
