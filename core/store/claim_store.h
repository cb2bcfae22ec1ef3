// The state interface on a backend (state_backend.h), the same for files
// and for PostgreSQL (pam_totp(8), FILES, FLEET):
//
//   u-NAME (h-SHA256 for a long name)  one account's state: its record
//                                      and the replay records of the
//                                      tokens it claimed
//   t-TOKENID -> u-NAME                which state holds a token's record:
//                                      claimed by the account whose charge
//                                      first wrote it; every other account
//                                      reaching the same secret uses it
//
// A login locks its account's state and the states holding its tokens'
// records, in name order (so two logins never wait for each other in a
// circle), each wait bounded.
//
// Time (StateBackend::start_work): a look (peek, peek_token) is one piece
// of work, a transaction from begin() to its end another, so that a login
// waits on the store at most one time limit before its prompt and one
// after each answer, never while the user types. A begin() right after a
// transaction that was given up before it saved anything (the login locks
// again: the secret file changed under it) goes on with that
// transaction's piece: locking again gets no new time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/store/state_backend.h"
#include "core/store/state_store.h"

namespace pam_totp {

class ClaimStore : public StateStore {
  public:
    explicit ClaimStore(std::unique_ptr<StateBackend> backend) : m_backend(std::move(backend)) {}

    Result<std::optional<AccountRecord>> peek(std::string_view account) override;
    Result<std::optional<TokenRecord>> peek_token(const TokenId& id) override;
    Result<std::unique_ptr<StateTransaction>> begin(std::string_view account, std::span<const TokenId> tokens) override;
    Result<std::optional<LegacyState>> legacy_state(std::string_view account, std::optional<uid_t> uid) override;

    // "u-NAME", or "h-" and 64 hex digits of SHA-256 for a name longer than
    // 200 bytes.
    static std::string state_name(std::string_view account);
    // "t-" and the token id's 32 hex digits.
    static std::string claim_name(const TokenId& id);
    // Whether `name` is a state name state_name() gives out.
    static bool is_state_name(std::string_view name) noexcept;

  protected:
    StateBackend& backend() { return *m_backend; }

  private:
    std::unique_ptr<StateBackend> m_backend;
    // The last transaction was given up before it saved: a begin() now
    // goes on with its piece of work.
    bool m_resume_work = false;
};

}  // namespace pam_totp
