// What identifies a secret for its replay record, whatever file, path,
// account, service or import it was reached through (pam_totp(8), FILES).
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/util/secure_buffer.h"

namespace pam_totp {

struct TokenId {
    std::array<std::uint8_t, 16> bytes{};

    [[nodiscard]] std::string hex() const;  // 32 lower-case hex digits
    static std::optional<TokenId> from_hex(std::string_view text);
    // clang-tidy 14 misreads a defaulted <=> as a comparison with 0.
    auto operator<=>(const TokenId&) const = default;  // NOLINT(modernize-use-nullptr)
};

// The first 16 bytes of SHA-256 over a domain label and the key: the same
// for every copy of one secret (so one code works once however it is
// reached), different for every other secret, and no help in finding the
// key (a preimage of a 160-bit random key).
TokenId token_id_of(const SecureBuffer& key);

}  // namespace pam_totp
