#include "core/store/store_kind.h"

namespace pam_totp {

std::optional<StoreKind> parse_store_kind(std::string_view name) noexcept {
    if (name == "file") {
        return StoreKind::file;
    }
    if (name == "postgresql") {
        return StoreKind::postgresql;
    }
    return std::nullopt;
}

}  // namespace pam_totp
