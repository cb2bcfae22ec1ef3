#include "core/store/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <map>
#include <set>
#include <vector>

#include "core/files/kv_format.h"
#include "core/files/path_template.h"
#include "core/files/safe_file.h"
#include "core/store/slot_file.h"
#include "core/store/state_format.h"
#include "core/util/hash.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {

// A longer name is hashed: "n-u-" + name (a growing state's new file) must fit NAME_MAX.
constexpr std::size_t max_plain_name = 200;
// Rounds of "read the claims, lock, read them again" before giving up: each
// round that fails means another login created or changed a claim meanwhile.
constexpr int claim_rounds = 4;
constexpr std::chrono::milliseconds legacy_lock_wait{1000};

bool is_state_file_name(std::string_view name) noexcept {
    if (name.starts_with("u-")) {
        return name.size() > 2 && name.size() <= 2 + max_plain_name && name.find('/') == std::string_view::npos;
    }
    return name.size() == 2 + 64 && name.starts_with("h-") &&
           std::all_of(name.begin() + 2, name.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The state file a claim names; nullopt when there is no claim.
Result<std::optional<std::string>> read_claim(int dir_fd, const std::string& claim, const std::string& dir) {
    char buf[256];
    const ssize_t n = ::readlinkat(dir_fd, claim.c_str(), buf, sizeof buf);
    if (n < 0) {
        if (errno == ENOENT) {
            return std::optional<std::string>();
        }
        return errno_error(join_path(dir, claim), errno);
    }
    const std::string target(buf, static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) == sizeof buf || !is_state_file_name(target)) {
        return make_error(Errc::unsafe, join_path(dir, claim) + ": not a claim pam_totp wrote; remove it");
    }
    return std::optional<std::string>(target);
}

// One locked state file of a transaction.
struct Held {
    std::string name;
    SlotFile file;
    AccountState state;
    std::string written;  // the text last read or written
};

// The state name a claim names, when it names `holder`.
bool claim_names(int dir, const TokenId& id, const std::string& holder) {
    char buf[256];
    const ssize_t n = ::readlinkat(dir, FileStateStore::claim_name(id).c_str(), buf, sizeof buf);
    return n > 0 && static_cast<std::size_t>(n) == holder.size() && holder.compare(0, holder.size(), buf, holder.size()) == 0;
}

class FileTransaction final : public StateTransaction {
  public:
    FileTransaction(int dir, std::string dir_path, std::vector<Held> files, std::size_t own,
                    std::map<TokenId, std::size_t> holder, std::set<TokenId> unclaimed, bool fresh)
        : m_dir(dir),
          m_dir_path(std::move(dir_path)),
          m_files(std::move(files)),
          m_own(own),
          m_holder(std::move(holder)),
          m_unclaimed(std::move(unclaimed)),
          m_fresh(fresh) {}

    AccountRecord& account() override { return m_files[m_own].state.record; }

    TokenRecord& token(const TokenId& id) override {
        const auto it = m_holder.find(id);
        // A token not given to begin() has no locked record: use the account's
        // own file, which this transaction holds.
        const std::size_t index = it == m_holder.end() ? m_own : it->second;
        return m_files[index].state.tokens[id];
    }

    [[nodiscard]] bool fresh() const override { return m_fresh; }

    Status save(Durability durability) override {
        if (Status st = claim_written_tokens(); !st) {
            return st;
        }
        std::vector<TokenId> in_use;
        for (const auto& [id, index] : m_holder) {
            in_use.push_back(id);
        }
        for (Held& held : m_files) {
            const std::vector<TokenId> forgotten = prune_token_records(held.state, in_use);
            std::string text = serialise_account_state(held.state);
            if (text != held.written) {
                if (Status st = held.file.write(text, durability); !st) {
                    return st;
                }
                held.written = std::move(text);
            }
            // A forgotten record's claim goes too (after the write: a claim
            // naming a state without the record is only an empty record).
            for (const TokenId& id : forgotten) {
                if (claim_names(m_dir, id, held.name)) {
                    ::unlinkat(m_dir, FileStateStore::claim_name(id).c_str(), 0);
                }
            }
        }
        return {};
    }

  private:
    // A token nobody had claimed gets this account's claim when its record
    // is first written (the charge, after the secret file was read again
    // under the lock), and not before: a login that charges nothing leaves
    // no claim. An empty record needs none and is not written.
    Status claim_written_tokens() {
        AccountState& own = m_files[m_own].state;
        bool claimed = false;
        for (auto it = m_unclaimed.begin(); it != m_unclaimed.end();) {
            const auto record = own.tokens.find(*it);
            if (record == own.tokens.end() || record->second == TokenRecord{}) {
                if (record != own.tokens.end()) {
                    own.tokens.erase(record);
                }
                ++it;
                continue;
            }
            const std::string claim = FileStateStore::claim_name(*it);
            if (::symlinkat(m_files[m_own].name.c_str(), m_dir, claim.c_str()) != 0) {
                if (errno == EEXIST) {
                    return make_error(Errc::busy, join_path(m_dir_path, claim) +
                                                      ": another account's login claimed the same secret at the "
                                                      "same moment; try again");
                }
                return errno_error(join_path(m_dir_path, claim), errno);
            }
            claimed = true;
            it = m_unclaimed.erase(it);
        }
        // The claim must outlive a crash that the record survives.
        if (claimed && ::fsync(m_dir) != 0) {
            return errno_error(m_dir_path + ": directory fsync after claiming a token", errno);
        }
        return {};
    }

    int m_dir;  // state_dir, held open by the store, which outlives the transaction
    std::string m_dir_path;
    std::vector<Held> m_files;  // in name order
    std::size_t m_own;
    std::map<TokenId, std::size_t> m_holder;
    std::set<TokenId> m_unclaimed;  // claimed by the account's own file once written
    bool m_fresh;
};

// The claims of `tokens`: which file holds each token's record (nullopt:
// none yet).
Result<std::map<TokenId, std::optional<std::string>>> read_claims(int dir_fd, std::span<const TokenId> tokens,
                                                                   const std::string& dir) {
    std::map<TokenId, std::optional<std::string>> claims;
    for (const TokenId& id : tokens) {
        auto claim = read_claim(dir_fd, FileStateStore::claim_name(id), dir);
        if (!claim) {
            return std::move(claim).error();
        }
        claims[id] = std::move(claim).value();
    }
    return claims;
}

}  // namespace

FileStateStore::FileStateStore(std::string state_dir, uid_t owner, std::chrono::milliseconds lock_wait)
    : m_dir(std::move(state_dir)), m_owner(owner), m_lock_wait(lock_wait) {}

namespace {

// A name the module accepts (validate_user_name): nothing else may become a
// file name in state_dir.
Status check_account(std::string_view account) {
    if (Status st = validate_user_name(account); !st) {
        return make_error(Errc::invalid_argument, "state of an account: " + st.error().message);
    }
    return {};
}

}  // namespace

std::string FileStateStore::account_file_name(std::string_view account) {
    if (account.size() <= max_plain_name) {
        return "u-" + std::string(account);
    }
    static constexpr std::string_view label{"pam_totp account v1\0", 20};
    return "h-" + to_hex(sha256({bytes_of(label), bytes_of(account)}));
}

std::string FileStateStore::claim_name(const TokenId& id) {
    return "t-" + id.hex();
}

Result<int> FileStateStore::open_dir(bool create) {
    if (m_dir_fd.valid()) {
        return m_dir_fd.get();
    }
    auto parts = split_path(m_dir);
    if (!parts) {
        return make_error(Errc::invalid_argument, "state_dir " + m_dir + ": " + parts.error().message);
    }
    const auto& [parent, base] = parts.value();
    // Every directory above must be one only root (or the owner) controls:
    // whoever could rename state_dir away could give the module an empty
    // one, and with it used codes and spent guesses back.
    auto parent_fd = open_checked_directory(m_dir, parent, m_owner);
    if (!parent_fd) {
        return std::move(parent_fd).error();
    }
    if (create && ::mkdirat(parent_fd.value().get(), base.c_str(), 0700) != 0 && errno != EEXIST) {
        return errno_error("cannot create state directory " + m_dir, errno);
    }
    UniqueFd fd(::openat(parent_fd.value().get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR) {
            return make_error(Errc::unsafe, m_dir + ": state directory is not a directory (or is a symbolic link)");
        }
        return errno_error("state directory " + m_dir, err);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return errno_error(m_dir, errno);
    }
    if (Status ok = check_directory(st, m_dir + ": state directory", DirRules{.owner = m_owner, .private_dir = true});
        !ok) {
        return ok.error();
    }
    // u-Alice and u-alice are two accounts' states.
    if (Status ok = check_case_sensitive(fd.get(), m_dir + ": state directory"); !ok) {
        return ok.error();
    }
    m_dir_fd = std::move(fd);
    return m_dir_fd.get();
}

Result<std::optional<AccountState>> FileStateStore::peek_file(int dir_fd, const std::string& name) const {
    auto text = SlotFile::peek(dir_fd, name, join_path(m_dir, name), m_owner);
    if (!text) {
        return std::move(text).error();
    }
    if (!text.value()) {
        return std::optional<AccountState>();
    }
    auto state = parse_account_state(*text.value());
    if (!state) {
        return make_error(Errc::format, join_path(m_dir, name) + ": " + state.error().message);
    }
    return std::optional<AccountState>(std::move(state).value());
}

Result<std::optional<AccountRecord>> FileStateStore::peek(std::string_view account) {
    if (Status st = check_account(account); !st) {
        return st.error();
    }
    auto dir = open_dir(false);
    if (!dir) {
        if (dir.error().code == Errc::not_found) {
            return std::optional<AccountRecord>();
        }
        return std::move(dir).error();
    }
    auto state = peek_file(dir.value(), account_file_name(account));
    if (!state) {
        return std::move(state).error();
    }
    if (!state.value()) {
        return std::optional<AccountRecord>();
    }
    return std::optional<AccountRecord>(std::move(state.value()->record));
}

Result<std::optional<TokenRecord>> FileStateStore::peek_token(const TokenId& id) {
    auto dir = open_dir(false);
    if (!dir) {
        if (dir.error().code == Errc::not_found) {
            return std::optional<TokenRecord>();
        }
        return std::move(dir).error();
    }
    auto holder = read_claim(dir.value(), claim_name(id), m_dir);
    if (!holder) {
        return std::move(holder).error();
    }
    if (!holder.value()) {
        return std::optional<TokenRecord>();
    }
    auto state = peek_file(dir.value(), *holder.value());
    if (!state) {
        return std::move(state).error();
    }
    if (!state.value()) {
        return std::optional<TokenRecord>();
    }
    const auto it = state.value()->tokens.find(id);
    if (it == state.value()->tokens.end()) {
        return std::optional<TokenRecord>();
    }
    return std::optional<TokenRecord>(it->second);
}

namespace {

using Claims = std::map<TokenId, std::optional<std::string>>;

// What one round of begin() found.
enum class Round { locked, retry };

// Locks, in name order, the account's own file and every file holding one
// of its tokens' records. Round::retry (nothing held) when a claim names a
// file that is gone: the claim is removed, under the account's own lock,
// and the token is claimed anew in the next round.
Result<Round> lock_holders(int dir, const std::string& state_dir, const std::string& own, const Claims& claims,
                           uid_t owner, std::chrono::milliseconds wait, std::vector<Held>& held) {
    std::set<std::string> names{own};
    for (const auto& [id, holder] : claims) {
        names.insert(holder.value_or(own));
    }
    for (const std::string& name : names) {
        auto file = SlotFile::open_locked(dir, name, join_path(state_dir, name), owner, wait, name == own);
        if (file && (name == own || file.value().text().has_value())) {
            held.push_back(Held{name, std::move(file).value(), AccountState{}, {}});
            continue;
        }
        if (file) {
            // Another account's state that was never written (its first
            // login died between claiming and writing): nothing to lose.
            for (const auto& [id, holder] : claims) {
                if (holder == name && claim_names(dir, id, name)) {
                    ::unlinkat(dir, FileStateStore::claim_name(id).c_str(), 0);
                }
            }
            held.clear();
            return Round::retry;
        }
        if (file.error().code != Errc::not_found) {
            return std::move(file).error();
        }
        // A claim whose state was removed (by hand) took its records with it.
        held.clear();
        auto own_lock = SlotFile::open_locked(dir, own, join_path(state_dir, own), owner, wait, true);
        if (!own_lock) {
            return std::move(own_lock).error();
        }
        for (const auto& [id, holder] : claims) {
            if (holder && *holder != own && ::faccessat(dir, holder->c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
                ::unlinkat(dir, FileStateStore::claim_name(id).c_str(), 0);
            }
        }
        return Round::retry;
    }
    return Round::locked;
}

// Parses the locked files into the transaction.
Result<std::unique_ptr<StateTransaction>> transaction_of(int dir, const std::string& state_dir,
                                                         std::string_view account, const std::string& own,
                                                         const Claims& claims, std::vector<Held> held) {
    std::map<TokenId, std::size_t> holder_index;
    std::set<TokenId> unclaimed;
    for (const auto& [id, holder] : claims) {
        if (!holder) {
            unclaimed.insert(id);
        }
    }
    std::size_t own_index = 0;
    bool fresh = false;
    for (std::size_t i = 0; i < held.size(); ++i) {
        Held& h = held[i];
        const std::optional<std::string>& text = h.file.text();
        if (h.name == own) {
            own_index = i;
            fresh = !text.has_value();
        }
        if (text) {
            auto parsed = parse_account_state(*text);
            if (!parsed) {
                return make_error(Errc::format, join_path(state_dir, h.name) + ": " + parsed.error().message);
            }
            h.state = std::move(parsed).value();
            h.written = *text;
        } else {
            h.state.account = std::string(account);
        }
        if (h.name == own && h.state.account != account) {
            return make_error(Errc::unsafe, join_path(state_dir, h.name) + ": holds the state of another account");
        }
        for (const auto& [id, holder] : claims) {
            if (holder.value_or(own) == h.name) {
                holder_index[id] = i;
            }
        }
    }
    return std::unique_ptr<StateTransaction>(std::make_unique<FileTransaction>(
        dir, state_dir, std::move(held), own_index, std::move(holder_index), std::move(unclaimed), fresh));
}

}  // namespace

Result<std::unique_ptr<StateTransaction>> FileStateStore::begin(std::string_view account,
                                                                std::span<const TokenId> tokens) {
    if (Status st = check_account(account); !st) {
        return st.error();
    }
    auto dir_fd = open_dir(true);
    if (!dir_fd) {
        return std::move(dir_fd).error();
    }
    const int dir = dir_fd.value();
    const std::string own = account_file_name(account);
    for (int round = 0; round < claim_rounds; ++round) {
        auto claims = read_claims(dir, tokens, m_dir);
        if (!claims) {
            return std::move(claims).error();
        }
        std::vector<Held> held;
        auto locked = lock_holders(dir, m_dir, own, claims.value(), m_owner, m_lock_wait, held);
        if (!locked) {
            return std::move(locked).error();
        }
        if (locked.value() == Round::retry) {
            continue;
        }
        // Read again with the locks held: a claim made meanwhile by another
        // login (of another account sharing a token) means other files.
        auto again = read_claims(dir, tokens, m_dir);
        if (!again) {
            return std::move(again).error();
        }
        if (again.value() != claims.value()) {
            continue;
        }
        return transaction_of(dir, m_dir, account, own, claims.value(), std::move(held));
    }
    return make_error(Errc::busy, m_dir + ": the claims of " + std::string(account) +
                                      "'s tokens kept changing while this login read them");
}

Result<std::optional<LegacyState>> FileStateStore::legacy_state(std::string_view account, std::optional<uid_t> uid) {
    if (Status st = check_account(account); !st) {
        return st.error();
    }
    auto dir = open_dir(false);
    if (!dir) {
        if (dir.error().code == Errc::not_found) {
            return std::optional<LegacyState>();
        }
        return std::move(dir).error();
    }
    std::vector<std::string> keys{"user-" + std::string(account)};
    if (uid) {
        keys.push_back(std::to_string(*uid));
    }
    for (const std::string& key : keys) {
        const std::string name = key + ".state";
        if (name.size() > NAME_MAX) {
            continue;  // a name that long could not have had such a file
        }
        const std::string path = join_path(m_dir, name);
        // pam_totp 0.1 (still loaded in a process started before the
        // upgrade) writes it under KEY.lock: read it the same way.
        const UniqueFd lock(::openat(dir.value(), (key + ".lock").c_str(),
                                     O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (lock.valid()) {
            if (Status locked = lock_exclusive(lock.get(), legacy_lock_wait, path); !locked) {
                return locked.error();
            }
        }
        auto fd = safe_open_read_at(dir.value(), name, path,
                                    FileRules{.owner = m_owner, .root_may_own = false, .max_size = max_file_size});
        if (!fd) {
            if (fd.error().code == Errc::not_found) {
                continue;
            }
            return std::move(fd).error();
        }
        auto text = read_bounded(fd.value().get(), max_file_size);
        if (!text) {
            return make_error(text.error().code, path + ": " + text.error().message);
        }
        auto parsed = parse_legacy_state(text.value().view());
        if (!parsed) {
            return make_error(Errc::format, path + ": " + parsed.error().message);
        }
        return std::optional<LegacyState>(std::move(parsed).value());
    }
    return std::optional<LegacyState>();
}

}  // namespace pam_totp
