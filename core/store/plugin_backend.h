// A state backend in a separate object the module loads on demand
// (backend_abi.h): today pam_totp_pgsql.so, the PostgreSQL store of
// pam_totp(8), FLEET. Hosts on the file store never load it, so the
// module's own dependencies and its login cost do not grow.
//
// Time: the store's `timeout` bounds each piece of work (start_work(),
// which ClaimStore calls for a look before the prompt and for the
// transaction after an answer), the connection included: every call of
// the piece gets its one deadline, however many exchanges it takes. The
// time a user takes to answer is in no piece, and no connection is open
// then (idle()). One object serves one login
// (or one totp-admin command): a connection that failed is not tried
// again, its error is returned at once.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/files/store_config.h"
#include "core/store/backend_abi.h"
#include "core/store/state_backend.h"

namespace pam_totp {

class PluginBackend final : public StateBackend {
  public:
    // Loads `config.backend`, which must be root's alone to write (owner
    // root, no group or world write, in directories only root controls;
    // loaded through the descriptor that was checked), and connects on
    // first use with `config.conninfo`. Each piece of work is bounded by
    // `config.timeout`; a lock is waited for at most `lock_wait` (and not
    // past the piece's deadline). Errc::unavailable when the store cannot
    // be used.
    static Result<std::unique_ptr<PluginBackend>> load(StoreConfig config, std::chrono::milliseconds lock_wait);
    ~PluginBackend() override;
    PluginBackend(const PluginBackend&) = delete;
    PluginBackend& operator=(const PluginBackend&) = delete;
    PluginBackend(PluginBackend&&) = delete;
    PluginBackend& operator=(PluginBackend&&) = delete;

    void start_work() override;
    void idle() override;
    [[nodiscard]] std::string where(const std::string& name) const override;
    Result<std::optional<std::string>> read_claim(const TokenId& id) override;
    Result<bool> add_claim(const TokenId& id, const std::string& holder) override;
    Status sync_claims() override { return {}; }  // each claim commits as it is made
    Status drop_claim(const TokenId& id, const std::string& holder) override;
    Result<std::unique_ptr<HeldState>> lock(const std::string& name, bool create) override;
    void release_all() override;
    Result<std::optional<std::string>> peek(const std::string& name) override;
    Result<std::optional<LegacyState>> legacy_state(std::string_view /*account*/,
                                                    std::optional<uid_t> /*uid*/) override {
        return std::optional<LegacyState>();  // pam_totp 0.1 kept no shared state
    }

    // For HeldState: writes a state's text.
    Status write(const std::string& name, std::string_view text, Durability durability);

  private:
    PluginBackend(void* handle, const pam_totp_backend_ops* ops, StoreConfig config,
                  std::chrono::milliseconds lock_wait)
        : m_handle(handle), m_ops(ops), m_config(std::move(config)), m_lock_wait(lock_wait) {}

    // The connection, made on first use; its failure, once it failed.
    Result<pam_totp_backend*> connection();
    // The deadline of the piece of work under way (a piece starts with the
    // first call when nobody started one).
    pam_totp_deadline deadline();
    // The Error for a backend's failure status.
    [[nodiscard]] Error failure(int status, const pam_totp_backend_error& err) const;

    void* m_handle;
    const pam_totp_backend_ops* m_ops;
    StoreConfig m_config;
    std::chrono::milliseconds m_lock_wait;
    pam_totp_backend* m_connection = nullptr;
    std::optional<Error> m_connect_failure;  // returned again, never retried
    std::optional<pam_totp_deadline> m_deadline;
};

}  // namespace pam_totp
