// Which store holds the state, and opening it: one place for the module
// (store=, state_dir=, store_config=), totp-admin and totp-enroll --status,
// so the three cannot disagree on where a user's state is.
#pragma once

#include <memory>
#include <string>

#include "core/store/state_store.h"
#include "core/store/store_kind.h"
#include "core/util/result.h"

namespace pam_totp {

struct StoreChoice {
    StoreKind kind = StoreKind::file;
    std::string state_dir;     // kind == file
    std::string store_config;  // kind == postgresql
};

// The file store is only constructed here (it checks state_dir when first
// used); the PostgreSQL store reads store_config (root-owned, 0600) and
// loads the backend from PAM_TOTP_PKGLIBDIR, so its errors come now. No
// fallback from one to the other: an error is the caller's to report.
Result<std::unique_ptr<StateStore>> open_state_store(const StoreChoice& choice);

}  // namespace pam_totp
