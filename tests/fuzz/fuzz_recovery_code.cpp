// libFuzzer target: normalise_recovery_code and looks_like_recovery_code
// (core/otp/recovery.h); no hashing (yescrypt is far too slow to fuzz).
// Properties: the two agree; the output is canonical (12 symbols of the
// alphabet, or 8 digits) and a fixed point; the printed form "XXXX-XXXX-XXXX"
// in lower case normalises back to the same code.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/otp/recovery.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view typed = fuzz::as_text(data, size);
    const bool looks = pam_totp::looks_like_recovery_code(typed);
    auto norm = pam_totp::normalise_recovery_code(typed);
    FUZZ_CHECK(looks == norm.ok());
    if (!norm) {
        FUZZ_CHECK(norm.error().code == pam_totp::Errc::format);
        return 0;
    }
    const std::string_view code = norm.value().view();
    const bool digits = code.size() == pam_totp::legacy_code_digits &&
                        std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool symbols =
        code.size() == pam_totp::recovery_code_chars && std::all_of(code.begin(), code.end(), [](char c) {
            return pam_totp::recovery_alphabet.find(c) != std::string_view::npos;
        });
    FUZZ_CHECK(digits || symbols);

    auto again = pam_totp::normalise_recovery_code(code);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again.value().view() == code);

    if (symbols) {
        std::string printed;
        for (std::size_t i = 0; i < code.size(); ++i) {
            if (i > 0 && i % 4 == 0) {
                printed.push_back('-');
            }
            const char c = code[i];
            printed.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
        }
        auto from_printed = pam_totp::normalise_recovery_code(printed);
        FUZZ_CHECK(from_printed.ok());
        FUZZ_CHECK(from_printed.value().view() == code);
    }
    return 0;
}
