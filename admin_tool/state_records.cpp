#include "admin_tool/state_records.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "admin_tool/store_admin.h"
#include "core/files/file_lock.h"
#include "core/files/safe_file.h"
#include "core/store/claim_store.h"
#include "core/store/open_store.h"

namespace totp_admin {
namespace {

using pam_totp::Errc;
using pam_totp::make_error;

std::string store_where(const CliOptions& opts) {
    return opts.store == pam_totp::StoreKind::file ? opts.state_dir : "the shared store (" + opts.store_config + ")";
}

// The names in state_dir, checked as the module checks it (owned by root,
// no group or world access, in directories only root controls); none
// when it does not exist yet (no login has written a state).
pam_totp::Result<std::vector<std::string>> state_dir_names(const std::string& dir) {
    auto parts = pam_totp::split_path(dir);
    if (!parts) {
        return make_error(Errc::invalid_argument, "--state-dir " + dir + ": " + parts.error().message);
    }
    const auto& [parent, base] = parts.value();
    auto parent_fd = pam_totp::open_checked_directory(dir, parent, 0);
    if (!parent_fd) {
        if (parent_fd.error().code == Errc::not_found) {
            return std::vector<std::string>();
        }
        return std::move(parent_fd).error();
    }
    pam_totp::UniqueFd fd(
        ::openat(parent_fd.value().get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ENOENT) {
            return std::vector<std::string>();
        }
        if (err == ELOOP || err == ENOTDIR) {
            return make_error(Errc::unsafe, dir + ": state directory is not a directory (or is a symbolic link)");
        }
        return pam_totp::errno_error("state directory " + dir, err);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return pam_totp::errno_error(dir, errno);
    }
    if (pam_totp::Status ok = pam_totp::check_directory(st, dir + ": state directory",
                                                        pam_totp::DirRules{.owner = 0, .private_dir = true});
        !ok) {
        return ok.error();
    }
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(fd.get()), ::closedir);
    if (!d) {
        return pam_totp::errno_error("cannot list " + dir, errno);
    }
    (void)fd.release();  // the DIR owns it now
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d.get())) {
        names.emplace_back(e->d_name);
    }
    if (errno != 0) {
        return pam_totp::errno_error("cannot list " + dir, errno);
    }
    return names;
}

}  // namespace

pam_totp::Result<std::unique_ptr<StoreRecords>> StoreRecords::open(const CliOptions& opts) {
    auto store = pam_totp::open_state_store({opts.store, opts.state_dir, opts.store_config});
    if (!store) {
        return std::move(store).error();
    }
    return std::unique_ptr<StoreRecords>(new StoreRecords(std::move(store).value(), store_where(opts)));
}

pam_totp::Result<std::optional<pam_totp::AccountRecord>> StoreRecords::account(const std::string& user) {
    return m_store->peek(user);
}

pam_totp::Result<std::optional<pam_totp::TokenRecord>> StoreRecords::token(const pam_totp::TokenId& id) {
    return m_store->peek_token(id);
}

pam_totp::Result<std::unique_ptr<StateSnapshot>> StateSnapshot::load(const CliOptions& opts) {
    std::unique_ptr<StateSnapshot> snap(new StateSnapshot(store_where(opts)));
    if (opts.store == pam_totp::StoreKind::postgresql) {
        auto rows = read_shared_store(opts.store_config);
        if (!rows) {
            return std::move(rows).error();
        }
        for (const auto& [name, text] : rows.value().states) {
            snap->add(name, "the shared store's state " + name, text);
        }
        for (const auto& [token_hex, holder] : rows.value().claims) {
            if (const auto id = pam_totp::TokenId::from_hex(token_hex)) {
                snap->m_claims[*id] = holder;
            }
        }
        return snap;
    }
    auto names = state_dir_names(opts.state_dir);
    if (!names) {
        return std::move(names).error();
    }
    snap->m_files = std::make_unique<pam_totp::FileBackend>(opts.state_dir, 0, pam_totp::default_lock_wait);
    for (const std::string& name : names.value()) {
        if (!pam_totp::ClaimStore::is_state_name(name)) {
            continue;  // claims (t-), a growing state's new file (n-), pam_totp 0.1's states
        }
        const std::string path = snap->m_files->where(name);
        auto text = snap->m_files->peek(name);
        if (!text) {
            snap->m_states[name] = StoredState{name, path, std::nullopt, text.error().message};
        } else if (text.value()) {
            snap->add(name, path, *text.value());
        }
        // else: created by a login and never written (it died first)
    }
    return snap;
}

void StateSnapshot::add(const std::string& name, std::string where, const std::string& text) {
    StoredState stored{name, std::move(where), std::nullopt, {}};
    auto state = pam_totp::parse_account_state(text);
    if (!state) {
        stored.problem = stored.where + ": " + state.error().message;
    } else if (pam_totp::ClaimStore::state_name(state.value().account) != name) {
        stored.problem = stored.where + ": holds the state of another account (" + state.value().account +
                         "); the module refuses it";
    } else {
        stored.state = std::move(state).value();
    }
    m_states[name] = std::move(stored);
}

pam_totp::Result<std::optional<pam_totp::AccountRecord>> StateSnapshot::account(const std::string& user) {
    const auto it = m_states.find(pam_totp::ClaimStore::state_name(user));
    if (it == m_states.end()) {
        return std::optional<pam_totp::AccountRecord>();
    }
    if (!it->second.state) {
        return make_error(Errc::format, it->second.problem);
    }
    return std::optional<pam_totp::AccountRecord>(it->second.state->record);
}

pam_totp::Result<std::optional<std::string>> StateSnapshot::claim_of(const pam_totp::TokenId& id) {
    if (m_files) {
        return m_files->read_claim(id);
    }
    const auto it = m_claims.find(id);
    return it == m_claims.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
}

pam_totp::Result<std::optional<pam_totp::TokenRecord>> StateSnapshot::token(const pam_totp::TokenId& id) {
    auto holder = claim_of(id);
    if (!holder) {
        return std::move(holder).error();
    }
    if (!holder.value()) {
        return std::optional<pam_totp::TokenRecord>();
    }
    const auto it = m_states.find(*holder.value());
    if (it == m_states.end()) {
        return std::optional<pam_totp::TokenRecord>();  // a claim whose state was never written: no record
    }
    if (!it->second.state) {
        return make_error(Errc::format, it->second.problem);
    }
    const auto record = it->second.state->tokens.find(id);
    if (record == it->second.state->tokens.end()) {
        return std::optional<pam_totp::TokenRecord>();
    }
    return std::optional<pam_totp::TokenRecord>(record->second);
}

}  // namespace totp_admin
