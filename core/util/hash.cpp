#include "core/util/hash.h"

#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <string.h>  // explicit_bzero

namespace pam_totp {

Sha256Digest sha256(std::initializer_list<std::span<const std::uint8_t>> parts) noexcept {
    sha256_ctx ctx{};
    ::nettle_sha256_init(&ctx);
    for (const auto& part : parts) {
        ::nettle_sha256_update(&ctx, part.size(), part.data());
    }
    Sha256Digest out{};
    ::nettle_sha256_digest(&ctx, out.size(), out.data());
    ::explicit_bzero(&ctx, sizeof ctx);
    return out;
}

Sha256Digest hmac_sha256(std::span<const std::uint8_t> key,
                         std::initializer_list<std::span<const std::uint8_t>> parts) noexcept {
    hmac_sha256_ctx ctx{};
    ::nettle_hmac_sha256_set_key(&ctx, key.size(), key.data());
    for (const auto& part : parts) {
        ::nettle_hmac_sha256_update(&ctx, part.size(), part.data());
    }
    Sha256Digest out{};
    ::nettle_hmac_sha256_digest(&ctx, out.size(), out.data());
    // The context holds the key's inner and outer pads.
    ::explicit_bzero(&ctx, sizeof ctx);
    return out;
}

}  // namespace pam_totp
