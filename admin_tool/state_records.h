// What totp-admin reads of the state (pam_totp(8), FILES, FLEET): an
// account's record and its tokens' replay records, from the store itself
// through the module's interface (--show: one account), or from a
// snapshot of every state the store holds (--list). Read without locks:
// a look, as the module's own before its prompt; nothing here writes.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin_tool/cli_options.h"
#include "core/otp/token.h"
#include "core/store/file_backend.h"
#include "core/store/records.h"
#include "core/store/state_format.h"
#include "core/store/state_store.h"
#include "core/util/result.h"

namespace totp_admin {

class RecordSource {
  public:
    RecordSource() = default;
    virtual ~RecordSource() = default;
    RecordSource(const RecordSource&) = delete;
    RecordSource& operator=(const RecordSource&) = delete;
    RecordSource(RecordSource&&) = delete;
    RecordSource& operator=(RecordSource&&) = delete;

    // The account's record; nullopt when it has no state.
    virtual pam_totp::Result<std::optional<pam_totp::AccountRecord>> account(const std::string& user) = 0;
    // A token's replay record, wherever its claim says it is; nullopt when
    // it has none (no code of it accepted or tried yet).
    virtual pam_totp::Result<std::optional<pam_totp::TokenRecord>> token(const pam_totp::TokenId& id) = 0;
    // Where the state is, for messages: "/var/lib/pam_totp", "the shared store".
    [[nodiscard]] virtual std::string where() const = 0;
};

// The store the options name, opened as the module opens it.
class StoreRecords final : public RecordSource {
  public:
    static pam_totp::Result<std::unique_ptr<StoreRecords>> open(const CliOptions& opts);

    pam_totp::Result<std::optional<pam_totp::AccountRecord>> account(const std::string& user) override;
    pam_totp::Result<std::optional<pam_totp::TokenRecord>> token(const pam_totp::TokenId& id) override;
    [[nodiscard]] std::string where() const override { return m_where; }

  private:
    StoreRecords(std::unique_ptr<pam_totp::StateStore> store, std::string where)
        : m_store(std::move(store)), m_where(std::move(where)) {}
    std::unique_ptr<pam_totp::StateStore> m_store;
    std::string m_where;
};

// One state the store holds, parsed, or why it could not be.
struct StoredState {
    std::string name;   // u-NAME or h-HASH (claim_store.h)
    std::string where;  // for messages
    std::optional<pam_totp::AccountState> state;
    std::string problem;  // when `state` is empty
};

// Every state of the store, read once.
class StateSnapshot final : public RecordSource {
  public:
    // The file store: every state file in state_dir (none when it does not
    // exist yet); the shared store: every row, in one read-only transaction.
    static pam_totp::Result<std::unique_ptr<StateSnapshot>> load(const CliOptions& opts);

    [[nodiscard]] const std::map<std::string, StoredState>& states() const { return m_states; }

    pam_totp::Result<std::optional<pam_totp::AccountRecord>> account(const std::string& user) override;
    pam_totp::Result<std::optional<pam_totp::TokenRecord>> token(const pam_totp::TokenId& id) override;
    [[nodiscard]] std::string where() const override { return m_where; }

  private:
    explicit StateSnapshot(std::string where) : m_where(std::move(where)) {}
    void add(const std::string& name, std::string where, const std::string& text);
    pam_totp::Result<std::optional<std::string>> claim_of(const pam_totp::TokenId& id);

    std::string m_where;
    std::map<std::string, StoredState> m_states;
    // The claims: read from the state directory as asked (files), or all
    // at once with the states (the shared store).
    std::unique_ptr<pam_totp::FileBackend> m_files;
    std::map<pam_totp::TokenId, std::string> m_claims;
};

}  // namespace totp_admin
