#include "core/store/open_store.h"

#include <utility>

#include "core/files/file_lock.h"
#include "core/files/store_config.h"
#include "core/store/claim_store.h"
#include "core/store/file_store.h"
#include "core/store/plugin_backend.h"

namespace pam_totp {

Result<std::unique_ptr<StateStore>> open_state_store(const StoreChoice& choice) {
    if (choice.kind == StoreKind::file) {
        // State files belong to root: the module runs as root in every login
        // service (a caller that is not root cannot update them: denied).
        return std::unique_ptr<StateStore>(std::make_unique<FileStateStore>(choice.state_dir, 0));
    }
    auto config = read_store_config(choice.store_config, PAM_TOTP_PKGLIBDIR "/pam_totp_pgsql.so");
    if (!config) {
        return std::move(config).error();
    }
    auto backend = PluginBackend::load(std::move(config).value(), default_lock_wait);
    if (!backend) {
        return std::move(backend).error();
    }
    return std::unique_ptr<StateStore>(std::make_unique<ClaimStore>(std::move(backend).value()));
}

}  // namespace pam_totp
