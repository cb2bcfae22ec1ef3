// The file store: the state interface on local files in state_dir
// (pam_totp(8), FILES), the embedded default.
//
//   state_dir/u-NAME        one account's state (h-SHA256 for a name that is
//                           too long for a file name), in two slots
//                           (slot_file.h): its record and the replay records
//                           of the tokens it claimed
//   state_dir/t-TOKENID     a symbolic link naming the state that holds that
//                           token's replay record: the first account to log
//                           in with a secret claims it, and every other
//                           account reaching the same secret (root and toor
//                           sharing ~/.pam_totp, a copied file) uses that
//                           record too. The link is read, never followed.
//
// A login locks its account's file and the files holding its tokens'
// records, in name order (so two logins never wait for each other in a
// circle), each wait bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "core/files/file_lock.h"
#include "core/store/state_format.h"
#include "core/store/state_store.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

class FileStateStore final : public StateStore {
  public:
    // State files belong to `owner` (root for the module). state_dir is
    // created (mode 0700) when missing; it must be owned by `owner` with no
    // group or world access, in directories only root (or `owner`) controls.
    explicit FileStateStore(std::string state_dir, uid_t owner = 0,
                            std::chrono::milliseconds lock_wait = default_lock_wait);

    Result<std::optional<AccountRecord>> peek(std::string_view account) override;
    Result<std::optional<TokenRecord>> peek_token(const TokenId& id) override;
    Result<std::unique_ptr<StateTransaction>> begin(std::string_view account,
                                                    std::span<const TokenId> tokens) override;
    Result<std::optional<LegacyState>> legacy_state(std::string_view account, std::optional<uid_t> uid) override;

    // "u-NAME", or "h-" and 64 hex digits of SHA-256 for a long name.
    static std::string account_file_name(std::string_view account);
    // "t-" and the token id's 32 hex digits.
    static std::string claim_name(const TokenId& id);

    [[nodiscard]] const std::string& dir() const noexcept { return m_dir; }

  private:
    // The newest state in file `name` without its lock; nullopt when none.
    Result<std::optional<AccountState>> peek_file(int dir_fd, const std::string& name) const;
    // state_dir, checked (and created when `create`), opened once for the
    // store's life; Errc::not_found when it is missing and not `create`.
    Result<int> open_dir(bool create);

    std::string m_dir;
    UniqueFd m_dir_fd;
    uid_t m_owner;
    std::chrono::milliseconds m_lock_wait;
};

}  // namespace pam_totp
