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
    if (!pam_totp::from_hex(text, id.bytes)) {
        return std::nullopt;
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
