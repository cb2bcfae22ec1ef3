#include "admin_tool/reset.h"

#include <unistd.h>

#include <ctime>
#include <memory>
#include <string>

#include "admin_tool/store_admin.h"
#include "core/files/path_template.h"
#include "core/store/open_store.h"
#include "core/util/write_all.h"

namespace totp_admin {
namespace {

int fail(const std::string& message) {
    (void)pam_totp::write_all(STDERR_FILENO, "totp-admin: " + message + "\n");
    return exit_not_done;
}

}  // namespace

int run_reset(const CliOptions& opts) {
    if (pam_totp::Status st = pam_totp::validate_user_name(opts.user); !st) {
        return fail("--reset: " + st.error().message);
    }
    if (::geteuid() != 0) {
        return fail("--reset needs root: the state is root's (run it with sudo)");
    }
    auto store = pam_totp::open_state_store({opts.store, opts.state_dir, opts.store_config});
    if (!store) {
        return fail(store.error().message);
    }
    auto existing = store.value()->peek(opts.user);
    if (!existing) {
        return fail(existing.error().message);
    }
    if (!existing.value()) {
        return fail(opts.user + " has no state here: nothing to reset (check the name, and --store)");
    }
    // The account's record only: the replay records of its secrets (until
    // when codes are used, the used recovery codes) stay as they are, so no
    // code works twice after a reset (deleting the state would forget them).
    auto tx = store.value()->begin(opts.user, {});
    if (!tx) {
        return fail(tx.error().message);
    }
    if (tx.value()->fresh()) {
        return fail(opts.user + " has no state here: nothing to reset");
    }
    pam_totp::AccountRecord& account = tx.value()->account();
    const bool was_locked = pam_totp::is_locked(account.budget, ::time(nullptr));
    const unsigned wrong = account.budget.since_success;
    account.budget = pam_totp::Budget{};
    // A login cut short is forgiven with the rest; its tokens' pending
    // records stay, so the next login still refuses what it could have used.
    account.charge.reset();
    account.charge_weight = 1;
    if (pam_totp::Status st = tx.value()->save(pam_totp::Durability::durable); !st) {
        return fail(st.error().message);
    }
    (void)pam_totp::write_all(STDOUT_FILENO,
                              "Reset " + opts.user + ": " + (was_locked ? "the lockout ended, " : "not locked, ") +
                                  std::to_string(wrong) + " wrong codes forgotten; used codes stay used.\n");
    return exit_done;
}

}  // namespace totp_admin
