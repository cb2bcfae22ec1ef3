// Which store keeps the state: the module's store= option, and --store of
// totp-admin and totp-enroll (open_store.h opens it).
#pragma once

#include <optional>
#include <string_view>

namespace pam_totp {

enum class StoreKind {
    file,        // state_dir on this host (the embedded default)
    postgresql,  // one store for a fleet (pam_totp(8), FLEET)
};

// "file" or "postgresql"; nullopt for anything else.
std::optional<StoreKind> parse_store_kind(std::string_view name) noexcept;

}  // namespace pam_totp
