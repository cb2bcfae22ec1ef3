// The state interface (pam_totp(8), FILES): a locked read-modify-write of one
// account's record and the replay records of the tokens a login checks,
// with two implementations: local files (file_store.h, the embedded
// default) and, for a fleet, PostgreSQL.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "core/otp/token.h"
#include "core/store/durability.h"
#include "core/store/legacy_state.h"
#include "core/store/records.h"
#include "core/util/result.h"

namespace pam_totp {

// One login's hold on the state: every record below is locked from
// StateStore::begin until the transaction is destroyed, so that concurrent
// logins of the account, and of any account sharing a token, take turns.
class StateTransaction {
  public:
    StateTransaction() = default;
    virtual ~StateTransaction() = default;
    StateTransaction(const StateTransaction&) = delete;
    StateTransaction& operator=(const StateTransaction&) = delete;
    StateTransaction(StateTransaction&&) = delete;
    StateTransaction& operator=(StateTransaction&&) = delete;

    virtual AccountRecord& account() = 0;
    // The replay record of a token given to begin() (an empty record when
    // the token has none yet).
    virtual TokenRecord& token(const TokenId& id) = 0;
    // True when the account had no record before (its first login here).
    [[nodiscard]] virtual bool fresh() const = 0;
    // Writes what changed. Durability::durable returns only once it is on
    // disk (the charge before an answer is checked, records.h); relaxed may
    // reach the disk later (settling: a crash then leaves the charge).
    // Errc::conflict: another account's login sharing a secret claimed its
    // record first; this account's record was written, the secret's was not
    // (begin again: the record is then found where the claim says).
    virtual Status save(Durability durability) = 0;
};

class StateStore {
  public:
    StateStore() = default;
    virtual ~StateStore() = default;
    StateStore(const StateStore&) = delete;
    StateStore& operator=(const StateStore&) = delete;
    StateStore(StateStore&&) = delete;
    StateStore& operator=(StateStore&&) = delete;

    // The account's record as last written, without locking (to tell a
    // locked-out user so before asking); nullopt when it has none.
    virtual Result<std::optional<AccountRecord>> peek(std::string_view account) = 0;

    // A token's replay record as last written, without locking (for
    // totp-enroll --status and totp-admin); nullopt when it has none.
    virtual Result<std::optional<TokenRecord>> peek_token(const TokenId& id) = 0;

    // Locks and reads the account's record and those of `tokens`, waiting
    // a bounded time for other holders (Errc::busy after it).
    virtual Result<std::unique_ptr<StateTransaction>> begin(std::string_view account,
                                                            std::span<const TokenId> tokens) = 0;

    // The state pam_totp 0.1 kept for the account (by name, or by `uid`),
    // to carry used codes over on the account's first login; nullopt when
    // there is none.
    virtual Result<std::optional<LegacyState>> legacy_state(std::string_view account, std::optional<uid_t> uid) = 0;
};

}  // namespace pam_totp
