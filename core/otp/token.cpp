#include "core/otp/token.h"

#include <algorithm>

#include "core/util/hash.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {
constexpr std::string_view token_id_label{"pam_totp token id v1\0", 21};
}  // namespace

std::string TokenId::hex() const {
    return to_hex(bytes);
}

std::optional<TokenId> TokenId::from_hex(std::string_view text) {
    TokenId id;
    if (text.size() != id.bytes.size() * 2) {
        return std::nullopt;
    }
    const auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;  // upper case is not the canonical form: refused
    };
    for (std::size_t i = 0; i < id.bytes.size(); ++i) {
        const int hi = nibble(text[2 * i]);
        const int lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        id.bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return id;
}

TokenId token_id_of(const SecureBuffer& key) {
    const Sha256Digest digest = sha256({bytes_of(token_id_label), {key.data(), key.size()}});
    TokenId id;
    std::copy_n(digest.begin(), id.bytes.size(), id.bytes.begin());
    return id;
}

}  // namespace pam_totp
