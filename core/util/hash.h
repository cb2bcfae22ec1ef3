// SHA-256 and HMAC-SHA-256 (FIPS 180-4, RFC 2104) from GNU Nettle: the ids
// that key the replay state by secret, the tags of used recovery codes and
// the checksums of state slots. Nothing here is hand-written crypto.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace pam_totp {

using Sha256Digest = std::array<std::uint8_t, 32>;

// SHA-256 of the concatenation of `parts`.
Sha256Digest sha256(std::initializer_list<std::span<const std::uint8_t>> parts) noexcept;

// HMAC-SHA-256 under `key` of the concatenation of `parts`. The key
// schedule is wiped before returning.
Sha256Digest hmac_sha256(std::span<const std::uint8_t> key,
                         std::initializer_list<std::span<const std::uint8_t>> parts) noexcept;

// The bytes of a string, for the functions above.
inline std::span<const std::uint8_t> bytes_of(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace pam_totp
