// The login flow (core/login/login_flow.cpp) with a scripted LoginIo and an
// in-memory StateStore: the order of charge, check and settling, what a
// killed login leaves, the secret file read again under the lock, one
// replay record per secret, forward_pass defer, the state of pam_totp 0.1,
// how the secret file is found, and tokens (several per file, HOTP with its
// look-ahead, drift, an HOTP attempt that died, recovery codes after the
// first token is removed); what no PAM-level test reaches directly.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cmocka.hpp"
#include "core/files/secret_file.h"
#include "core/login/login_flow.h"
#include "core/login/module_options.h"
#include "core/otp/hotp.h"
#include "core/otp/recovery.h"
#include "core/otp/token.h"
#include "core/otp/totp.h"
#include "vectors.h"

namespace {

using pam_totp::AccountRecord;
using pam_totp::Durability;
using pam_totp::Errc;
using pam_totp::LegacyState;
using pam_totp::LoginOutcome;
using pam_totp::Result;
using pam_totp::SecureBuffer;
using pam_totp::Status;
using pam_totp::TokenId;
using pam_totp::TokenRecord;

constexpr std::time_t now_t = 1800000000;  // 60000000 x 30: a 30 s (and 15 s) boundary

// The state interface in memory. Each transaction works on copies and
// writes them back on save, as a store would; a save can be made to fail,
// or (lose_relaxed) to be lost, as when the process is killed right after
// the durable charge. Every save is kept for the tests to look at.
class MemoryStore final : public pam_totp::StateStore {
  public:
    struct Save {
        Durability durability;
        std::string account;
        AccountRecord record;
        std::map<TokenId, TokenRecord> tokens;
    };

    class Tx final : public pam_totp::StateTransaction {
      public:
        Tx(MemoryStore& store, std::string account, std::span<const TokenId> ids)
            : m_store(store), m_account(std::move(account)) {
            const auto it = store.accounts.find(m_account);
            m_fresh = it == store.accounts.end();
            if (!m_fresh) {
                m_record = it->second;
            }
            for (const TokenId& id : ids) {
                const auto t = store.tokens.find(id);
                m_tokens[id] = t == store.tokens.end() ? TokenRecord{} : t->second;
            }
        }
        AccountRecord& account() override { return m_record; }
        TokenRecord& token(const TokenId& id) override { return m_tokens[id]; }
        [[nodiscard]] bool fresh() const override { return m_fresh; }
        Status save(Durability durability) override {
            m_store.saves.push_back(Save{durability, m_account, m_record, m_tokens});
            const bool durable = durability == Durability::durable;
            if (durable && m_store.conflicts > 0) {
                // As ClaimStore when another account's login claimed the
                // shared secret first: the account's own record is written,
                // the token's is not.
                --m_store.conflicts;
                m_store.accounts[m_account] = m_record;
                if (m_store.conflict_writes_tokens) {
                    // ClaimStore writes the states it holds before it claims:
                    // records of the other tokens carry the charge too.
                    for (const auto& [id, record] : m_tokens) {
                        m_store.tokens[id] = record;
                    }
                }
                return pam_totp::make_error(Errc::conflict, "claim: claimed by another account (injected)");
            }
            if ((durable && m_store.fail_durable) || (!durable && m_store.fail_relaxed)) {
                return pam_totp::make_error(Errc::io, "state: write: File too large (injected)");
            }
            if (!durable && m_store.lose_relaxed) {
                return {};  // the process "died": nothing after the charge reaches the store
            }
            m_store.accounts[m_account] = m_record;
            for (const auto& [id, record] : m_tokens) {
                m_store.tokens[id] = record;
            }
            return {};
        }

      private:
        MemoryStore& m_store;
        std::string m_account;
        bool m_fresh = true;
        AccountRecord m_record;
        std::map<TokenId, TokenRecord> m_tokens;
    };

    Result<std::optional<AccountRecord>> peek(std::string_view account) override {
        ++peeks;
        if (fail_peek) {
            return pam_totp::make_error(*fail_peek, "state: injected failure");
        }
        const auto it = accounts.find(std::string(account));
        return it == accounts.end() ? std::optional<AccountRecord>() : std::optional<AccountRecord>(it->second);
    }
    Result<std::optional<TokenRecord>> peek_token(const TokenId& id) override {
        const auto it = tokens.find(id);
        return it == tokens.end() ? std::optional<TokenRecord>() : std::optional<TokenRecord>(it->second);
    }
    Result<std::unique_ptr<pam_totp::StateTransaction>> begin(std::string_view account,
                                                              std::span<const TokenId> ids) override {
        begun.emplace_back(account);
        if (fail_begin) {
            return pam_totp::make_error(*fail_begin, "state: injected failure");
        }
        return std::unique_ptr<pam_totp::StateTransaction>(std::make_unique<Tx>(*this, std::string(account), ids));
    }
    Result<std::optional<LegacyState>> legacy_state(std::string_view account, std::optional<uid_t> uid) override {
        legacy_asked.emplace_back(account);
        if (const auto it = legacy_by_name.find(std::string(account)); it != legacy_by_name.end()) {
            return std::optional<LegacyState>(it->second);
        }
        if (uid) {
            if (const auto it = legacy_by_uid.find(*uid); it != legacy_by_uid.end()) {
                return std::optional<LegacyState>(it->second);
            }
        }
        return std::optional<LegacyState>();
    }

    // The saves of one kind.
    [[nodiscard]] std::size_t count(Durability d) const {
        return static_cast<std::size_t>(
            std::count_if(saves.begin(), saves.end(), [d](const Save& s) { return s.durability == d; }));
    }

    std::map<std::string, AccountRecord> accounts;
    std::map<TokenId, TokenRecord> tokens;
    std::map<std::string, LegacyState> legacy_by_name;
    std::map<uid_t, LegacyState> legacy_by_uid;
    std::vector<Save> saves;
    std::vector<std::string> begun;
    std::vector<std::string> legacy_asked;
    bool fail_durable = false;
    bool fail_relaxed = false;
    int conflicts = 0;                    // durable saves that lose a claim race
    bool conflict_writes_tokens = false;  // and the token records were written before the claim failed
    bool lose_relaxed = false;
    std::optional<Errc> fail_begin;
    std::optional<Errc> fail_peek;
    int peeks = 0;
};

class ScriptedIo final : public pam_totp::LoginIo {
  public:
    Result<SecureBuffer> ask(std::string_view prompt, bool /*echo*/) override {
        ++prompts;
        prompts_seen.emplace_back(prompt);
        if (answers.empty()) {
            return pam_totp::make_error(Errc::io, "no answer");
        }
        SecureBuffer a(std::string_view(answers.front()));
        answers.pop_front();
        return a;
    }
    void tell(std::string_view message, bool /*is_error*/) override { told.emplace_back(message); }
    void log(pam_totp::LogLevel level, std::string_view message) override {
        logs.emplace_back(message);
        levels.push_back(level);
    }
    std::optional<std::string> user() override { return user_name; }
    Result<std::optional<pam_totp::Account>> account() override {
        ++lookups;
        if (lookup_fails) {
            return pam_totp::make_error(Errc::io, "getpwnam_r: Connection refused");
        }
        return std::optional<pam_totp::Account>(acct);
    }
    // The n-th read (from 0) returns versions[n] (the last one once they run
    // out; an empty text is a missing file) when versions are set; else,
    // with `files` empty, every path holds secret_text; otherwise only the
    // listed ones, and a file not `root_controlled` fails the rules a
    // root-controlled file must pass (as a user-owned one would).
    Result<SecureBuffer> read_secret(const std::string& path, const pam_totp::FileRules& rules, bool as_user) override {
        const std::size_t n = reads.size();
        reads.push_back(Read{path, rules, as_user});
        if (fail_next_read) {
            const Errc code = *fail_next_read;
            fail_next_read.reset();
            return pam_totp::make_error(code, path + ": injected failure");
        }
        if (!versions.empty()) {
            const std::string& text = versions[std::min(n, versions.size() - 1)];
            if (text.empty()) {
                return pam_totp::make_error(Errc::not_found, path + ": does not exist");
            }
            return SecureBuffer(std::string_view(text));
        }
        if (files.empty()) {
            return SecureBuffer(std::string_view(secret_text));
        }
        const auto it = files.find(path);
        if (it == files.end()) {
            return pam_totp::make_error(Errc::not_found, path + ": does not exist");
        }
        if (rules.owner == 0 && !it->second.root_controlled) {
            return pam_totp::make_error(Errc::unsafe, path + ": owned by uid 1000, expected uid 0");
        }
        return SecureBuffer(std::string_view(it->second.text));
    }
    std::optional<SecureBuffer> authtok() override {
        return pam_authtok ? std::optional<SecureBuffer>(SecureBuffer(std::string_view(*pam_authtok))) : std::nullopt;
    }
    Status set_authtok(const SecureBuffer& value) override {
        pam_authtok = std::string(value.view());
        return {};
    }
    Status keep_deferred_code(const SecureBuffer& code) override {
        kept = std::string(code.view());
        return {};
    }
    std::optional<SecureBuffer> take_deferred_code() override {
        if (!kept) {
            return std::nullopt;
        }
        SecureBuffer code{std::string_view(*kept)};
        kept.reset();
        return code;
    }
    pam_totp::LoginContext context() override { return {"sshd", "192.0.2.1", "ssh"}; }
    std::time_t now() override { return clock; }

    [[nodiscard]] bool logged(std::string_view text) const {
        return std::any_of(logs.begin(), logs.end(), [text](const std::string& l) { return l.find(text) != l.npos; });
    }
    // Whether a line holding `text` was logged at `level`.
    [[nodiscard]] bool logged_at(pam_totp::LogLevel level, std::string_view text) const {
        for (std::size_t i = 0; i < logs.size(); ++i) {
            if (levels[i] == level && logs[i].find(text) != std::string::npos) {
                return true;
            }
        }
        return false;
    }
    [[nodiscard]] bool was_told(std::string_view text) const {
        return std::any_of(told.begin(), told.end(), [text](const std::string& t) { return t.find(text) != t.npos; });
    }

    struct File {
        std::string text;
        bool root_controlled = true;
    };
    struct Read {
        std::string path;
        pam_totp::FileRules rules;
        bool as_user;
    };
    std::optional<std::string> user_name = "alice";
    pam_totp::Account acct{"alice", "/home/alice", 1000, 1000};
    std::string secret_text;
    std::vector<std::string> versions;
    std::map<std::string, File> files;
    std::vector<Read> reads;
    int lookups = 0;
    bool lookup_fails = false;
    std::optional<Errc> fail_next_read;
    std::deque<std::string> answers;
    std::vector<std::string> told;
    std::vector<std::string> logs;
    std::vector<pam_totp::LogLevel> levels;  // of each of logs
    std::vector<std::string> prompts_seen;
    int prompts = 0;
    std::time_t clock = now_t;
    std::optional<std::string> pam_authtok;  // PAM_AUTHTOK, shared by the lines of one stack
    std::optional<std::string> kept;         // the pam data a defer line keeps
};

// A recovery code, its canonical form and its hash.
struct Recovery {
    std::string printed;
    std::string hash;
};

Recovery new_recovery_code() {
    auto code = pam_totp::generate_recovery_code();
    Recovery r;
    r.printed = std::string(code.value().view());
    r.hash = pam_totp::hash_recovery_code(pam_totp::normalise_recovery_code(r.printed).value()).value();
    return r;
}

struct Fixture {
    pam_totp::SecretFile file;
    std::vector<Recovery> recovery;
};

// One TOTP token named "default", added at enrollment: a file that is
// written as format 1.
Fixture make_secret(std::size_t recovery_codes = 0) {
    Fixture f;
    pam_totp::TokenEntry token;
    token.name = std::string(pam_totp::default_token_name);
    token.key = SecureBuffer(std::string_view("12345678901234567890"));
    token.added = now_t - 100;
    f.file.tokens.push_back(std::move(token));
    f.file.enrolled = now_t - 100;
    f.file.enrollment_id = "0123456789abcdef0123456789abcdef";
    for (std::size_t i = 0; i < recovery_codes; ++i) {
        f.recovery.push_back(new_recovery_code());
        f.file.recovery_hashes.push_back(f.recovery.back().hash);
    }
    return f;
}

std::string text_of(const pam_totp::SecretFile& file) {
    return std::string(pam_totp::serialise_secret_file(file).value().view());
}

// The code of the file's first token at `t`.
std::string code_at(const pam_totp::SecretFile& file, std::time_t t) {
    const pam_totp::TokenEntry& token = file.tokens.front();
    return std::string(pam_totp::totp_generate(token.key, token.params, t).value().view());
}

// A copy (SecretFile holds a SecureBuffer, which does not copy implicitly).
Fixture copy_of(const Fixture& f) {
    Fixture c;
    c.file = pam_totp::parse_secret_file(text_of(f.file)).value();
    c.recovery = f.recovery;
    return c;
}

// The replay record's key of the file's first token.
TokenId token_of(const pam_totp::SecretFile& file) {
    return pam_totp::token_id_of(file.tokens.front().key);
}

LoginOutcome login(ScriptedIo& io, MemoryStore& store, const pam_totp::ModuleOptions& opts = {}) {
    return pam_totp::run_login(io, opts, store);
}

pam_totp::ModuleOptions central_options() {
    pam_totp::ModuleOptions opts;
    opts.secret = "/etc/pam_totp/%u";
    return opts;
}

// --- charged before it is checked -------------------------------------------------------

// The attempt is on disk (durably) before the answer is looked at: the
// first save is durable, holds the charge and the pending window and no
// outcome yet; the second (relaxed) settles it.
void attempt_is_charged_durably_before_it_is_checked(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::success);
    const TokenId t = token_of(f.file);
    assert_int_equal(store.saves.size(), 2);
    const MemoryStore::Save& charge = store.saves[0];
    assert_true(charge.durability == Durability::durable);
    assert_true(charge.record.charge == now_t);
    assert_true(charge.tokens.at(t).pending_until == pam_totp::window_end(now_t, 30, 1));
    assert_int_equal(charge.tokens.at(t).used_until, 0);  // nothing accepted yet
    assert_false(charge.record.last_login.has_value());
    const MemoryStore::Save& settled = store.saves[1];
    assert_true(settled.durability == Durability::relaxed);
    assert_false(settled.record.charge.has_value());
    assert_false(settled.tokens.at(t).pending_until.has_value());
    assert_int_equal(settled.tokens.at(t).used_until, pam_totp::step_end(pam_totp::time_step(now_t, 30), 30));
    assert_true(settled.record.last_login.has_value());
    assert_true(settled.record.last_login->when == now_t);
    assert_string_equal(settled.record.last_login->service.c_str(), "sshd");
    assert_string_equal(settled.record.last_login->rhost.c_str(), "192.0.2.1");
    // A wrong code: charged, then counted.
    ScriptedIo wrong;
    wrong.secret_text = io.secret_text;
    wrong.answers = {"000000"};
    assert_int_equal(login(wrong, store), LoginOutcome::denied);
    assert_true(store.saves[2].durability == Durability::durable);
    assert_true(store.saves[2].record.charge.has_value());
    assert_int_equal(store.saves[2].record.budget.since_success, 0);
    assert_int_equal(store.accounts["alice"].budget.since_success, 1);
    assert_false(store.accounts["alice"].charge.has_value());
    // A recovery code: its tag is pending in the charge.
    const Fixture r = make_secret(1);
    ScriptedIo rec;
    rec.secret_text = text_of(r.file);
    rec.answers = {r.recovery[0].printed};
    const std::size_t before = store.saves.size();
    assert_int_equal(login(rec, store), LoginOutcome::success);
    const auto& pending = store.saves[before].tokens.at(t).pending_recovery;
    assert_true(pending.has_value());
    assert_true(*pending == pam_totp::recovery_tag(r.file.recovery_key(),
                                                   pam_totp::normalise_recovery_code(r.recovery[0].printed).value()));
}

// When the charge cannot be written (a full disk, a file-size limit the
// caller set), the answer is never checked: even the right code is denied,
// nothing is accepted, nothing counted.
void answer_is_never_checked_when_the_charge_fails(void** /*state*/) {
    const Fixture f = make_secret(1);
    MemoryStore store;
    store.fail_durable = true;
    for (const std::string& answer : {code_at(f.file, now_t), f.recovery[0].printed, std::string("000000")}) {
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.answers = {answer};
        assert_int_equal(login(io, store), LoginOutcome::denied);
        assert_true(io.logged("the answer was not checked"));
        assert_false(io.was_told("recovery code"));
    }
    assert_true(store.accounts.empty());
    assert_true(store.tokens.empty());
    assert_int_equal(store.count(Durability::relaxed), 0);  // never settled: never checked
    // Once the disk is back, the same right code and recovery code work.
    store.fail_durable = false;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::success);
    ScriptedIo rec;
    rec.secret_text = io.secret_text;
    rec.answers = {f.recovery[0].printed};
    assert_int_equal(login(rec, store), LoginOutcome::success);
}

// A settling that cannot be written is only logged: the durable charge
// stands for it (the next login counts it).
void failed_settling_leaves_the_charge(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    store.fail_relaxed = true;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {"000000"};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_true(io.logged("it stays charged"));
    assert_true(store.accounts["alice"].charge.has_value());
}

// --- a login killed between charge and settling --------------------------------------------

// The charge of a login that died is counted as a wrong code by the next
// one, and its pending window blocks every code it could have matched,
// the right one included (it may have been right and accepted).
void stale_charge_is_counted_and_its_window_blocks_the_code(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    store.lose_relaxed = true;
    const std::string code = code_at(f.file, now_t);
    ScriptedIo killed;
    killed.secret_text = text_of(f.file);
    killed.answers = {code};
    (void)login(killed, store);  // charged, checked, and then "killed" before the settling
    assert_true(store.accounts["alice"].charge == now_t);
    store.lose_relaxed = false;

    ScriptedIo next;
    next.secret_text = killed.secret_text;
    next.clock = now_t + 20;  // the same step
    next.answers = {code};
    assert_int_equal(login(next, store), LoginOutcome::denied);
    assert_true(next.logged("cut short"));
    const AccountRecord& a = store.accounts["alice"];
    assert_false(a.charge.has_value());
    assert_int_equal(a.budget.since_success, 2);  // the dead attempt and this replay
    assert_true(std::find(a.budget.recent.begin(), a.budget.recent.end(), now_t) != a.budget.recent.end());
    const TokenRecord& t = store.tokens[token_of(f.file)];
    assert_false(t.pending_until.has_value());
    assert_true(t.used_until >= pam_totp::window_end(now_t, 30, 1));
    // The next step's code is blocked too (the window reached it); the one
    // after that works.
    ScriptedIo later;
    later.secret_text = killed.secret_text;
    later.clock = now_t + 30;
    later.answers = {code_at(f.file, now_t + 30)};
    assert_int_equal(login(later, store), LoginOutcome::denied);
    ScriptedIo after;
    after.secret_text = killed.secret_text;
    after.clock = now_t + 60;
    after.answers = {code_at(f.file, now_t + 60)};
    assert_int_equal(login(after, store), LoginOutcome::success);
}

// A dead attempt with a recovery code: that code is used.
void stale_recovery_attempt_uses_the_code(void** /*state*/) {
    const Fixture f = make_secret(2);
    MemoryStore store;
    store.lose_relaxed = true;
    ScriptedIo killed;
    killed.secret_text = text_of(f.file);
    killed.answers = {f.recovery[0].printed};
    (void)login(killed, store);
    store.lose_relaxed = false;
    ScriptedIo next;
    next.secret_text = killed.secret_text;
    next.answers = {f.recovery[0].printed};
    assert_int_equal(login(next, store), LoginOutcome::denied);
    ScriptedIo other;
    other.secret_text = killed.secret_text;
    other.answers = {f.recovery[1].printed};
    assert_int_equal(login(other, store), LoginOutcome::success);
    // Two failures (the dead attempt and the used code), told at the success.
    assert_true(other.was_told("There were 2 wrong codes since your last successful login."));
    assert_int_equal(store.accounts["alice"].budget.since_success, 0);
}

// --- the secret file, read again under the lock --------------------------------------------

// A recovery code revoked (totp-enroll --new-recovery-codes) while the
// prompt was open no longer works: the check uses the file as it is then.
void revoked_recovery_code_is_refused(void** /*state*/) {
    const Fixture old_file = make_secret(1);
    Fixture new_file = copy_of(old_file);
    new_file.recovery = {new_recovery_code()};
    new_file.file.recovery_hashes = {new_file.recovery[0].hash};
    MemoryStore store;
    ScriptedIo io;
    io.versions = {text_of(old_file.file), text_of(new_file.file)};  // before the prompt, then under the lock
    io.answers = {old_file.recovery[0].printed};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(io.reads.size(), 2);
    assert_true(io.reads[1].path == io.reads[0].path);
    assert_int_equal(store.accounts["alice"].budget.since_success, 1);
    // The file unchanged: the same code works (so it was the re-read).
    ScriptedIo same;
    same.versions = {text_of(old_file.file), text_of(old_file.file)};
    same.answers = {old_file.recovery[0].printed};
    assert_int_equal(login(same, store), LoginOutcome::success);
}

// Re-enrolled with a new key (--force) while the prompt was open: the old
// code is refused, and the new token is the one locked.
void replaced_enrollment_is_checked_as_it_is_now(void** /*state*/) {
    const Fixture old_file = make_secret();
    Fixture new_file = make_secret();
    new_file.file.tokens.front().key = SecureBuffer(std::string_view("another key, 20 byte"));
    MemoryStore store;
    ScriptedIo io;
    io.versions = {text_of(old_file.file), text_of(new_file.file)};
    io.answers = {code_at(old_file.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(store.begun.size(), 2);  // locked again with the new file's token
    assert_int_equal(store.tokens.count(token_of(old_file.file)), 0);
    // The file gone since the prompt: denied, nothing charged.
    MemoryStore other;
    ScriptedIo gone;
    gone.versions = {text_of(old_file.file), ""};
    gone.answers = {code_at(old_file.file, now_t)};
    assert_int_equal(login(gone, other), LoginOutcome::denied);
    assert_true(gone.logged("cannot be used since the prompt"));
    assert_true(other.saves.empty());
}

// --- one replay record per secret ------------------------------------------------------------

// Two accounts whose files hold the same secret (root and toor sharing a
// home, a copied file) share its replay record: a code works once for
// both. Each keeps its own guessing budget.
void accounts_with_one_secret_share_the_replay_record(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    const std::string code = code_at(f.file, now_t);
    ScriptedIo root;
    root.user_name = "root";
    root.acct = pam_totp::Account{"root", "/root", 0, 0};
    root.secret_text = text_of(f.file);
    root.answers = {code};
    assert_int_equal(login(root, store), LoginOutcome::success);

    ScriptedIo toor;  // another name, the same uid and home
    toor.user_name = "toor";
    toor.acct = pam_totp::Account{"toor", "/root", 0, 0};
    Fixture copy = copy_of(f);
    copy.file.enrollment_id = "fedcba9876543210fedcba9876543210";  // a copy imported again: same key
    toor.secret_text = text_of(copy.file);
    toor.answers = {code};
    assert_int_equal(login(toor, store), LoginOutcome::denied);
    assert_int_equal(store.tokens.size(), 1);
    assert_int_equal(store.accounts["toor"].budget.since_success, 1);
    assert_int_equal(store.accounts["root"].budget.since_success, 0);
    assert_true(store.begun == (std::vector<std::string>{"root", "toor"}));
}

// Re-enrolling with the same key (a repeated import) keeps it used.
void reenrollment_with_the_same_key_keeps_codes_used(void** /*state*/) {
    Fixture f = make_secret(1);
    MemoryStore store;
    const std::string code = code_at(f.file, now_t);
    for (const std::string& answer : {code, f.recovery[0].printed}) {
        ScriptedIo first;
        first.secret_text = text_of(f.file);
        first.answers = {answer};
        assert_int_equal(login(first, store), LoginOutcome::success);
    }
    // Imported again: a new enrollment id, the same codes hashed with new salts.
    f.file.enrollment_id = "fedcba9876543210fedcba9876543210";
    f.file.recovery_hashes = {
        pam_totp::hash_recovery_code(pam_totp::normalise_recovery_code(f.recovery[0].printed).value()).value()};
    assert_true(f.file.recovery_hashes[0] != f.recovery[0].hash);
    for (const std::string& answer : {code, f.recovery[0].printed}) {
        ScriptedIo again;
        again.secret_text = text_of(f.file);
        again.answers = {answer};
        assert_int_equal(login(again, store), LoginOutcome::denied);
    }
}

// A new period with the same key (15 s -> 30 s): the replay record is in
// absolute time, so the 30 s codes work from the next step on (a record
// in steps of 15 s would refuse them for decades).
void period_change_does_not_lock_totp_out(void** /*state*/) {
    Fixture f = make_secret();
    f.file.tokens.front().params.period = 15;
    MemoryStore store;
    ScriptedIo first;
    first.secret_text = text_of(f.file);
    first.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(first, store), LoginOutcome::success);
    assert_int_equal(store.tokens[token_of(f.file)].used_until, now_t + 15);

    f.file.tokens.front().params.period = 30;
    ScriptedIo next;
    next.secret_text = text_of(f.file);
    next.clock = now_t + 30;
    next.answers = {code_at(f.file, now_t + 30)};
    assert_int_equal(login(next, store), LoginOutcome::success);
    assert_int_equal(store.tokens[token_of(f.file)].used_until, now_t + 60);
    // And back to 15 s: the next 15 s step after that works.
    f.file.tokens.front().params.period = 15;
    ScriptedIo back;
    back.secret_text = text_of(f.file);
    back.clock = now_t + 60;
    back.answers = {code_at(f.file, now_t + 60)};
    assert_int_equal(login(back, store), LoginOutcome::success);
}

// The code that confirmed the enrollment (shown on the enrolling terminal)
// does not log in; the next one does.
void confirmation_code_is_refused(void** /*state*/) {
    Fixture f = make_secret();
    f.file.tokens.front().confirmed_until = pam_totp::step_end(pam_totp::time_step(now_t, 30), 30);
    MemoryStore store;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_true(io.logged("already used"));
    // Nor a code from before it.
    ScriptedIo early;
    early.secret_text = io.secret_text;
    early.clock = now_t + 20;
    early.answers = {code_at(f.file, now_t - 30)};
    assert_int_equal(login(early, store), LoginOutcome::denied);
    ScriptedIo next;
    next.secret_text = io.secret_text;
    next.clock = now_t + 30;
    next.answers = {code_at(f.file, now_t + 30)};
    assert_int_equal(login(next, store), LoginOutcome::success);
    // Without `confirmed` the same first code is accepted (the refusal came from it).
    f.file.tokens.front().confirmed_until = 0;
    MemoryStore fresh;
    ScriptedIo plain;
    plain.secret_text = text_of(f.file);
    plain.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(plain, fresh), LoginOutcome::success);
}

// --- forward_pass defer ------------------------------------------------------------------------

pam_totp::ModuleOptions defer_options() {
    pam_totp::ModuleOptions opts;
    opts.forward_pass = true;
    opts.defer = true;
    return opts;
}

// The defer line only collects: the password goes on as PAM_AUTHTOK, the
// code is kept, nothing is checked or counted. The line after the password
// module checks the kept code without asking.
void defer_collects_and_the_next_line_checks(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;  // one PAM handle: both lines see the same items and data
    io.secret_text = text_of(f.file);
    const std::string code = code_at(f.file, now_t);
    io.answers = {"hunter2" + code};
    assert_int_equal(login(io, store, defer_options()), LoginOutcome::ignore);
    assert_int_equal(io.prompts, 1);
    assert_true(io.pam_authtok == "hunter2");
    assert_true(io.kept == code);
    assert_true(store.begun.empty());
    assert_true(store.saves.empty());
    // (pam_unix checks the password here.) The check line: no prompt.
    pam_totp::ModuleOptions check;
    check.forward_pass = true;
    assert_int_equal(login(io, store, check), LoginOutcome::success);
    assert_int_equal(io.prompts, 1);
    assert_false(io.kept.has_value());  // taken
    assert_int_equal(store.tokens[token_of(f.file)].used_until, pam_totp::step_end(pam_totp::time_step(now_t, 30), 30));
}

// A wrong code kept by the defer line is counted by the check line (the
// password was right by then); a wrong password never reaches it, so
// someone without the password can neither spend the budget nor learn of
// a lockout.
void defer_counts_only_on_the_check_line(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    for (int i = 0; i < 10; ++i) {
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.answers = {"wrong-password000000"};
        assert_int_equal(login(io, store, defer_options()), LoginOutcome::ignore);
        // pam_unix fails: the check line is never run.
    }
    assert_true(store.accounts.empty());
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {"hunter2000000"};
    assert_int_equal(login(io, store, defer_options()), LoginOutcome::ignore);
    pam_totp::ModuleOptions check;
    check.forward_pass = true;
    assert_int_equal(login(io, store, check), LoginOutcome::denied);
    assert_int_equal(store.accounts["alice"].budget.since_success, 1);
    // Locked: the defer line still tells nothing and asks as usual.
    store.accounts["alice"].budget.locked_until = now_t + 600;
    ScriptedIo locked;
    locked.secret_text = io.secret_text;
    locked.answers = {"hunter2" + code_at(f.file, now_t)};
    assert_int_equal(login(locked, store, defer_options()), LoginOutcome::ignore);
    assert_true(locked.told.empty());
    assert_int_equal(login(locked, store, check), LoginOutcome::denied);
    assert_true(locked.told.empty());  // forward_pass: the lockout is not revealed
    // Without a code at the end the whole answer is the password and the
    // kept code is empty: a wrong code on the check line.
    ScriptedIo bare;
    bare.secret_text = io.secret_text;
    bare.answers = {"hunter2"};
    store.accounts["alice"].budget.locked_until = 0;
    assert_int_equal(login(bare, store, defer_options()), LoginOutcome::ignore);
    assert_true(bare.pam_authtok == "hunter2");
    assert_true(bare.kept == "");
    assert_int_equal(login(bare, store, check), LoginOutcome::denied);
    assert_int_equal(store.accounts["alice"].budget.since_success, 2);
}

// Not enrolled, with nullok: the defer line still hands the password on,
// keeps no code, and the check line ignores the module.
void defer_without_a_secret_and_nullok(void** /*state*/) {
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/bob"] = ScriptedIo::File{"unused", true};
    pam_totp::ModuleOptions opts = defer_options();
    opts.secret = "/etc/pam_totp/%u";
    opts.nullok = true;
    io.answers = {"hunter2123456"};
    assert_int_equal(login(io, store, opts), LoginOutcome::ignore);
    assert_true(io.pam_authtok == "hunter2123456");  // all of it: nobody knows a code is there
    assert_false(io.kept.has_value());
    pam_totp::ModuleOptions check = central_options();
    check.nullok = true;
    check.forward_pass = true;
    assert_int_equal(login(io, store, check), LoginOutcome::ignore);
    assert_true(store.saves.empty());
}

// --- the state of pam_totp 0.1 ------------------------------------------------------------------

// On an account's first login, what pam_totp 0.1 recorded for the same
// enrollment carries over: its last step, used recovery codes and budget.
void legacy_state_carries_over_on_a_fresh_account(void** /*state*/) {
    const Fixture f = make_secret(2);
    MemoryStore store;
    LegacyState old;
    old.enrollment_id = f.file.enrollment_id;
    old.last_step = pam_totp::time_step(now_t, 30);
    old.used_recovery = {pam_totp::recovery_code_setting(f.recovery[0].hash)};
    old.failures = {now_t - 100, now_t - 50};
    old.lockouts = 1;
    store.legacy_by_name["alice"] = old;
    const std::string text = text_of(f.file);
    ScriptedIo code;
    code.secret_text = text;
    code.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(code, store), LoginOutcome::denied);  // the step 0.1 accepted last
    assert_true(store.legacy_asked == (std::vector<std::string>{"alice"}));
    const AccountRecord& a = store.accounts["alice"];
    assert_int_equal(a.budget.lockouts, 1);
    assert_int_equal(a.budget.since_success, 3);  // two carried over, and this replay
    ScriptedIo used;
    used.secret_text = text;
    used.answers = {f.recovery[0].printed};
    assert_int_equal(login(used, store), LoginOutcome::denied);
    assert_true(store.legacy_asked.size() == 1);  // read once, on the first login only
    ScriptedIo unused;
    unused.secret_text = text;
    unused.answers = {f.recovery[1].printed};
    assert_int_equal(login(unused, store), LoginOutcome::success);
    assert_true(unused.was_told("0 recovery codes left"));
    // The wrong codes 0.1 counted are among those told.
    assert_true(unused.was_told("There were 4 wrong codes since your last successful login."));
}

// The first login after the upgrade loses a claim race for the secret
// (another account shares it): the first round wrote 0.1's used codes to
// a record the claim does not name; the second round carries them into the
// one it does, so a recovery code used under 0.1 stays used (review
// finding: it worked again).
void legacy_codes_survive_a_claim_conflict(void** /*state*/) {
    const Fixture f = make_secret(2);
    MemoryStore store;
    LegacyState old;
    old.enrollment_id = f.file.enrollment_id;
    old.used_recovery = {pam_totp::recovery_code_setting(f.recovery[0].hash)};
    store.legacy_by_name["alice"] = old;
    store.conflicts = 1;
    const std::string text = text_of(f.file);
    ScriptedIo used;
    used.secret_text = text;
    used.answers = {f.recovery[0].printed};
    assert_int_equal(login(used, store), LoginOutcome::denied);
    assert_int_equal(store.begun.size(), 2);
    assert_int_equal(store.accounts["alice"].budget.since_success, 1);  // one attempt, counted once
    ScriptedIo unused;
    unused.secret_text = text;
    unused.answers = {f.recovery[1].printed};
    assert_int_equal(login(unused, store), LoginOutcome::success);
}

// The last step of another enrollment (another key, maybe another period)
// says nothing about this one; the budget carries over all the same.
void legacy_state_of_another_enrollment(void** /*state*/) {
    const Fixture f = make_secret(1);
    MemoryStore store;
    LegacyState old;
    old.enrollment_id = "fedcba9876543210fedcba9876543210";
    old.last_step = pam_totp::time_step(now_t, 30) + 1000;
    old.used_recovery = {pam_totp::recovery_code_setting(f.recovery[0].hash)};
    old.locked_until = now_t - 1;
    old.lockouts = 3;
    store.legacy_by_uid[1000] = old;  // kept by uid (UID.state)
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::success);
    // Accepted, so the streak is over; the lockout time carried over stays.
    assert_true(store.accounts["alice"].budget.locked_until == now_t - 1);
    ScriptedIo rec;
    rec.secret_text = io.secret_text;
    rec.answers = {f.recovery[0].printed};
    assert_int_equal(login(rec, store), LoginOutcome::success);
    // A lockout recorded by 0.1 still holds.
    MemoryStore locked_store;
    old.locked_until = now_t + 600;
    locked_store.legacy_by_name["alice"] = old;
    ScriptedIo locked;
    locked.secret_text = io.secret_text;
    locked.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(locked, locked_store), LoginOutcome::denied);
    assert_true(locked.was_told("locked"));
}

// --- errors that must never be free guesses --------------------------------------------------------

// A recovery hash libxcrypt refuses (of the right form, with a salt it
// cannot decode): the attempt is still counted.
void errors_after_the_charge_count_as_failures(void** /*state*/) {
    Fixture f = make_secret();
    f.file.recovery_hashes.push_back("$y$j9T$abcdefghijklmnopqrstuv$" + std::string(43, 'A'));
    MemoryStore store;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {"ABCD-EFGH-JKMN"};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(store.accounts["alice"].budget.since_success, 1);
    assert_true(io.logged("cannot check the recovery code"));  // the error path, not a plain mismatch
}

// A store that cannot be used denies; replay protection is never skipped.
void unusable_store_denies(void** /*state*/) {
    const Fixture f = make_secret();
    for (const Errc e : {Errc::busy, Errc::unsafe, Errc::format, Errc::io}) {
        MemoryStore store;
        store.fail_begin = e;
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.answers = {code_at(f.file, now_t)};
        assert_int_equal(login(io, store), LoginOutcome::denied);
        assert_true(io.logged("replay protection and the guessing budget cannot be skipped"));
    }
}

// The first logins of two accounts sharing a secret raced for its claim
// and this one lost: it begins again, once, finds the record where the
// claim says, and charges the attempt there, counting it once (its own
// charge of the first round is not "an earlier login cut short").
void claim_conflict_begins_again_once(void** /*state*/) {
    const Fixture f = make_secret();
    {
        MemoryStore store;
        store.conflicts = 1;
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.answers = {code_at(f.file, now_t)};
        assert_int_equal(login(io, store), LoginOutcome::success);
        assert_int_equal(store.begun.size(), 2);
        assert_int_equal(store.accounts["alice"].budget.since_success, 0);
        assert_false(store.accounts["alice"].charge.has_value());
        assert_false(io.logged("cut short"));
        assert_false(io.logged_at(pam_totp::LogLevel::err, "cannot record the attempt"));
    }
    {
        MemoryStore store;
        store.conflicts = 2;  // lost again: denied, the answer never looked at
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.answers = {code_at(f.file, now_t)};
        assert_int_equal(login(io, store), LoginOutcome::denied);
        assert_int_equal(store.begun.size(), 2);
        assert_true(io.logged_at(pam_totp::LogLevel::err, "cannot record the attempt"));
        // The charge stays: the next login counts it.
        assert_true(store.accounts["alice"].charge.has_value());
    }
}

// A shared store that cannot be used before the prompt (a hung or
// unreachable server) ends the login there, as unavailable and logged at
// LOG_ERR: the user is not made to type a code that could not be checked
// (the prompt came a timeout late and the check waited for another).
void unavailable_store_before_the_prompt_asks_nothing(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    store.fail_peek = Errc::unavailable;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::unavailable);
    assert_int_equal(io.prompts, 0);
    assert_int_equal(store.peeks, 1);
    assert_true(store.begun.empty());
    assert_true(io.logged_at(pam_totp::LogLevel::err, "before the prompt"));
    assert_true(io.logged_at(pam_totp::LogLevel::err, "injected failure"));
}

// Any other error of the look before the prompt (the file store's) is left
// to the check after it, as before: the user is asked.
void other_errors_before_the_prompt_still_ask(void** /*state*/) {
    const Fixture f = make_secret();
    for (const Errc e : {Errc::busy, Errc::unsafe, Errc::format, Errc::io}) {
        MemoryStore store;
        store.fail_peek = e;
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.answers = {code_at(f.file, now_t)};
        assert_int_equal(login(io, store), LoginOutcome::success);
        assert_int_equal(io.prompts, 1);
    }
}

// try_first_pass: when checking the code in the password finds the store
// unusable, the user is not asked for another code.
void unavailable_store_with_try_first_pass_asks_nothing(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    store.fail_begin = Errc::unavailable;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.pam_authtok = "hunter2" + code_at(f.file, now_t);
    io.answers = {code_at(f.file, now_t)};
    pam_totp::ModuleOptions opts;
    opts.first_pass = pam_totp::FirstPass::try_;
    assert_int_equal(login(io, store, opts), LoginOutcome::unavailable);
    assert_int_equal(io.prompts, 0);
    assert_int_equal(store.begun.size(), 1);
    // A wrong code in the password still leads to the prompt.
    MemoryStore working;
    ScriptedIo wrong;
    wrong.secret_text = io.secret_text;
    wrong.pam_authtok = std::string("hunter2000000");
    wrong.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(wrong, working, opts), LoginOutcome::success);
    assert_int_equal(wrong.prompts, 1);
}

// The wrong codes since the last successful login are told at the next one
// (someone else may hold the password), once; none, nothing is said.
void wrong_codes_are_told_at_the_next_success(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo wrong;
    wrong.secret_text = text_of(f.file);
    wrong.answers = {"000000"};
    assert_int_equal(login(wrong, store), LoginOutcome::denied);
    ScriptedIo ok;
    ok.secret_text = wrong.secret_text;
    ok.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(ok, store), LoginOutcome::success);
    assert_true(ok.was_told("There was 1 wrong code since your last successful login."));
    ScriptedIo again;
    again.secret_text = wrong.secret_text;
    again.clock = now_t + 30;
    again.answers = {code_at(f.file, now_t + 30)};
    assert_int_equal(login(again, store), LoginOutcome::success);
    assert_true(again.told.empty());
}

// During a lockout the user is told and not asked; nothing is counted.
void lockout_is_told_before_the_prompt(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    store.accounts["alice"].budget.locked_until = now_t + 600;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(io.prompts, 0);
    assert_false(io.told.empty());
    assert_true(io.told[0].find("10 minutes") != std::string::npos);
    assert_int_equal(store.accounts["alice"].budget.since_success, 0);
    assert_true(store.saves.empty());
    // With forward_pass (the password not checked yet) it is not told; the
    // answer is asked for and refused under the lock, uncounted.
    pam_totp::ModuleOptions fp;
    fp.forward_pass = true;
    ScriptedIo hidden;
    hidden.secret_text = io.secret_text;
    hidden.answers = {"hunter2" + code_at(f.file, now_t)};
    assert_int_equal(login(hidden, store, fp), LoginOutcome::denied);
    assert_int_equal(hidden.prompts, 1);
    assert_true(hidden.told.empty());
    assert_int_equal(store.accounts["alice"].budget.since_success, 0);
    assert_false(hidden.pam_authtok.has_value());  // nothing passed on
}

// Five wrong codes lock (the defaults), the sixth attempt is refused
// before it is charged, and the lockout is told.
void wrong_codes_lock(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    for (int i = 0; i < 5; ++i) {
        ScriptedIo io;
        io.secret_text = text_of(f.file);
        io.clock = now_t + i;
        io.answers = {"00000" + std::to_string(i)};
        assert_int_equal(login(io, store), LoginOutcome::denied);
        if (i == 4) {
            assert_true(io.was_told("Code entry is locked for 5 minutes"));
            assert_true(io.logged("too many wrong codes"));
        }
    }
    assert_true(pam_totp::is_locked(store.accounts["alice"].budget, now_t + 10));
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.clock = now_t + 10;
    io.answers = {code_at(f.file, now_t + 10)};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(io.prompts, 0);
}

// --- finding the secret file -----------------------------------------------------------------------

// A root-controlled file of the name's own (%u, outside the home) is read
// as root without looking the account up, and again under the lock; its
// state is the name's. Only a fresh account looks the account up (for the
// uid's state of pam_totp 0.1).
void root_controlled_file_needs_no_lookup(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::success);
    assert_int_equal(io.reads.size(), 2);
    for (const ScriptedIo::Read& r : io.reads) {
        assert_string_equal(r.path.c_str(), "/etc/pam_totp/alice");
        assert_false(r.as_user);
        assert_int_equal(r.rules.owner, 0);
        assert_true(r.rules.root_owned_dirs);
        assert_true(r.rules.case_sensitive_dir);
    }
    assert_int_equal(io.lookups, 1);  // the carry-over of a fresh account
    assert_true(store.begun == (std::vector<std::string>{"alice"}));
    // The next login has a state: no lookup at all, and the replay refused.
    ScriptedIo again;
    again.files = io.files;
    again.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(again, store, central_options()), LoginOutcome::denied);
    assert_int_equal(again.lookups, 0);
}

// A file of the name's own that root does not control (owned by the user,
// as totp-enroll --user writes it) is read the account's way, with a lookup
// and the user-or-root owner rule; the state is the same account's.
void user_owned_file_is_read_the_accounts_way(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), false};
    const std::string code = code_at(f.file, now_t);
    io.answers = {code};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::success);
    assert_int_equal(io.lookups, 1);
    assert_int_equal(io.reads.size(), 3);  // root's way (refused), the account's, again under the lock
    for (std::size_t i = 1; i < 3; ++i) {
        assert_int_equal(io.reads[i].rules.owner, 1000);
        assert_true(io.reads[i].rules.root_may_own);
        assert_true(io.reads[i].rules.root_owned_dirs);
        assert_false(io.reads[i].as_user);
    }
    assert_true(store.begun == (std::vector<std::string>{"alice"}));
    // chown root: read without the lookup now, the same state.
    ScriptedIo again;
    again.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    again.answers = {code};
    assert_int_equal(login(again, store, central_options()), LoginOutcome::denied);
    assert_int_equal(again.lookups, 0);
}

// A failed lookup is not "no such account": denied, nothing written.
void failed_lookup_denies(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    io.lookup_fails = true;  // needed for the carry-over of a fresh account
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::denied);
    assert_true(store.saves.empty());
    ScriptedIo user_owned;  // the account's way: denied too, still asked
    user_owned.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), false};
    user_owned.lookup_fails = true;
    user_owned.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(user_owned, store, central_options()), LoginOutcome::denied);
    assert_int_equal(user_owned.prompts, 1);
    assert_true(store.saves.empty());
}

// A transient error on the lookup-free read falls back to the account's way.
void transient_error_falls_back(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    io.fail_next_read = Errc::io;
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::success);
    assert_int_equal(io.reads.size(), 3);
    assert_true(store.begun == (std::vector<std::string>{"alice"}));
}

// A file in the home named by %u is the user's: read as the user.
void home_file_named_by_user_is_read_as_the_user(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.files["/home/alice/.pam_totp"] = ScriptedIo::File{text_of(f.file), false};
    io.answers = {code_at(f.file, now_t)};
    pam_totp::ModuleOptions opts;
    opts.secret = "/home/%u/.pam_totp";
    assert_int_equal(login(io, store, opts), LoginOutcome::success);
    assert_true(io.reads.back().as_user);
    assert_false(io.reads.back().rules.root_may_own);
    assert_false(io.reads.back().rules.root_owned_dirs);
    // Not there at all: nullok lets the user in without a code (a roll-out).
    ScriptedIo absent;
    absent.files["/home/bob/.pam_totp"] = ScriptedIo::File{"unused", false};
    opts.nullok = true;
    assert_int_equal(login(absent, store, opts), LoginOutcome::ignore);
}

// A name the account database spells differently ("Alice" for alice) finds
// alice's file and uses alice's state: no second budget, no second replay
// record, and with nullok no way around the code by changing the case.
void other_spelling_uses_the_accounts_file_and_state(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo alice;
    alice.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    const std::string code = code_at(f.file, now_t);
    alice.answers = {code};
    assert_int_equal(login(alice, store, central_options()), LoginOutcome::success);

    ScriptedIo upper;
    upper.user_name = "Alice";
    upper.files = alice.files;
    upper.answers = {code};
    pam_totp::ModuleOptions opts = central_options();
    opts.nullok = true;
    assert_int_equal(login(upper, store, opts), LoginOutcome::denied);  // the replay, not PAM_IGNORE
    assert_int_equal(upper.lookups, 1);
    assert_string_equal(upper.reads.back().path.c_str(), "/etc/pam_totp/alice");
    assert_true(store.begun.back() == "alice");
    assert_int_equal(store.accounts.count("Alice"), 0);
    assert_int_equal(store.accounts["alice"].budget.since_success, 1);
}

// No file under either spelling: nullok applies, after one lookup.
void no_file_with_nullok_is_ignored(void** /*state*/) {
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/bob"] = ScriptedIo::File{"unused", true};
    pam_totp::ModuleOptions opts = central_options();
    opts.nullok = true;
    assert_int_equal(login(io, store, opts), LoginOutcome::ignore);
    assert_int_equal(io.lookups, 1);
    assert_int_equal(io.prompts, 0);
    opts.nullok = false;
    ScriptedIo strict;
    strict.files = io.files;
    strict.answers = {"123456"};
    assert_int_equal(login(strict, store, opts), LoginOutcome::denied);
    assert_int_equal(strict.prompts, 1);  // still asked: the reply reveals nothing
    assert_true(store.begun.empty());
}

// No user name (or one validate_user_name refused): denied, still asked.
void no_user_name_is_denied(void** /*state*/) {
    MemoryStore store;
    ScriptedIo io;
    io.user_name = std::nullopt;
    io.answers = {"123456"};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::denied);
    assert_int_equal(io.prompts, 1);
    assert_int_equal(io.lookups, 0);
    assert_true(io.reads.empty());
}

// A secret in the home is always the account's: looked up, read as the user
// (before the prompt and under the lock).
void home_template_reads_as_the_user(void** /*state*/) {
    const Fixture f = make_secret();
    MemoryStore store;
    ScriptedIo io;
    io.files["/home/alice/.pam_totp"] = ScriptedIo::File{text_of(f.file), true};
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::success);  // default secret=~/.pam_totp
    assert_int_equal(io.lookups, 1);
    assert_int_equal(io.reads.size(), 2);
    assert_true(io.reads[0].as_user && io.reads[1].as_user);
    assert_true(store.begun == (std::vector<std::string>{"alice"}));
}

// --- tokens: several per file, HOTP, drift (pam_totp(8), TOKENS) ------------------------------

// Three keys of 20 bytes; key_rfc is RFC 4226's (Appendix D).
constexpr std::string_view key_rfc = "12345678901234567890";
constexpr std::string_view key_b = "another key, 20 byte";
constexpr std::string_view key_c = "a third key, 20 byte";

pam_totp::TokenEntry totp_entry(std::string_view name, std::string_view key, long offset = 0) {
    pam_totp::TokenEntry t;
    t.name = std::string(name);
    t.type = pam_totp::TokenType::totp;
    t.key = SecureBuffer(key);
    t.offset = offset;
    t.added = now_t - 100;
    return t;
}

pam_totp::TokenEntry hotp_entry(std::string_view name, std::string_view key, std::uint64_t counter = 0,
                                unsigned digits = 6) {
    pam_totp::TokenEntry t;
    t.name = std::string(name);
    t.type = pam_totp::TokenType::hotp;
    t.key = SecureBuffer(key);
    t.params.digits = digits;
    t.counter = counter;
    t.added = now_t - 100;
    return t;
}

// The tokens of a file, in order (TokenEntry holds a SecureBuffer: moved, not copied).
template <typename... Entries>
std::vector<pam_totp::TokenEntry> tokens_of(Entries&&... entries) {
    std::vector<pam_totp::TokenEntry> out;
    (out.push_back(std::forward<Entries>(entries)), ...);
    return out;
}

// A file of `tokens`, with `recovery_codes` recovery codes.
Fixture make_tokens(std::vector<pam_totp::TokenEntry> tokens, std::size_t recovery_codes = 0) {
    Fixture f = make_secret(recovery_codes);
    f.file.tokens = std::move(tokens);
    return f;
}

std::string totp_code(const pam_totp::TokenEntry& t, std::time_t when) {
    return std::string(pam_totp::totp_generate(t.key, t.params, when).value().view());
}

std::string hotp_code(const pam_totp::TokenEntry& t, std::uint64_t counter) {
    return std::string(pam_totp::hotp_generate(t.key, t.params.digits, counter).value().view());
}

TokenId id_of(const pam_totp::TokenEntry& t) {
    return pam_totp::token_id_of(t.key);
}

// One login with `code` typed at `clock`; `io` keeps what it logged and told.
LoginOutcome attempt(ScriptedIo& io, MemoryStore& store, const std::string& text, const std::string& code,
                     std::time_t clock = now_t, const pam_totp::ModuleOptions& opts = {}) {
    io.secret_text = text;
    io.clock = clock;
    io.answers = {code};
    return login(io, store, opts);
}

LoginOutcome attempt(MemoryStore& store, const std::string& text, const std::string& code, std::time_t clock = now_t,
                     const pam_totp::ModuleOptions& opts = {}) {
    ScriptedIo io;
    return attempt(io, store, text, code, clock, opts);
}

// Options whose limits have room for the wrong answers a test makes on
// purpose: an HOTP look-ahead of 10 counts each one as 4 wrong codes in the
// long limit (rate_limit.h, guess_weight), whose allowance is 2 x deny
// codes, so the defaults lock at the third. deny=50: 25 such answers.
pam_totp::ModuleOptions roomy(unsigned hotp_window = pam_totp::default_hotp_window) {
    pam_totp::ModuleOptions opts;
    opts.hotp_window = hotp_window;
    opts.rate.deny = 50;
    return opts;
}

// No log line holds a secret (its base32) or the code typed.
void expect_no_secret_logged(const ScriptedIo& io, const Fixture& f, const std::string& code) {
    for (const pam_totp::TokenEntry& t : f.file.tokens) {
        const std::string b32(pam_totp::base32_encode(t.key).value().view());
        assert_false(io.logged(b32));
        assert_false(io.logged(t.key.view()));
    }
    assert_false(io.logged(code));
}

// Two TOTP tokens: a code of either works once, the other's own codes are
// untouched by it; removing one makes its codes fail and leaves the other.
void two_totp_tokens_each_work_once(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(totp_entry("phone", key_rfc), totp_entry("backup", key_b)));
    const std::string text = text_of(f.file);
    assert_true(text.rfind("version 2\n", 0) == 0);
    const pam_totp::TokenEntry& phone = f.file.tokens[0];
    const pam_totp::TokenEntry& backup = f.file.tokens[1];
    MemoryStore store;
    ScriptedIo first;
    assert_int_equal(attempt(first, store, text, totp_code(phone, now_t)), LoginOutcome::success);
    assert_true(first.logged_at(pam_totp::LogLevel::info, "code accepted (token phone)"));
    expect_no_secret_logged(first, f, totp_code(phone, now_t));
    assert_int_equal(store.tokens[id_of(phone)].used_until, pam_totp::step_end(pam_totp::time_step(now_t, 30), 30));
    // The other token's record was not moved by it.
    assert_int_equal(store.tokens[id_of(backup)].used_until, 0);
    ScriptedIo replay;
    assert_int_equal(attempt(replay, store, text, totp_code(phone, now_t)), LoginOutcome::denied);
    assert_true(replay.logged("code already used (replay refused) (token phone)"));
    // The other token's code of the same step still works, once.
    ScriptedIo other;
    assert_int_equal(attempt(other, store, text, totp_code(backup, now_t)), LoginOutcome::success);
    assert_true(other.logged_at(pam_totp::LogLevel::info, "code accepted (token backup)"));
    ScriptedIo other_again;
    assert_int_equal(attempt(other_again, store, text, totp_code(backup, now_t)), LoginOutcome::denied);
    assert_true(other_again.logged("(token backup)"));
    // A wrong code is one wrong answer (the short limit, the count told at
    // the next success), and as many wrong codes in the long limit as the
    // codes it was compared with allow chances: 2 x 3 codes, 2 units of 3.
    const std::size_t before = store.saves.size();
    const std::time_t debt_before = pam_totp::debt(store.accounts["alice"].budget, now_t + 1);
    assert_int_equal(attempt(store, text, "000000", now_t + 1), LoginOutcome::denied);
    assert_int_equal(store.accounts["alice"].budget.since_success, 2);
    assert_int_equal(store.saves[before].record.charge_weight, 2);
    assert_int_equal(pam_totp::debt(store.accounts["alice"].budget, now_t + 1) - debt_before, 2 * (86400 / 5));
    // Both records were charged and settled: nothing pending.
    for (const pam_totp::TokenEntry* t : {&phone, &backup}) {
        assert_false(store.tokens[id_of(*t)].pending_until.has_value());
    }
    // "phone" removed: its next code fails, backup's works.
    Fixture without = make_tokens(tokens_of(totp_entry("backup", key_b)));
    without.file.recovery_anchor = SecureBuffer(key_rfc);
    const std::string text2 = text_of(without.file);
    ScriptedIo removed;
    assert_int_equal(attempt(removed, store, text2, totp_code(phone, now_t + 30), now_t + 30), LoginOutcome::denied);
    assert_true(removed.logged("wrong code"));
    assert_int_equal(attempt(store, text2, totp_code(backup, now_t + 30), now_t + 30), LoginOutcome::success);
}

// RFC 4226 Appendix D through the login: in order, each once; a skipped
// code inside the look-ahead; beyond it refused; a replay refused; the
// counter moves past the accepted value only.
void hotp_token_appendix_d(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(hotp_entry("yubikey", key_rfc)));
    const pam_totp::TokenEntry& y = f.file.tokens[0];
    const std::string text = text_of(f.file);
    const auto rows = pam_totp::test::read_vector_file("rfc4226.vec");
    assert_int_equal(rows.size(), 10);
    MemoryStore store;
    for (std::size_t c = 0; c < rows.size(); ++c) {
        assert_string_equal(hotp_code(y, c).c_str(), rows[c][2].c_str());
        ScriptedIo io;
        const LoginOutcome got = attempt(io, store, text, rows[c][2], now_t + static_cast<std::time_t>(c));
        if (got != LoginOutcome::success) {
            fail_msg("Appendix D code of counter %zu refused: %s", c, io.logs.empty() ? "" : io.logs.back().c_str());
        }
        assert_true(io.logged("code accepted (token yubikey)"));
        expect_no_secret_logged(io, f, rows[c][2]);
        assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(c + 1));
        assert_false(store.tokens[id_of(y)].pending_hotp.has_value());
        assert_int_equal(store.tokens[id_of(y)].used_until, 0);  // a TOTP record's field: untouched
    }
    // The last one again: a replay, told as such.
    ScriptedIo replay;
    assert_int_equal(attempt(replay, store, text, rows[9][2]), LoginOutcome::denied);
    assert_true(replay.logged("code already used (replay refused) (token yubikey)"));
    assert_true(replay.was_told("already used"));
    // An older one: wrong.
    ScriptedIo old;
    assert_int_equal(attempt(old, store, text, rows[4][2]), LoginOutcome::denied);
    assert_true(old.logged("wrong code"));
    assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(10));
}

// A save that loses a claim race has written the token records it holds,
// with this login's charge on them: the second round clears them as its
// own rather than settling them as a dead login's, which would use up the
// very code it then checks (found in review of the multi-token path).
void own_pending_of_a_lost_claim_race_is_not_settled(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(totp_entry("phone", key_b), hotp_entry("yubikey", key_rfc)));
    const std::string text = text_of(f.file);
    for (const bool hotp : {false, true}) {
        MemoryStore store;
        store.conflicts = 1;
        store.conflict_writes_tokens = true;
        ScriptedIo io;
        const std::string code = hotp ? hotp_code(f.file.tokens[1], 0) : code_at(f.file, now_t);
        assert_int_equal(attempt(io, store, text, code), LoginOutcome::success);
        assert_int_equal(store.begun.size(), 2);
        assert_false(io.logged("cut short"));
        assert_int_equal(store.accounts["alice"].budget.since_success, 0);
        const pam_totp::TokenRecord& phone = store.tokens[id_of(f.file.tokens[0])];
        const pam_totp::TokenRecord& yubikey = store.tokens[id_of(f.file.tokens[1])];
        assert_false(phone.pending_until.has_value() || yubikey.pending_hotp.has_value());
        if (hotp) {
            assert_true(yubikey.hotp_next == std::optional<std::uint64_t>(1));
        }
    }
}

void hotp_look_ahead(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(hotp_entry("yubikey", key_rfc)));
    const pam_totp::TokenEntry& y = f.file.tokens[0];
    const std::string text = text_of(f.file);
    const pam_totp::ModuleOptions opts = roomy();
    MemoryStore store;
    // Counter 3 first (0..2 pressed without a login): inside the window.
    assert_int_equal(attempt(store, text, hotp_code(y, 3), now_t, opts), LoginOutcome::success);
    assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(4));
    // The skipped ones are behind now; 3 is used.
    assert_int_equal(attempt(store, text, hotp_code(y, 1), now_t, opts), LoginOutcome::denied);
    assert_int_equal(attempt(store, text, hotp_code(y, 3), now_t, opts), LoginOutcome::denied);
    assert_int_equal(attempt(store, text, hotp_code(y, 4), now_t, opts), LoginOutcome::success);
    // next 5: 5 + 10 is the last one in reach (hotp_window=10, the default).
    assert_int_equal(attempt(store, text, hotp_code(y, 16), now_t, opts), LoginOutcome::denied);
    assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(5));  // a refusal moves nothing
    assert_int_equal(attempt(store, text, hotp_code(y, 15), now_t, opts), LoginOutcome::success);
    assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(16));
    // hotp_window=2: next 16, so 18 is in reach and 19 is not.
    pam_totp::ModuleOptions narrow = roomy(2);
    assert_int_equal(attempt(store, text, hotp_code(y, 19), now_t, narrow), LoginOutcome::denied);
    assert_int_equal(attempt(store, text, hotp_code(y, 18), now_t, narrow), LoginOutcome::success);
    // hotp_window=0: the next counter only.
    narrow.hotp_window = 0;
    assert_int_equal(attempt(store, text, hotp_code(y, 20), now_t, narrow), LoginOutcome::denied);
    assert_int_equal(attempt(store, text, hotp_code(y, 19), now_t, narrow), LoginOutcome::success);
    // The file's counter (raised by a resync) moves the start on; the state's never goes back.
    Fixture resynced = make_tokens(tokens_of(hotp_entry("yubikey", key_rfc, 40)));
    const std::string text40 = text_of(resynced.file);
    assert_int_equal(attempt(store, text40, hotp_code(y, 25), now_t, opts), LoginOutcome::denied);
    assert_int_equal(attempt(store, text40, hotp_code(y, 41), now_t, opts), LoginOutcome::success);
    assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(42));
    Fixture behind = make_tokens(tokens_of(hotp_entry("yubikey", key_rfc, 0)));
    assert_int_equal(attempt(store, text_of(behind.file), hotp_code(y, 30), now_t, opts), LoginOutcome::denied);
}

// A file of a TOTP and an HOTP token: each token's codes work, and a code
// of one never moves the other's record.
void mixed_totp_and_hotp(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(totp_entry("phone", key_b), hotp_entry("yubikey", key_rfc)));
    const pam_totp::TokenEntry& phone = f.file.tokens[0];
    const pam_totp::TokenEntry& y = f.file.tokens[1];
    const std::string text = text_of(f.file);
    MemoryStore store;
    ScriptedIo t;
    assert_int_equal(attempt(t, store, text, totp_code(phone, now_t)), LoginOutcome::success);
    assert_true(t.logged("code accepted (token phone)"));
    // The HOTP token was charged with the code's tag (it had the length of
    // its codes), then settled: no counter moved.
    assert_true(store.saves[0].tokens.at(id_of(y)).pending_hotp.has_value());
    assert_false(store.tokens[id_of(y)].pending_hotp.has_value());
    assert_false(store.tokens[id_of(y)].hotp_next.has_value());
    ScriptedIo h;
    assert_int_equal(attempt(h, store, text, hotp_code(y, 0)), LoginOutcome::success);
    assert_true(h.logged("code accepted (token yubikey)"));
    assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(1));
    assert_int_equal(store.tokens[id_of(phone)].used_until, pam_totp::step_end(pam_totp::time_step(now_t, 30), 30));
    // Each still refuses its own replay.
    assert_int_equal(attempt(store, text, totp_code(phone, now_t)), LoginOutcome::denied);
    assert_int_equal(attempt(store, text, hotp_code(y, 0)), LoginOutcome::denied);
    // A wrong answer compared with 3 TOTP codes and 11 HOTP counters
    // counts as ceil(14 / 3) = 5 wrong codes in the long limit, charged so
    // before it is checked.
    MemoryStore weighed;
    assert_int_equal(attempt(weighed, text, "000000"), LoginOutcome::denied);
    assert_int_equal(weighed.saves[0].record.charge_weight, 5);
    assert_int_equal(pam_totp::debt(weighed.accounts["alice"].budget, now_t), 5 * (86400 / 5));
    assert_int_equal(weighed.accounts["alice"].budget.since_success, 1);
    assert_int_equal(weighed.accounts["alice"].charge_weight, 1);  // settled
    // An 8-digit HOTP token after a 6-digit TOTP one: its codes are codes too.
    const Fixture eight = make_tokens(tokens_of(totp_entry("phone", key_b), hotp_entry("yubikey8", key_c, 0, 8)));
    const std::string text8 = text_of(eight.file);
    MemoryStore store8;
    ScriptedIo h8;
    assert_int_equal(attempt(h8, store8, text8, hotp_code(eight.file.tokens[1], 2)), LoginOutcome::success);
    assert_true(h8.logged("code accepted (token yubikey8)"));
    assert_int_equal(attempt(store8, text8, totp_code(eight.file.tokens[0], now_t)), LoginOutcome::success);
}

// Drift: a code accepted off-centre recentres the next window there (by
// no more than the window, and never wider); the file's offset (a resync)
// is the centre while the state has no drift measured against it.
void drift_recentres_the_window(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(totp_entry("phone", key_b)));
    const pam_totp::TokenEntry& p = f.file.tokens[0];
    const std::string text = text_of(f.file);
    {
        // Window 1 (the default): a clock 60 s ahead is two steps out: refused.
        MemoryStore store;
        assert_int_equal(attempt(store, text, totp_code(p, now_t + 60)), LoginOutcome::denied);
        assert_false(store.tokens[id_of(p)].drift.has_value());
    }
    MemoryStore store;
    // A clock 30 s ahead: accepted at the window's edge; drift 30 recorded.
    assert_int_equal(attempt(store, text, totp_code(p, now_t + 30)), LoginOutcome::success);
    assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{30, 0, 0}));
    // Drifting on, 60 s ahead: accepted (centred at +30), drift 60.
    assert_int_equal(attempt(store, text, totp_code(p, now_t + 300 + 60), now_t + 300), LoginOutcome::success);
    assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{60, 0, 0}));
    // 90 s ahead: accepted because the window is centred at +60; drift 90.
    assert_int_equal(attempt(store, text, totp_code(p, now_t + 600 + 90), now_t + 600), LoginOutcome::success);
    assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{90, 0, 0}));
    // At the centre: accepted, the drift stays.
    assert_int_equal(attempt(store, text, totp_code(p, now_t + 900 + 90), now_t + 900), LoginOutcome::success);
    assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{90, 0, 0}));
    // The window moved, it did not widen: an on-time code is three steps off now.
    assert_int_equal(attempt(store, text, totp_code(p, now_t + 1200), now_t + 1200), LoginOutcome::denied);
}

void drift_and_the_file_offset(void** /*state*/) {
    // The file's offset +90 (totp-enroll --resync), no drift in the state:
    // the window is centred at +90, and nothing is recorded for a code there.
    const Fixture f = make_tokens(tokens_of(totp_entry("phone", key_b, 90)));
    const pam_totp::TokenEntry& p = f.file.tokens[0];
    const std::string text = text_of(f.file);
    {
        MemoryStore store;
        assert_int_equal(attempt(store, text, totp_code(p, now_t)), LoginOutcome::denied);  // on time: 3 steps off
        assert_int_equal(attempt(store, text, totp_code(p, now_t + 90), now_t + 1), LoginOutcome::success);
        assert_false(store.tokens[id_of(p)].drift.has_value());
        // One step further on: a drift measured against this offset.
        assert_int_equal(attempt(store, text, totp_code(p, now_t + 150), now_t + 30), LoginOutcome::success);
        assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{120, 90, 0}));
    }
    {
        // A drift the state measured against another offset (0, before the
        // resync) is ignored: the file's +90 is the centre, not -60.
        MemoryStore store;
        store.tokens[id_of(p)].drift = pam_totp::Drift{-60, 0, 0};
        assert_int_equal(attempt(store, text, totp_code(p, now_t - 60)), LoginOutcome::denied);
        assert_int_equal(attempt(store, text, totp_code(p, now_t + 90), now_t + 1), LoginOutcome::success);
        assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{-60, 0, 0}));  // untouched: accepted centred
    }
    {
        // One measured against this offset (and confirmed time) is used: centred at -60.
        MemoryStore store;
        store.tokens[id_of(p)].drift = pam_totp::Drift{-60, 90, 0};
        assert_int_equal(attempt(store, text, totp_code(p, now_t + 90)), LoginOutcome::denied);
        assert_int_equal(attempt(store, text, totp_code(p, now_t - 60), now_t + 1), LoginOutcome::success);
    }
    {
        // The same offset but another confirmed time: a resync that found
        // the same offset again (it always moves `confirmed` on) starts anew.
        Fixture again = make_tokens(tokens_of(totp_entry("phone", key_b, 90)));
        again.file.tokens[0].confirmed_until = now_t - 300;
        const std::string text2 = text_of(again.file);
        MemoryStore store;
        store.tokens[id_of(p)].drift = pam_totp::Drift{-60, 90, now_t - 600};
        assert_int_equal(attempt(store, text2, totp_code(p, now_t - 60)), LoginOutcome::denied);
        assert_int_equal(attempt(store, text2, totp_code(p, now_t + 90), now_t + 1), LoginOutcome::success);
        MemoryStore same;
        same.tokens[id_of(p)].drift = pam_totp::Drift{-60, 90, now_t - 300};
        assert_int_equal(attempt(same, text2, totp_code(p, now_t - 60)), LoginOutcome::success);
    }
    {
        // Bounded: at the file's +300, a code one step beyond is accepted
        // (the window allows it) but the drift stays at the bound.
        const Fixture edge = make_tokens(tokens_of(totp_entry("phone", key_b, 300)));
        MemoryStore store;
        assert_int_equal(attempt(store, text_of(edge.file), totp_code(p, now_t + 330)), LoginOutcome::success);
        assert_true(store.tokens[id_of(p)].drift == (pam_totp::Drift{300, 300, 0}));
    }
}

// One secret, one kind: the TOTP code of step T is the HOTP code of counter
// T, so a secret used as one kind of token refuses codes as the other (a
// file edited from TOTP to HOTP would otherwise take its used codes again).
void secret_used_as_one_kind_refuses_the_other(void** /*state*/) {
    const Fixture as_totp = make_tokens(tokens_of(totp_entry("phone", key_c)));
    const Fixture as_hotp = make_tokens(tokens_of(hotp_entry("yubikey", key_c)));
    const pam_totp::TokenEntry& t = as_totp.file.tokens[0];
    const pam_totp::TokenEntry& h = as_hotp.file.tokens[0];
    const pam_totp::ModuleOptions wide = roomy();
    {
        MemoryStore store;
        assert_int_equal(attempt(store, text_of(as_totp.file), totp_code(t, now_t)), LoginOutcome::success);
        // The code of counter T (the step just used) and a fresh counter alike.
        const std::uint64_t step = pam_totp::time_step(now_t, 30);
        assert_string_equal(hotp_code(h, step).c_str(), totp_code(t, now_t).c_str());
        ScriptedIo io;
        assert_int_equal(attempt(io, store, text_of(as_hotp.file), hotp_code(h, 0), now_t + 30, wide),
                         LoginOutcome::denied);
        assert_true(
            io.logged_at(pam_totp::LogLevel::err, "the secret of token yubikey was used as a TOTP token before"));
        Fixture resynced = make_tokens(tokens_of(hotp_entry("yubikey", key_c, step)));
        assert_int_equal(attempt(store, text_of(resynced.file), hotp_code(h, step), now_t + 30, wide),
                         LoginOutcome::denied);
        assert_false(store.tokens[id_of(h)].hotp_next.has_value());
    }
    {
        MemoryStore store;
        assert_int_equal(attempt(store, text_of(as_hotp.file), hotp_code(h, 0)), LoginOutcome::success);
        ScriptedIo io;
        assert_int_equal(attempt(io, store, text_of(as_totp.file), totp_code(t, now_t)), LoginOutcome::denied);
        assert_true(io.logged_at(pam_totp::LogLevel::err, "the secret of token phone was used as a HOTP token before"));
        assert_int_equal(store.tokens[id_of(t)].used_until, 0);
    }
}

// An HOTP attempt that died after its charge: the next login finds the
// counter its code matched (by the tag) and moves past it, exactly as
// settling would have; a code that matched nothing moves nothing.
void stale_hotp_attempt_is_settled_exactly(void** /*state*/) {
    const Fixture f = make_tokens(tokens_of(hotp_entry("yubikey", key_rfc)));
    const pam_totp::TokenEntry& y = f.file.tokens[0];
    const std::string text = text_of(f.file);
    {
        MemoryStore store;
        store.accounts["alice"].charge = now_t - 10;
        store.tokens[id_of(y)].pending_hotp =
            pam_totp::PendingHotp{pam_totp::hotp_code_tag(y.key, hotp_code(y, 3)), 10};
        ScriptedIo io;
        assert_int_equal(attempt(io, store, text, hotp_code(y, 3)), LoginOutcome::denied);
        assert_true(io.logged("cut short"));
        assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(4));
        assert_false(store.tokens[id_of(y)].pending_hotp.has_value());
        assert_int_equal(store.accounts["alice"].budget.since_success, 2);  // the dead attempt and this replay
        assert_int_equal(attempt(store, text, hotp_code(y, 4)), LoginOutcome::success);
    }
    {
        MemoryStore store;
        store.accounts["alice"].charge = now_t - 10;
        store.tokens[id_of(y)].pending_hotp = pam_totp::PendingHotp{pam_totp::hotp_code_tag(y.key, "000000"), 10};
        assert_int_equal(attempt(store, text, hotp_code(y, 0)), LoginOutcome::success);
        assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(1));
    }
    {
        // Killed for real between the charge and the settling: the same.
        MemoryStore store;
        store.lose_relaxed = true;
        assert_int_equal(attempt(store, text, hotp_code(y, 2)), LoginOutcome::success);
        assert_true(store.tokens[id_of(y)].pending_hotp.has_value());
        store.lose_relaxed = false;
        assert_int_equal(attempt(store, text, hotp_code(y, 2)), LoginOutcome::denied);
        assert_true(store.tokens[id_of(y)].hotp_next == std::optional<std::uint64_t>(3));
        assert_int_equal(attempt(store, text, hotp_code(y, 3)), LoginOutcome::success);
    }
}

// The recovery codes' record hangs on the file's recovery key: the first
// token's, or the anchor once that token is removed. A code used before
// the removal stays used after it.
void recovery_code_stays_used_after_the_first_token_is_removed(void** /*state*/) {
    Fixture f = make_tokens(tokens_of(totp_entry("phone", key_rfc), totp_entry("backup", key_b)), 2);
    MemoryStore store;
    ScriptedIo first;
    assert_int_equal(attempt(first, store, text_of(f.file), f.recovery[0].printed), LoginOutcome::success);
    assert_true(first.logged("recovery code accepted"));
    assert_int_equal(store.tokens[pam_totp::token_id_of(SecureBuffer(key_rfc))].used_recovery.size(), 1);
    // "phone" removed; its key stays as the anchor (as totp-enroll --remove --name writes it).
    Fixture removed = make_tokens(tokens_of(totp_entry("backup", key_b)));
    removed.file.recovery_hashes = f.file.recovery_hashes;
    removed.file.recovery_anchor = SecureBuffer(key_rfc);
    const std::string text = text_of(removed.file);
    assert_int_equal(attempt(store, text, f.recovery[0].printed), LoginOutcome::denied);
    ScriptedIo other;
    assert_int_equal(attempt(other, store, text, f.recovery[1].printed), LoginOutcome::success);
    assert_true(other.was_told("0 recovery codes left"));
    assert_int_equal(store.tokens[pam_totp::token_id_of(SecureBuffer(key_rfc))].used_recovery.size(), 2);
    assert_int_equal(store.tokens[pam_totp::token_id_of(SecureBuffer(key_b))].used_recovery.size(), 0);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attempt_is_charged_durably_before_it_is_checked),
        cmocka_unit_test(answer_is_never_checked_when_the_charge_fails),
        cmocka_unit_test(failed_settling_leaves_the_charge),
        cmocka_unit_test(stale_charge_is_counted_and_its_window_blocks_the_code),
        cmocka_unit_test(stale_recovery_attempt_uses_the_code),
        cmocka_unit_test(revoked_recovery_code_is_refused),
        cmocka_unit_test(replaced_enrollment_is_checked_as_it_is_now),
        cmocka_unit_test(accounts_with_one_secret_share_the_replay_record),
        cmocka_unit_test(reenrollment_with_the_same_key_keeps_codes_used),
        cmocka_unit_test(period_change_does_not_lock_totp_out),
        cmocka_unit_test(confirmation_code_is_refused),
        cmocka_unit_test(defer_collects_and_the_next_line_checks),
        cmocka_unit_test(defer_counts_only_on_the_check_line),
        cmocka_unit_test(defer_without_a_secret_and_nullok),
        cmocka_unit_test(legacy_state_carries_over_on_a_fresh_account),
        cmocka_unit_test(legacy_state_of_another_enrollment),
        cmocka_unit_test(errors_after_the_charge_count_as_failures),
        cmocka_unit_test(unusable_store_denies),
        cmocka_unit_test(claim_conflict_begins_again_once),
        cmocka_unit_test(own_pending_of_a_lost_claim_race_is_not_settled),
        cmocka_unit_test(legacy_codes_survive_a_claim_conflict),
        cmocka_unit_test(wrong_codes_are_told_at_the_next_success),
        cmocka_unit_test(lockout_is_told_before_the_prompt),
        cmocka_unit_test(wrong_codes_lock),
        cmocka_unit_test(root_controlled_file_needs_no_lookup),
        cmocka_unit_test(user_owned_file_is_read_the_accounts_way),
        cmocka_unit_test(failed_lookup_denies),
        cmocka_unit_test(transient_error_falls_back),
        cmocka_unit_test(home_file_named_by_user_is_read_as_the_user),
        cmocka_unit_test(other_spelling_uses_the_accounts_file_and_state),
        cmocka_unit_test(no_file_with_nullok_is_ignored),
        cmocka_unit_test(no_user_name_is_denied),
        cmocka_unit_test(home_template_reads_as_the_user),
        cmocka_unit_test(unavailable_store_before_the_prompt_asks_nothing),
        cmocka_unit_test(other_errors_before_the_prompt_still_ask),
        cmocka_unit_test(unavailable_store_with_try_first_pass_asks_nothing),
        cmocka_unit_test(two_totp_tokens_each_work_once),
        cmocka_unit_test(hotp_token_appendix_d),
        cmocka_unit_test(hotp_look_ahead),
        cmocka_unit_test(mixed_totp_and_hotp),
        cmocka_unit_test(drift_recentres_the_window),
        cmocka_unit_test(drift_and_the_file_offset),
        cmocka_unit_test(secret_used_as_one_kind_refuses_the_other),
        cmocka_unit_test(stale_hotp_attempt_is_settled_exactly),
        cmocka_unit_test(recovery_code_stays_used_after_the_first_token_is_removed),
    };
    return cmocka_run_group_tests_name("login_flow", tests, nullptr, nullptr);
}
