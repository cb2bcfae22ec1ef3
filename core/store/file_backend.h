// The state's texts in files, in state_dir (pam_totp(8), FILES): u-NAME
// two-slot files (slot_file.h) locked with flock on themselves, and
// t-TOKENID symbolic links (read with readlinkat, never followed) naming
// the state that holds a token's record. The embedded default.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "core/store/state_backend.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

class FileBackend final : public StateBackend {
  public:
    // State files belong to `owner` (root for the module). state_dir is
    // created (mode 0700) when missing; it must be owned by `owner` with no
    // group or world access, not fold the case of names, and sit in
    // directories only root (or `owner`) controls.
    FileBackend(std::string state_dir, uid_t owner, std::chrono::milliseconds lock_wait);

    [[nodiscard]] std::string where(const std::string& name) const override;
    Result<std::optional<std::string>> read_claim(const TokenId& id) override;
    Result<bool> add_claim(const TokenId& id, const std::string& holder) override;
    Status sync_claims() override;
    Status drop_claim(const TokenId& id, const std::string& holder) override;
    Result<std::unique_ptr<HeldState>> lock(const std::string& name, bool create) override;
    void release_all() override {}  // each lock goes with its HeldState
    Result<std::optional<std::string>> peek(const std::string& name) override;
    Result<std::optional<LegacyState>> legacy_state(std::string_view account, std::optional<uid_t> uid) override;

  private:
    // state_dir, checked (and created when `create`), opened once for the
    // backend's life; Errc::not_found when it is missing and not `create`.
    Result<int> open_dir(bool create);

    std::string m_dir;
    uid_t m_owner;
    std::chrono::milliseconds m_lock_wait;
    UniqueFd m_dir_fd;
};

}  // namespace pam_totp
