#include "admin_tool/account_view.h"

#include <dirent.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>

#include "core/files/fs_identity.h"
#include "core/files/kv_format.h"
#include "core/files/path_template.h"
#include "core/files/safe_file.h"
#include "core/login/passwd_entry.h"
#include "core/util/text.h"

namespace totp_admin {
namespace {

using pam_totp::Errc;

// The text `templ` stands for when it holds no placeholder (only %%
// escapes); nullopt when it has one (%u, %h, or any other % sequence).
std::optional<std::string> literal(std::string_view templ) {
    std::string out;
    for (std::size_t i = 0; i < templ.size(); ++i) {
        if (templ[i] != '%') {
            out += templ[i];
            continue;
        }
        if (i + 1 < templ.size() && templ[i + 1] == '%') {
            out += '%';
            ++i;
            continue;
        }
        return std::nullopt;
    }
    return out;
}

// The position of the first %u that is not an escaped "%%u".
std::optional<std::size_t> user_placeholder(std::string_view templ) {
    for (std::size_t i = 0; i + 1 < templ.size(); ++i) {
        if (templ[i] == '%') {
            if (templ[i + 1] == 'u') {
                return i;
            }
            ++i;  // %% or another sequence: its second character is not a placeholder
        }
    }
    return std::nullopt;
}

// A secret file the module reads without looking the account up
// (login_flow.cpp): only root controls it, in a directory that tells names
// apart by case.
pam_totp::FileRules root_controlled_rules() {
    return pam_totp::FileRules{.owner = 0,
                               .root_may_own = true,
                               .max_size = pam_totp::max_file_size,
                               .root_owned_dirs = true,
                               .case_sensitive_dir = true};
}

// The file read (or why not) into the view, parsed; only names,
// parameters and ids are kept, never a key.
void adopt(AccountView& view, const pam_totp::Result<pam_totp::SecureBuffer>& text) {
    if (!text) {
        switch (text.error().code) {
            case Errc::not_found:
                view.secret = SecretStatus::missing;
                return;
            case Errc::unsafe:
                view.secret = SecretStatus::refused;
                view.secret_problem = text.error().message +
                                      " (pam_totp refuses it too: fix it as said, or enroll again with totp-enroll)";
                return;
            default:
                view.secret = SecretStatus::error;
                view.secret_problem = text.error().message;
                return;
        }
    }
    auto parsed = pam_totp::parse_secret_file(text.value().view());
    if (!parsed) {
        view.secret = SecretStatus::malformed;
        view.secret_problem = view.secret_path + ": " + parsed.error().message +
                              " (pam_totp refuses it too: enroll again with totp-enroll --force)";
        return;
    }
    const pam_totp::SecretFile& file = parsed.value();
    view.secret = SecretStatus::found;
    view.format = file.version;
    view.enrolled = file.enrolled;
    view.window = file.window;
    view.tokens.clear();
    for (const pam_totp::TokenEntry& t : file.tokens) {
        TokenView token;
        token.name = t.name;
        token.type = t.type;
        token.params = t.params;
        token.id = pam_totp::token_id_of(t.key);
        token.file_offset = t.offset;
        token.file_confirmed = t.confirmed_until;
        token.file_counter = t.counter;
        token.added = t.added;
        view.tokens.push_back(std::move(token));
    }
    view.recovery_codes = file.recovery_hashes.size();
    view.recovery_hashes = file.recovery_hashes;
    view.recovery_id = pam_totp::token_id_of(file.recovery_key());
}

}  // namespace

std::string_view secret_status_name(SecretStatus status) noexcept {
    switch (status) {
        case SecretStatus::found:
            return "found";
        case SecretStatus::missing:
            return "missing";
        case SecretStatus::refused:
            return "refused";
        case SecretStatus::malformed:
            return "malformed";
        case SecretStatus::not_read:
            return "not_read";
        case SecretStatus::no_account:
            return "no_account";
        case SecretStatus::error:
            break;
    }
    return "error";
}

std::string_view state_status_name(StateStatus status) noexcept {
    switch (status) {
        case StateStatus::found:
            return "found";
        case StateStatus::none:
            return "none";
        case StateStatus::error:
            break;
    }
    return "error";
}

long TokenView::clock_offset() const {
    return drift_observed() ? record->drift->offset : file_offset;
}

// As the module centres the window (login_flow.cpp, clock_offset): the
// drift holds only while the file's token is the one it was measured on.
bool TokenView::drift_observed() const {
    return type == pam_totp::TokenType::totp && record && record->drift && record->drift->file_offset == file_offset &&
           record->drift->file_confirmed == file_confirmed;
}

std::uint64_t TokenView::next_counter() const {
    return std::max(file_counter, record ? record->hotp_next.value_or(0) : 0);
}

// As the module refuses codes (login_flow.cpp): those of steps before the
// last accepted one's end, or before the end of the step whose code
// confirmed the enrollment.
std::time_t TokenView::used_until() const {
    if (type != pam_totp::TokenType::totp) {
        return 0;
    }
    return std::max(record ? record->used_until : 0, file_confirmed);
}

bool TokenView::unsettled() const {
    return record && (record->pending_until || record->pending_hotp || record->pending_recovery);
}

bool SecretReader::home_based() const {
    return pam_totp::template_uses_home(m_templ);
}

std::optional<std::string> SecretReader::central_dir() const {
    if (home_based() || m_templ.empty() || m_templ.front() != '/') {
        return std::nullopt;
    }
    const std::size_t slash = m_templ.rfind('/');
    const std::string_view file_part = std::string_view(m_templ).substr(slash + 1);
    const auto at = user_placeholder(file_part);
    if (!at || !literal(file_part.substr(0, *at)) || !literal(file_part.substr(*at + 2))) {
        return std::nullopt;  // no %u in the file name, or more than one placeholder
    }
    auto dir = literal(std::string_view(m_templ).substr(0, slash));
    if (!dir) {
        return std::nullopt;  // a placeholder in a directory name: one directory per account
    }
    return dir->empty() ? std::string("/") : *dir;
}

pam_totp::Result<std::vector<std::string>> SecretReader::central_names() const {
    const auto dir = central_dir();
    if (!dir) {
        return std::vector<std::string>();
    }
    const std::string_view file_part = std::string_view(m_templ).substr(m_templ.rfind('/') + 1);
    const std::size_t at = *user_placeholder(file_part);
    const std::string prefix = *literal(file_part.substr(0, at));
    const std::string suffix = *literal(file_part.substr(at + 2));
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir->c_str()), ::closedir);
    if (!d) {
        const int err = errno;
        if (err == ENOENT) {
            return std::vector<std::string>();  // nobody enrolled yet
        }
        return pam_totp::make_error(pam_totp::errc_for_errno(err),
                                    pam_totp::errno_message("cannot list the secret directory " + *dir, err) +
                                        " (check --secret-file against the PAM line's secret=)");
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* e = ::readdir(d.get())) {
        const std::string entry = e->d_name;
        if (entry.empty() || entry.front() == '.' || entry.size() < prefix.size() + suffix.size() ||
            !entry.starts_with(prefix) || !entry.ends_with(suffix)) {
            continue;
        }
        const std::string user = entry.substr(prefix.size(), entry.size() - prefix.size() - suffix.size());
        // The name must lead back to this very file, as the module builds the path.
        const auto path = pam_totp::expand_path_template(m_templ, user, "");
        if (path && path.value() == pam_totp::join_path(*dir, entry)) {
            names.push_back(user);
        }
    }
    if (errno != 0) {
        return pam_totp::errno_error("cannot list the secret directory " + *dir, errno);
    }
    std::sort(names.begin(), names.end());
    return names;
}

void SecretReader::read(AccountView& view, const std::optional<AccountEntry>& account) const {
    view.secret_problem.clear();
    view.secret_path.clear();
    // A central file named by the user name alone: the module reads it
    // without the account first, when only root controls it.
    std::optional<pam_totp::Result<pam_totp::SecureBuffer>> unlooked;
    if (!home_based() && pam_totp::template_uses_user(m_templ)) {
        auto path = pam_totp::expand_path_template(m_templ, view.user, "");
        if (!path) {
            view.secret = SecretStatus::error;
            view.secret_problem = "cannot build the secret file's path: " + path.error().message;
            return;
        }
        view.secret_path = path.value();
        auto text = pam_totp::safe_read_file(path.value(), root_controlled_rules());
        if (text || text.error().code == Errc::not_found) {
            adopt(view, text);
            return;
        }
        // Not root's alone (the user may own it): the module's other way,
        // through the account, decides.
        unlooked = std::move(text);
    }
    std::optional<AccountEntry> entry = account;
    if (!entry) {
        auto found = find_account(view.user);
        if (!found) {
            view.secret = SecretStatus::error;
            view.secret_problem = "cannot look the account up: " + found.error().message;
            return;
        }
        entry = std::move(found).value();
    }
    if (!entry) {
        if (unlooked) {
            adopt(view, *unlooked);  // the refusal the module logs for a name with no account
            return;
        }
        view.secret = SecretStatus::no_account;
        view.secret_problem = "the account database has no " + view.user + ", so the module finds no secret file";
        return;
    }
    auto path = pam_totp::expand_path_template(m_templ, entry->name, entry->home);
    if (!path) {
        view.secret = SecretStatus::error;
        view.secret_problem = "cannot build the secret file's path: " + path.error().message;
        return;
    }
    view.secret_path = path.value();
    // As the module (login_flow.cpp, read_via_account): a file in the home
    // is the user's, read with the user's identity; any other is central,
    // read as root in directories only root controls.
    const bool home_file = pam_totp::is_home_file(m_templ, path.value(), entry->home);
    const pam_totp::FileRules rules{.owner = entry->uid,
                                    .root_may_own = !home_file || entry->uid == 0,
                                    .max_size = pam_totp::max_file_size,
                                    .root_owned_dirs = !home_file};
    if (home_file) {
        adopt(view, pam_totp::read_file_as(entry->uid, entry->gid, path.value(), rules));
    } else {
        adopt(view, pam_totp::safe_read_file(path.value(), rules));
    }
}

std::vector<AccountEntry> all_accounts() {
    std::vector<AccountEntry> out;
    std::set<std::string> seen;
    ::setpwent();
    while (const struct passwd* pw = ::getpwent()) {
        if (pw->pw_name == nullptr || !seen.insert(pw->pw_name).second) {
            continue;  // a name a later source repeats: the first is the one getpwnam gives
        }
        out.push_back(AccountEntry{pw->pw_name, pw->pw_dir != nullptr ? pw->pw_dir : "", pw->pw_uid, pw->pw_gid});
    }
    ::endpwent();
    return out;
}

pam_totp::Result<std::optional<AccountEntry>> find_account(const std::string& name) {
    auto entry = pam_totp::PasswdEntry::by_name(name);
    if (!entry) {
        return std::move(entry).error();
    }
    if (!entry.value()) {
        return std::optional<AccountEntry>();
    }
    const struct passwd& pw = entry.value()->get();
    return std::optional<AccountEntry>(
        AccountEntry{entry.value()->name(), entry.value()->home(), pw.pw_uid, pw.pw_gid});
}

void read_state(AccountView& view, RecordSource& records) {
    auto record = records.account(view.user);
    if (!record) {
        view.state = StateStatus::error;
        view.state_problem = record.error().message;
    } else if (record.value()) {
        view.state = StateStatus::found;
        view.record = *record.value();
    } else {
        view.state = StateStatus::none;
    }
    for (TokenView& token : view.tokens) {
        auto r = records.token(token.id);
        if (!r) {
            token.problem = r.error().message;
        } else {
            token.record = r.value();
        }
    }
    if (view.secret != SecretStatus::found) {
        return;
    }
    // The used recovery codes are kept in the record of the token the
    // codes belong to (the file's first, or its recovery anchor's).
    const auto same = std::find_if(view.tokens.begin(), view.tokens.end(),
                                   [&view](const TokenView& t) { return t.id == view.recovery_id; });
    std::optional<pam_totp::TokenRecord> used;
    if (same != view.tokens.end() && same->problem.empty()) {
        used = same->record;
    } else {
        auto r = records.token(view.recovery_id);
        if (!r) {
            return;  // unknown: recovery_left stays empty
        }
        used = r.value();
    }
    view.recovery_left = pam_totp::recovery_codes_left(used.value_or(pam_totp::TokenRecord{}), view.recovery_hashes);
}

}  // namespace totp_admin
