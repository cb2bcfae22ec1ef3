// Where the state's texts are kept, below the claim logic of claim_store.h:
// named states (an account's text in the format of state_format.h, which a
// backend never parses), the claims of tokens (token id -> state name),
// and exclusive locks on state names. Two backends: files in state_dir
// (file_backend.h) and PostgreSQL (plugin_backend.h, which loads
// pam_totp_pgsql.so).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/otp/token.h"
#include "core/store/durability.h"
#include "core/store/legacy_state.h"
#include "core/util/result.h"

namespace pam_totp {

// One locked state: its newest text (nullopt when it has none yet), and
// how to write a newer one. The lock is held until the object goes (or,
// for a backend that holds its locks in a session, until release_all).
class HeldState {
  public:
    HeldState() = default;
    virtual ~HeldState() = default;
    HeldState(const HeldState&) = delete;
    HeldState& operator=(const HeldState&) = delete;
    HeldState(HeldState&&) = delete;
    HeldState& operator=(HeldState&&) = delete;

    [[nodiscard]] virtual const std::optional<std::string>& text() const = 0;
    virtual Status write(std::string_view text, Durability durability) = 0;
};

class StateBackend {
  public:
    StateBackend() = default;
    virtual ~StateBackend() = default;
    StateBackend(const StateBackend&) = delete;
    StateBackend& operator=(const StateBackend&) = delete;
    StateBackend(StateBackend&&) = delete;
    StateBackend& operator=(StateBackend&&) = delete;

    // The calls from here to the next start_work() are one piece of work,
    // done within the store's time limit as a whole (PostgreSQL: the
    // store's `timeout`, connecting included). ClaimStore starts one for a
    // look and one for a transaction, never one across a wait for the
    // user. Local files need none: each lock wait is bounded by itself.
    virtual void start_work() {}

    // A look (ClaimStore::peek, peek_token) is over and the login may now
    // wait for the user: hold nothing meanwhile. PostgreSQL closes its
    // connection, so that unanswered prompts hold no server process (a
    // few hosts' worth of open prompts would otherwise fill
    // max_connections and deny every host's logins). Files hold nothing.
    virtual void idle() {}

    // A state's name as messages give it (a path, or where in the database).
    [[nodiscard]] virtual std::string where(const std::string& name) const = 0;

    // The state a token is claimed by; nullopt when it is not claimed.
    virtual Result<std::optional<std::string>> read_claim(const TokenId& id) = 0;
    // Claims a token for `holder`; false when it was claimed already.
    virtual Result<bool> add_claim(const TokenId& id, const std::string& holder) = 0;
    // Makes the claims added so far durable (they must outlive a crash that
    // the records written after them survive).
    virtual Status sync_claims() = 0;
    // Removes a claim if it names `holder`, whose lock the caller holds:
    // the record it pointed at is gone (pruned, or the state was never
    // written or was removed).
    virtual Status drop_claim(const TokenId& id, const std::string& holder) = 0;

    // Locks a state, waiting a bounded time (Errc::busy after it). A state
    // that does not exist is made empty when `create`, else Errc::not_found.
    virtual Result<std::unique_ptr<HeldState>> lock(const std::string& name, bool create) = 0;
    // Gives back every lock this backend holds (a round of begin() given up).
    virtual void release_all() = 0;
    // The newest text without the lock (a quick look); nullopt when none.
    virtual Result<std::optional<std::string>> peek(const std::string& name) = 0;

    // The state pam_totp 0.1 kept for an account (files only).
    virtual Result<std::optional<LegacyState>> legacy_state(std::string_view account, std::optional<uid_t> uid) = 0;
};

}  // namespace pam_totp
