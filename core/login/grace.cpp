#include "core/login/grace.h"

#include <algorithm>
#include <vector>

#include "core/util/hash.h"

namespace pam_totp {

std::optional<RecoveryTag> grace_place(std::string_view service, std::string_view rhost, std::string_view tty,
                                       std::string_view enrollment_id, std::span<const TokenId> tokens) {
    if (rhost.empty() && tty.empty()) {
        return std::nullopt;
    }
    static constexpr std::string_view label{"pam_totp grace place v1\0", 24};
    static constexpr std::uint8_t nul = 0;
    const std::span<const std::uint8_t> sep(&nul, 1);
    // Each part NUL-terminated: no two different places hash the same text.
    std::vector<std::uint8_t> ids;
    for (const TokenId& id : tokens) {
        ids.insert(ids.end(), id.bytes.begin(), id.bytes.end());
    }
    const Sha256Digest digest = sha256({bytes_of(label), bytes_of(service), sep, bytes_of(rhost), sep, bytes_of(tty),
                                        sep, bytes_of(enrollment_id), sep, ids});
    RecoveryTag place;
    std::copy_n(digest.begin(), place.bytes.size(), place.bytes.begin());
    return place;
}

bool grace_holds(const AccountRecord& account, const RecoveryTag& place, std::time_t now, long period) noexcept {
    return period > 0 && std::any_of(account.grace.begin(), account.grace.end(), [&](const GraceRecord& g) {
               return g.place == place && g.granted <= now && now - g.granted < period;
           });
}

}  // namespace pam_totp
