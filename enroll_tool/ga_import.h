// Reading a google-authenticator-libpam file (~/.google_authenticator) for
// `totp-enroll --import-google-authenticator`:
//
//   JBSWY3DPEHPK3PXP            the secret, base32
//   " RATE_LIMIT 3 30 ...        option lines start with a double quote
//   " WINDOW_SIZE 17
//   " DISALLOW_REUSE ...
//   " TOTP_AUTH                  (HOTP files carry " HOTP_COUNTER n instead)
//   " STEP_SIZE 30
//   12345678                     scratch codes, 8 digits each
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

struct GaImport {
    SecureBuffer key;
    unsigned period = 30;
    std::optional<unsigned> window;           // from WINDOW_SIZE (codes in total) -> steps either side
    std::vector<SecureBuffer> scratch_codes;  // 8 digits each
    std::vector<std::string> notes;           // what was not carried over, and why
};

// Parses the file text. HOTP files, files with neither TOTP_AUTH nor
// HOTP_COUNTER, unknown option lines, bad values and anything else are
// Errc::format errors naming the line and saying what to do.
Result<GaImport> parse_google_authenticator(std::string_view text);

}  // namespace pam_totp
