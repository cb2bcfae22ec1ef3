#include "admin_tool/migrate.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "admin_tool/store_admin.h"
#include "core/files/file_lock.h"
#include "core/files/store_config.h"
#include "core/otp/rate_limit.h"
#include "core/store/claim_store.h"
#include "core/store/file_backend.h"
#include "core/store/plugin_backend.h"
#include "core/store/state_format.h"
#include "core/util/write_all.h"

namespace totp_admin {
namespace {

int fail(const std::string& message) {
    (void)pam_totp::write_all(STDERR_FILENO, "totp-admin: " + message + "\n");
    return exit_not_done;
}

// The state files in state_dir (u-NAME, h-HASH), by name.
pam_totp::Result<std::vector<std::string>> state_names(const std::string& dir) {
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    if (!d) {
        return pam_totp::errno_error(dir, errno);
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string name = e->d_name;
        if (pam_totp::ClaimStore::is_state_name(name)) {
            names.push_back(name);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

// Folds one host state into the store, under the store's locks.
pam_totp::Status merge_one(pam_totp::ClaimStore& store, pam_totp::AccountState state) {
    // What a login cut short left here is settled the strict way first (with
    // the default limits: the module's own may differ per service).
    const pam_totp::RateLimitConfig defaults;
    (void)pam_totp::settle_stale_charge(state.record, defaults);
    std::vector<pam_totp::TokenId> ids;
    for (auto& [id, record] : state.tokens) {
        (void)pam_totp::settle_stale_pending(record);
        ids.push_back(id);
    }
    auto tx = store.begin(state.account, ids);
    if (!tx) {
        return tx.error();
    }
    pam_totp::merge_into(tx.value()->account(), state.record);
    for (const auto& [id, record] : state.tokens) {
        pam_totp::merge_into(tx.value()->token(id), record);
    }
    return tx.value()->save(pam_totp::Durability::durable);
}

}  // namespace

int run_migrate_to_store(const CliOptions& opts) {
    auto config = pam_totp::read_store_config(opts.store_config, PAM_TOTP_PKGLIBDIR "/pam_totp_pgsql.so");
    if (!config) {
        return fail(config.error().message);
    }
    auto backend = pam_totp::PluginBackend::load(std::move(config).value(), pam_totp::default_lock_wait);
    if (!backend) {
        return fail(backend.error().message);
    }
    pam_totp::ClaimStore store(std::move(backend).value());
    pam_totp::FileBackend host(opts.state_dir, 0, pam_totp::default_lock_wait);
    auto names = state_names(opts.state_dir);
    if (!names) {
        return fail(names.error().message);
    }
    std::size_t copied = 0;
    std::size_t tokens = 0;
    for (const std::string& name : names.value()) {
        // Under the host state's own lock: no login here changes it meanwhile.
        auto held = host.lock(name, false);
        if (!held) {
            return fail(held.error().message);
        }
        if (!held.value()->text()) {
            continue;  // created and never written
        }
        auto state = pam_totp::parse_account_state(*held.value()->text());
        if (!state) {
            return fail(host.where(name) + ": " + state.error().message);
        }
        tokens += state.value().tokens.size();
        if (pam_totp::Status st = merge_one(store, std::move(state).value()); !st) {
            return fail("copying " + host.where(name) + ": " + st.error().message + " (" + std::to_string(copied) +
                        " accounts copied before it; running it again is safe)");
        }
        ++copied;
    }
    (void)pam_totp::write_all(STDOUT_FILENO, "Copied " + std::to_string(copied) + " accounts' states and " +
                                                 std::to_string(tokens) + " secrets' replay records from " +
                                                 opts.state_dir + " into the shared store.\n");
    return exit_done;
}

}  // namespace totp_admin
