// One-time recovery codes: generated from getrandom(2), easy to read aloud,
// stored only as yescrypt hashes (libxcrypt).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
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

// The yescrypt parameters totp-enroll writes, and the only ones the module
// accepts: libxcrypt's default cost (N = 2^12 blocks of r = 32, 16 MiB,
// about 50 ms here). A file may not make a root process spend more per
// attempt (a user-chosen $y$jFT$ is 1 GiB and 20 s).
inline constexpr std::string_view recovery_hash_prefix = "$y$j9T$";

// A hash as hash_recovery_code writes it: recovery_hash_prefix, a 22
// character salt and a 43 character hash, of crypt(3)'s alphabet
// [./0-9A-Za-z]. Anything else (another cost, a hash cut short) is refused.
bool is_recovery_hash(std::string_view text) noexcept;

// The setting part of such a hash (recovery_hash_prefix and the salt).
bool is_recovery_setting(std::string_view text) noexcept;

// yescrypt hash of a canonical (normalised) code at recovery_hash_prefix's
// cost, with a fresh random salt (crypt_gensalt_ra + crypt_r).
Result<std::string> hash_recovery_code(const SecureBuffer& canonical);

// The hash's setting ("$y$j9T$salt"): how pam_totp 0.1 (state format 1)
// remembered a used code.
std::string recovery_code_setting(std::string_view hash);

// What the state remembers of a used recovery code: 8 bytes of
// HMAC-SHA-256 of the code under the key of the token the codes belong to.
// It depends on the code only, never on the hash's salt, so a code stays
// used when the same codes are written again (a repeated import) with new
// salts; a code can only be checked against it by whoever holds the key.
struct RecoveryTag {
    std::array<std::uint8_t, 8> bytes{};

    [[nodiscard]] std::string hex() const;  // 16 lower-case hex digits
    static std::optional<RecoveryTag> from_hex(std::string_view text);
    // clang-tidy 14 misreads a defaulted <=> as a comparison with 0.
    auto operator<=>(const RecoveryTag&) const = default;  // NOLINT(modernize-use-nullptr)
};

RecoveryTag recovery_tag(const SecureBuffer& token_key, const SecureBuffer& canonical);

// Index into `hashes` of the hash that matches `canonical`, skipping those
// whose setting is in `used_settings` (codes used under state format 1);
// -1 when none does. Compares crypt outputs in constant time.
Result<long> find_recovery_code(const SecureBuffer& canonical, const std::vector<std::string>& hashes,
                                const std::vector<std::string>& used_settings);

}  // namespace pam_totp
