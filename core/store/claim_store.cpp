#include "core/store/claim_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/files/path_template.h"
#include "core/store/state_format.h"
#include "core/util/hash.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {

// A longer name is hashed: "n-u-" + name (a growing state file's new file)
// must fit NAME_MAX.
constexpr std::size_t max_plain_name = 200;
// Rounds of "read the claims, lock, read them again" before giving up: each
// round that fails means another login created or changed a claim meanwhile.
constexpr int claim_rounds = 4;

using Claims = std::map<TokenId, std::optional<std::string>>;

// A name the module accepts (validate_user_name): nothing else may become a
// state's name.
Status check_account(std::string_view account) {
    if (Status st = validate_user_name(account); !st) {
        return make_error(Errc::invalid_argument, "state of an account: " + st.error().message);
    }
    return {};
}

Result<Claims> read_claims(StateBackend& backend, std::span<const TokenId> tokens) {
    Claims claims;
    for (const TokenId& id : tokens) {
        auto holder = backend.read_claim(id);
        if (!holder) {
            return std::move(holder).error();
        }
        claims[id] = std::move(holder).value();
    }
    return claims;
}

// One locked state of a transaction.
struct Held {
    std::string name;
    std::unique_ptr<HeldState> state_lock;
    AccountState state;
    std::string written;  // the text last read or written
};

class ClaimTransaction final : public StateTransaction {
  public:
    ClaimTransaction(StateBackend& backend, bool& resume_work, std::vector<Held> held, std::size_t own,
                     std::map<TokenId, std::size_t> holder, std::set<TokenId> unclaimed, bool fresh)
        : m_backend(backend),
          m_resume_work(resume_work),
          m_held(std::move(held)),
          m_own(own),
          m_holder(std::move(holder)),
          m_unclaimed(std::move(unclaimed)),
          m_fresh(fresh) {}

    ~ClaimTransaction() override {
        m_held.clear();
        m_backend.release_all();
    }
    ClaimTransaction(const ClaimTransaction&) = delete;
    ClaimTransaction& operator=(const ClaimTransaction&) = delete;
    ClaimTransaction(ClaimTransaction&&) = delete;
    ClaimTransaction& operator=(ClaimTransaction&&) = delete;

    AccountRecord& account() override { return m_held[m_own].state.record; }

    TokenRecord& token(const TokenId& id) override {
        const auto it = m_holder.find(id);
        // A token not given to begin() has no locked record elsewhere: it
        // goes in the account's own state, which this transaction holds.
        const std::size_t index = it == m_holder.end() ? m_own : it->second;
        return m_held[index].state.tokens[id];
    }

    [[nodiscard]] bool fresh() const override { return m_fresh; }

    // The order bounds what a process killed at any point (or a write
    // refused by a file-size limit) leaves behind: records first, then
    // their claims, so no claim is ever made for a record that was not
    // written; and a forgotten record's claim is dropped before the state
    // without it is written. So every claim names a state that holds (or
    // held until this moment) its record, and the claims of an account are
    // bounded by its records (max_tokens_per_state), however often a user
    // changes the key in the secret file. A record no claim names yet is
    // harmless: it is claimed by the next save, or pruned.
    Status save(Durability durability) override {
        m_resume_work = false;  // work done: a later begin() is new work
        drop_empty_unclaimed();
        std::vector<TokenId> in_use;
        for (const auto& [id, index] : m_holder) {
            in_use.push_back(id);
        }
        for (Held& held : m_held) {
            const std::vector<TokenId> forgotten = prune_token_records(held.state, in_use);
            for (const TokenId& id : forgotten) {
                // Not written without its record while the claim may stay:
                // a claim no record backs would never be removed.
                if (Status st = m_backend.drop_claim(id, held.name); !st) {
                    return st;
                }
            }
            std::string text = serialise_account_state(held.state);
            if (text != held.written) {
                if (Status st = held.state_lock->write(text, durability); !st) {
                    return st;
                }
                held.written = std::move(text);
            }
        }
        return claim_written_tokens();
    }

  private:
    // An empty record of a token nobody claimed is not written (a login
    // that charges nothing leaves no trace).
    void drop_empty_unclaimed() {
        AccountState& own = m_held[m_own].state;
        for (const TokenId& id : m_unclaimed) {
            const auto record = own.tokens.find(id);
            if (record != own.tokens.end() && record->second == TokenRecord{}) {
                own.tokens.erase(record);
            }
        }
    }

    // A token nobody had claimed gets this account's claim once its record
    // is written (the charge, after the secret file was read again under
    // the lock), and not before. Another account's login that claimed the
    // same secret meanwhile wins: this save fails (the answer is then not
    // checked), and the record written here is pruned in time.
    Status claim_written_tokens() {
        const AccountState& own = m_held[m_own].state;
        bool claimed = false;
        for (auto it = m_unclaimed.begin(); it != m_unclaimed.end();) {
            if (own.tokens.find(*it) == own.tokens.end()) {
                ++it;
                continue;
            }
            auto added = m_backend.add_claim(*it, m_held[m_own].name);
            if (!added) {
                return std::move(added).error();
            }
            if (!added.value()) {
                return make_error(Errc::conflict, m_backend.where(ClaimStore::claim_name(*it)) +
                                                      ": another account's login claimed the same secret at the "
                                                      "same moment");
            }
            claimed = true;
            it = m_unclaimed.erase(it);
        }
        return claimed ? m_backend.sync_claims() : Status{};
    }

    StateBackend& m_backend;
    bool& m_resume_work;       // ClaimStore's
    std::vector<Held> m_held;  // in name order
    std::size_t m_own;
    std::map<TokenId, std::size_t> m_holder;
    std::set<TokenId> m_unclaimed;  // claimed by the account's own state once written
    bool m_fresh;
};

enum class Round { locked, retry };

// Locks, in name order, the account's own state and every state holding
// one of its tokens' records. Round::retry (nothing held) when a claim
// names a state with no record (removed, or its first login died between
// claiming and writing): the claim is dropped, under that state's lock so
// that no login of its account writes a record meanwhile, and the token is
// claimed anew in the next round.
Result<Round> lock_holders(StateBackend& backend, const std::string& own, const Claims& claims,
                           std::vector<Held>& held) {
    std::set<std::string> names{own};
    for (const auto& [id, holder] : claims) {
        names.insert(holder.value_or(own));
    }
    for (const std::string& name : names) {
        auto state = backend.lock(name, name == own);
        if (state && (name == own || state.value()->text().has_value())) {
            held.push_back(Held{name, std::move(state).value(), AccountState{}, {}});
            continue;
        }
        if (!state && state.error().code != Errc::not_found) {
            return std::move(state).error();
        }
        held.clear();
        if (!state) {
            state = backend.lock(name, true);
            if (!state) {
                return std::move(state).error();
            }
        }
        for (const auto& [id, holder] : claims) {
            if (holder == name) {
                if (Status st = backend.drop_claim(id, name); !st) {
                    return st.error();
                }
            }
        }
        state.value().reset();
        backend.release_all();
        return Round::retry;
    }
    return Round::locked;
}

// Parses the locked states into the transaction.
Result<std::unique_ptr<StateTransaction>> transaction_of(StateBackend& backend, bool& resume_work,
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
        const std::optional<std::string>& text = h.state_lock->text();
        if (h.name == own) {
            own_index = i;
            fresh = !text.has_value();
        }
        if (text) {
            auto parsed = parse_account_state(*text);
            if (!parsed) {
                return make_error(Errc::format, backend.where(h.name) + ": " + parsed.error().message);
            }
            h.state = std::move(parsed).value();
            h.written = *text;
        } else {
            h.state.account = std::string(account);
        }
        if (h.name == own && h.state.account != account) {
            return make_error(Errc::unsafe, backend.where(h.name) + ": holds the state of another account");
        }
        for (const auto& [id, holder] : claims) {
            if (holder.value_or(own) == h.name) {
                holder_index[id] = i;
            }
        }
    }
    return std::unique_ptr<StateTransaction>(std::make_unique<ClaimTransaction>(
        backend, resume_work, std::move(held), own_index, std::move(holder_index), std::move(unclaimed), fresh));
}

// Ends a look however it returns (StateBackend::idle).
class IdleAfter {
  public:
    explicit IdleAfter(StateBackend& backend) : m_backend(backend) {}
    IdleAfter(const IdleAfter&) = delete;
    IdleAfter& operator=(const IdleAfter&) = delete;
    IdleAfter(IdleAfter&&) = delete;
    IdleAfter& operator=(IdleAfter&&) = delete;
    ~IdleAfter() { m_backend.idle(); }

  private:
    StateBackend& m_backend;
};

Result<std::optional<AccountState>> peek_state(StateBackend& backend, const std::string& name) {
    auto text = backend.peek(name);
    if (!text) {
        return std::move(text).error();
    }
    if (!text.value()) {
        return std::optional<AccountState>();
    }
    auto state = parse_account_state(*text.value());
    if (!state) {
        return make_error(Errc::format, backend.where(name) + ": " + state.error().message);
    }
    return std::optional<AccountState>(std::move(state).value());
}

}  // namespace

std::string ClaimStore::state_name(std::string_view account) {
    if (account.size() <= max_plain_name) {
        return "u-" + std::string(account);
    }
    static constexpr std::string_view label{"pam_totp account v1\0", 20};
    return "h-" + to_hex(sha256({bytes_of(label), bytes_of(account)}));
}

std::string ClaimStore::claim_name(const TokenId& id) {
    return "t-" + id.hex();
}

bool ClaimStore::is_state_name(std::string_view name) noexcept {
    if (name.starts_with("u-")) {
        return name.size() > 2 && name.size() <= 2 + max_plain_name && name.find('/') == std::string_view::npos;
    }
    return name.size() == 2 + 64 && name.starts_with("h-") && std::all_of(name.begin() + 2, name.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

Result<std::optional<AccountRecord>> ClaimStore::peek(std::string_view account) {
    if (Status st = check_account(account); !st) {
        return st.error();
    }
    m_backend->start_work();
    m_resume_work = false;
    const IdleAfter idle_after{*m_backend};
    auto state = peek_state(*m_backend, state_name(account));
    if (!state) {
        return std::move(state).error();
    }
    if (!state.value()) {
        return std::optional<AccountRecord>();
    }
    return std::optional<AccountRecord>(std::move(state.value()->record));
}

Result<std::optional<TokenRecord>> ClaimStore::peek_token(const TokenId& id) {
    m_backend->start_work();
    m_resume_work = false;
    const IdleAfter idle_after{*m_backend};
    auto holder = m_backend->read_claim(id);
    if (!holder) {
        return std::move(holder).error();
    }
    if (!holder.value()) {
        return std::optional<TokenRecord>();
    }
    auto state = peek_state(*m_backend, *holder.value());
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

Result<std::unique_ptr<StateTransaction>> ClaimStore::begin(std::string_view account, std::span<const TokenId> tokens) {
    if (Status st = check_account(account); !st) {
        return st.error();
    }
    if (!m_resume_work) {
        m_backend->start_work();
    }
    m_resume_work = true;  // until the transaction saves
    const std::string own = state_name(account);
    for (int round = 0; round < claim_rounds; ++round) {
        auto claims = read_claims(*m_backend, tokens);
        if (!claims) {
            return std::move(claims).error();
        }
        std::vector<Held> held;
        auto locked = lock_holders(*m_backend, own, claims.value(), held);
        if (!locked) {
            return std::move(locked).error();
        }
        if (locked.value() == Round::retry) {
            continue;
        }
        // Read again with the locks held: a claim made meanwhile by another
        // login (of another account sharing a token) means other states.
        auto again = read_claims(*m_backend, tokens);
        if (!again) {
            return std::move(again).error();
        }
        if (again.value() != claims.value()) {
            held.clear();
            m_backend->release_all();
            continue;
        }
        return transaction_of(*m_backend, m_resume_work, account, own, claims.value(), std::move(held));
    }
    return make_error(Errc::busy,
                      "the claims of " + std::string(account) + "'s tokens kept changing while this login read them");
}

Result<std::optional<LegacyState>> ClaimStore::legacy_state(std::string_view account, std::optional<uid_t> uid) {
    if (Status st = check_account(account); !st) {
        return st.error();
    }
    return m_backend->legacy_state(account, uid);
}

}  // namespace pam_totp
