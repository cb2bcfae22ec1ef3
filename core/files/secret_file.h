// The secret file, format v1 (pam_totp-secret(5)): the user's enrollment.
// It is configuration: written by totp-enroll, only ever read by the module.
//
//   version 1
//   secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP    base32 (RFC 4648), 80..1024 bits
//   algorithm sha1                             sha1 | sha256 | sha512
//   digits 6                                   6 | 8
//   period 30                                  15..120
//   window 1                                   optional, 0..10
//   enrolled 1764290000                        Unix time of enrollment
//   enrollment_id 0123456789abcdef0123456789abcdef   32 lower-case hex digits
//   confirmed 1764290010                       optional: the end of the time step
//                                              whose code confirmed the enrollment
//   recovery $y$j9T$...                        zero or more yescrypt hashes
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/otp/totp.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

inline constexpr std::size_t min_secret_bytes = 10;   // 80 bits: google-authenticator's default
inline constexpr std::size_t max_secret_bytes = 128;  // 1024 bits
inline constexpr std::size_t max_recovery_codes = 100;

struct SecretFile {
    SecureBuffer key;  // the decoded secret
    TotpParams params;
    std::optional<unsigned> window;  // the user's own window, if the file sets one
    std::time_t enrolled = 0;
    std::string enrollment_id;                 // 32 lower-case hex digits
    std::time_t confirmed_until = 0;           // codes of steps starting before this were shown at enrollment
    std::vector<std::string> recovery_hashes;  // yescrypt strings ("$y$...")
};

// Parses a v1 secret file. Every key except `recovery` must appear exactly
// once (`window` at most once); unknown keys, duplicates, bad values and
// overlong input are errors (Errc::format) whose message names the line,
// never the secret.
Result<SecretFile> parse_secret_file(std::string_view text);

// Serialises to the v1 text (with a comment header), in a self-wiping buffer
// because it holds the secret. parse(serialise(x)) == x.
Result<SecureBuffer> serialise_secret_file(const SecretFile& file);

}  // namespace pam_totp
