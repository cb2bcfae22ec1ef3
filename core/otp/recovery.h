// One-time recovery codes: generated from getrandom(2), easy to read aloud,
// stored only as yescrypt hashes (libxcrypt).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// 31 symbols: no 0/O, 1/I/L, so nothing is misread when spoken or typed.
inline constexpr std::string_view recovery_alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
inline constexpr std::size_t recovery_code_chars = 12;  // 12 * log2(31) = 59.4 bits

// google-authenticator's scratch codes are 8 digits; imported ones stay
// valid as recovery codes (26.6 bits each, guarded by the same lockout).
inline constexpr std::size_t legacy_code_digits = 8;

// A new code, "XXXX-XXXX-XXXX".
Result<SecureBuffer> generate_recovery_code();

// What a person typed -> the canonical 12 symbols (upper case; spaces and
// dashes dropped), or the 8 digits of an imported scratch code. Errc::format
// when it cannot be a recovery code.
Result<SecureBuffer> normalise_recovery_code(std::string_view typed);

// True when `typed` could be a recovery code at all (cheap, no hashing).
bool looks_like_recovery_code(std::string_view typed) noexcept;

// yescrypt hash of a canonical (normalised) code: crypt_gensalt_ra("$y$") +
// crypt_r.
Result<std::string> hash_recovery_code(const SecureBuffer& canonical);

// The id under which a used code is remembered: the hash's setting ("$y$...$salt"),
// random per code.
std::string recovery_code_id(std::string_view hash);

// Index into `hashes` of the hash that matches `canonical` and whose id is not
// in `used`; -1 when none does. Compares crypt outputs in constant time.
Result<long> find_recovery_code(const SecureBuffer& canonical, const std::vector<std::string>& hashes,
                                const std::vector<std::string>& used);

}  // namespace pam_totp
