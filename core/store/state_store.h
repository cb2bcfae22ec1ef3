// Storage of per-user state behind a small interface, so that a shared store
// for a fleet can be added later without touching the module.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/util/result.h"
#include "core/util/unique_fd.h"
#include "core/store/user_state.h"

namespace pam_totp {

// One locked read-modify-write of one user's state. The lock is held from
// StateStore::begin until the transaction is destroyed, so that concurrent
// logins of the same user are serialised (check and update are one step).
class StateTransaction {
  public:
    StateTransaction() = default;
    virtual ~StateTransaction() = default;
    StateTransaction(const StateTransaction&) = delete;
    StateTransaction& operator=(const StateTransaction&) = delete;
    StateTransaction(StateTransaction&&) = delete;
    StateTransaction& operator=(StateTransaction&&) = delete;
    virtual UserState& state() = 0;
    // Writes state() durably; only after it returns ok may a login succeed.
    virtual Status commit() = 0;
};

class StateStore {
  public:
    StateStore() = default;
    virtual ~StateStore() = default;
    StateStore(const StateStore&) = delete;
    StateStore& operator=(const StateStore&) = delete;
    StateStore(StateStore&&) = delete;
    StateStore& operator=(StateStore&&) = delete;
    // Locks one account's state exclusively (waiting for other holders) and
    // reads it; a missing state is an empty UserState. `key` names the
    // account: the module passes the uid in decimal, so that user names
    // sharing a uid share one state.
    virtual Result<std::unique_ptr<StateTransaction>> begin(std::string_view key) = 0;
};

// state_dir/KEY.state (the state) and state_dir/KEY.lock (a stable lock file
// that is never renamed over, so flock on it always means the same thing);
// KEY is the uid for the module (/var/lib/pam_totp/1000.state).
// state_dir must be a directory owned by `owner` with no group/world access;
// it is created (0700) when missing. State files are owned by `owner`, mode
// 0600. A caller that cannot create or lock them (no privilege) gets
// Errc::permission.
class FileStateStore final : public StateStore {
  public:
    explicit FileStateStore(std::string state_dir, uid_t owner = 0);
    Result<std::unique_ptr<StateTransaction>> begin(std::string_view key) override;

  private:
    std::string m_dir;
    uid_t m_owner;
};

}  // namespace pam_totp
