// The file store: the state interface (claim_store.h) on files in
// state_dir (file_backend.h), the embedded default (pam_totp(8), FILES).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "core/files/file_lock.h"
#include "core/store/claim_store.h"

namespace pam_totp {

class FileStateStore final : public ClaimStore {
  public:
    // State files belong to `owner` (root for the module); see FileBackend.
    explicit FileStateStore(std::string state_dir, uid_t owner = 0,
                            std::chrono::milliseconds lock_wait = default_lock_wait);

    // The names claim_store.h gives, as tests and totp-enroll know them.
    static std::string account_file_name(std::string_view account) { return state_name(account); }
    using ClaimStore::claim_name;

    [[nodiscard]] const std::string& dir() const noexcept { return m_dir; }

  private:
    std::string m_dir;
};

}  // namespace pam_totp
