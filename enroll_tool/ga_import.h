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

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

struct GaImport {
    SecureBuffer key;
    // An HOTP file's HOTP_COUNTER: the next counter google-authenticator
    // would accept (it moves it past each code it accepts). nullopt for
    // a TOTP file.
    std::optional<std::uint64_t> hotp_counter;
    unsigned period = 30;                     // TOTP only
    std::optional<unsigned> window;           // TOTP: from WINDOW_SIZE (codes in total) -> steps either side
    std::vector<SecureBuffer> scratch_codes;  // 8 digits each
    std::vector<std::string> notes;           // what was not carried over, and why
};

// Parses the file text: a TOTP file (" TOTP_AUTH) or an HOTP one
// (" HOTP_COUNTER n; its WINDOW_SIZE is a look-ahead, which pam_totp's
// hotp_window= option sets instead, so it is noted, not kept). Files with
// neither or both, unknown option lines, bad values and anything else are
// Errc::format errors naming the line and saying what to do.
Result<GaImport> parse_google_authenticator(std::string_view text);

}  // namespace pam_totp
