// The login flow (core/login_flow.cpp) with a scripted LoginIo and an
// in-memory StateStore: what no PAM-level test can reach directly.
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/login/login_flow.h"
#include "core/login/module_options.h"
#include "core/otp/recovery.h"
#include "core/files/secret_file.h"
#include "core/otp/totp.h"

namespace {

using pam_totp::Errc;
using pam_totp::LoginOutcome;
using pam_totp::Result;
using pam_totp::SecureBuffer;
using pam_totp::Status;
using pam_totp::UserState;

constexpr std::time_t now_t = 1800000000;

class MemoryStore final : public pam_totp::StateStore {
  public:
    class Tx final : public pam_totp::StateTransaction {
      public:
        Tx(MemoryStore& store, std::string key) : m_store(store), m_key(std::move(key)), m_state(store.states[m_key]) {}
        UserState& state() override { return m_state; }
        Status commit() override {
            m_store.states[m_key] = m_state;
            return {};
        }

      private:
        MemoryStore& m_store;
        std::string m_key;
        UserState m_state;
    };

    Result<std::unique_ptr<pam_totp::StateTransaction>> begin(std::string_view key) override {
        keys.emplace_back(key);
        return std::unique_ptr<pam_totp::StateTransaction>(std::make_unique<Tx>(*this, std::string(key)));
    }

    std::map<std::string, UserState> states;
    std::vector<std::string> keys;
};

class ScriptedIo final : public pam_totp::LoginIo {
  public:
    Result<SecureBuffer> ask(std::string_view /*prompt*/, bool /*echo*/) override {
        ++prompts;
        if (answers.empty()) {
            return pam_totp::make_error(Errc::io, "no answer");
        }
        SecureBuffer a(std::string_view(answers.front()));
        answers.pop_front();
        return a;
    }
    void tell(std::string_view message, bool /*is_error*/) override { told.emplace_back(message); }
    void log(pam_totp::LogLevel /*level*/, std::string_view message) override { logs.emplace_back(message); }
    std::optional<std::string> user() override { return user_name; }
    Result<std::optional<pam_totp::Account>> account() override {
        ++lookups;
        if (lookup_fails) {
            return pam_totp::make_error(Errc::io, "getpwnam_r: Connection refused");
        }
        return std::optional<pam_totp::Account>(acct);
    }
    // With `files` empty, every path holds secret_text; otherwise only the
    // listed ones, and a file not `root_controlled` fails the rules a
    // root-controlled file must pass (as a user-owned one would).
    Result<SecureBuffer> read_secret(const std::string& path, const pam_totp::FileRules& rules, bool as_user) override {
        reads.push_back(Read{path, rules, as_user});
        if (fail_next_read) {
            const Errc code = *fail_next_read;
            fail_next_read.reset();
            return pam_totp::make_error(code, path + ": injected failure");
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
        if (rules.single_link && it->second.links != 1) {
            return pam_totp::make_error(Errc::unsafe, path + ": has 2 links, expected 1");
        }
        return SecureBuffer(std::string_view(it->second.text));
    }
    std::optional<SecureBuffer> authtok() override { return std::nullopt; }
    Status set_authtok(const SecureBuffer& /*value*/) override { return {}; }
    std::time_t now() override { return now_t; }

    struct File {
        std::string text;
        bool root_controlled = true;
        int links = 1;
    };
    struct Read {
        std::string path;
        pam_totp::FileRules rules;
        bool as_user;
    };
    std::optional<std::string> user_name = "alice";
    pam_totp::Account acct{"alice", "/home/alice", 1000, 1000};
    std::string secret_text;
    std::map<std::string, File> files;
    std::vector<Read> reads;
    int lookups = 0;
    bool lookup_fails = false;
    std::optional<Errc> fail_next_read;
    std::deque<std::string> answers;
    std::vector<std::string> told;
    std::vector<std::string> logs;
    int prompts = 0;
};

struct Fixture {
    pam_totp::SecretFile file;
    std::string recovery;  // one printed recovery code
};

Fixture make_secret(bool with_recovery) {
    Fixture f;
    f.file.key = SecureBuffer(std::string_view("12345678901234567890"));
    f.file.enrolled = now_t - 100;
    f.file.enrollment_id = "0123456789abcdef0123456789abcdef";
    if (with_recovery) {
        auto code = pam_totp::generate_recovery_code();
        f.recovery = std::string(code.value().view());
        f.file.recovery_hashes.push_back(
            pam_totp::hash_recovery_code(pam_totp::normalise_recovery_code(f.recovery).value()).value());
    }
    return f;
}

std::string text_of(const pam_totp::SecretFile& file) {
    return std::string(pam_totp::serialise_secret_file(file).value().view());
}

std::string code_at(const pam_totp::SecretFile& file, std::time_t t) {
    return std::string(pam_totp::totp_generate(file.key, file.params, t).value().view());
}

LoginOutcome login(ScriptedIo& io, MemoryStore& store, const pam_totp::ModuleOptions& opts = {}) {
    return pam_totp::run_login(io, opts, store);
}

// Two names with one uid read the same secret: they must share one state,
// or each name would replay the other's codes and have its own budget.
void state_is_keyed_by_uid(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo alice;
    alice.secret_text = text_of(f.file);
    const std::string code = code_at(f.file, now_t);
    alice.answers = {code};
    assert_int_equal(login(alice, store), LoginOutcome::success);

    ScriptedIo alias;  // another name, the same uid
    alias.acct = pam_totp::Account{"alice2", "/home/alice", 1000, 1000};
    alias.secret_text = alice.secret_text;
    alias.answers = {code};
    assert_int_equal(login(alias, store), LoginOutcome::denied);
    for (const auto& key : store.keys) {
        assert_string_equal(key.c_str(), "1000");
    }
}

// Used ids of codes that left the file are dropped, so the list stays
// bounded by the file's codes (it used to grow until the state no longer
// parsed and every login was refused).
void stale_recovery_ids_are_pruned(void** /*state*/) {
    const Fixture f = make_secret(true);
    MemoryStore store;
    UserState& s = store.states["1000"];
    s.enrollment_id = f.file.enrollment_id;
    for (int i = 0; i < 50; ++i) {
        s.used_recovery.push_back("$y$j9T$stale" + std::to_string(i));
    }
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {f.recovery};
    assert_int_equal(login(io, store), LoginOutcome::success);
    const UserState& after = store.states["1000"];
    assert_int_equal(after.used_recovery.size(), 1);
    assert_string_equal(after.used_recovery[0].c_str(), pam_totp::recovery_code_id(f.file.recovery_hashes[0]).c_str());
    bool told_left = false;
    for (const auto& t : io.told) {
        told_left = told_left || t.find("0 recovery codes left") != std::string::npos;
    }
    assert_true(told_left);
}

// A recovery hash libxcrypt cannot use must not make guesses free.
void errors_after_the_lock_count_as_failures(void** /*state*/) {
    Fixture f = make_secret(false);
    f.file.recovery_hashes.push_back("$y$zzz$abcdefghijklmnop$ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg");
    MemoryStore store;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {"ABCD-EFGH-JKMN"};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(store.states["1000"].failures.size(), 1);
    bool logged = false;
    for (const auto& l : io.logs) {
        logged = logged || l.find("cannot check the recovery code") != std::string::npos;
    }
    assert_true(logged);  // the error path was taken, not a plain mismatch
}

// Re-enrolling keeps the last step: a code just used stays used.
void reenrollment_keeps_the_last_step(void** /*state*/) {
    Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo first;
    first.secret_text = text_of(f.file);
    const std::string code = code_at(f.file, now_t);
    first.answers = {code};
    assert_int_equal(login(first, store), LoginOutcome::success);

    f.file.enrollment_id = "fedcba9876543210fedcba9876543210";  // same key, new enrollment (a repeated import)
    ScriptedIo again;
    again.secret_text = text_of(f.file);
    again.answers = {code};
    assert_int_equal(login(again, store), LoginOutcome::denied);
    assert_string_equal(store.states["1000"].enrollment_id.c_str(), "fedcba9876543210fedcba9876543210");
}

// During a lockout the user is told and not asked; nothing is counted.
void lockout_is_told_before_the_prompt(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    UserState& s = store.states["1000"];
    s.enrollment_id = f.file.enrollment_id;
    s.locked_until = now_t + 600;
    ScriptedIo io;
    io.secret_text = text_of(f.file);
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::denied);
    assert_int_equal(io.prompts, 0);
    assert_false(io.told.empty());
    assert_true(io.told[0].find("10 minutes") != std::string::npos);
    assert_true(store.states["1000"].failures.empty());
}

pam_totp::ModuleOptions central_options() {
    pam_totp::ModuleOptions opts;
    opts.secret = "/etc/pam_totp/%u";
    return opts;
}

// A root-controlled file of the name's own (%u, outside the home) is read
// as root without looking the account up, and its state is keyed by name.
// Only its first login looks the account up, to carry the uid's state over.
void root_controlled_file_needs_no_lookup(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::success);
    assert_int_equal(io.reads.size(), 1);
    assert_false(io.reads[0].as_user);
    assert_int_equal(io.reads[0].rules.owner, 0);
    assert_true(io.reads[0].rules.root_owned_dirs);
    assert_true(io.reads[0].rules.single_link);
    assert_false(io.reads[0].rules.follow_dir_symlinks);
    assert_string_equal(store.keys.front().c_str(), "user-alice");
    assert_int_equal(store.states.count("user-alice"), 1);
    // The next login has a state: no lookup at all, and the replay refused.
    ScriptedIo again;
    again.files = io.files;
    again.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(again, store, central_options()), LoginOutcome::denied);
    assert_int_equal(again.lookups, 0);
    for (const auto& key : store.keys) {
        assert_true(key == "user-alice" || key == "1000");
    }
}

// A file of the name's own that root does not control (owned by the user,
// as totp-enroll --user writes it) is read the account's way, with a lookup
// and the user-or-root owner rule, and still keyed by name: the way a file
// is read never changes its state.
void user_owned_file_is_keyed_by_name(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), false};
    const std::string code = code_at(f.file, now_t);
    io.answers = {code};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::success);
    assert_int_equal(io.lookups, 1);
    assert_int_equal(io.reads.size(), 2);
    assert_int_equal(io.reads[1].rules.owner, 1000);
    assert_true(io.reads[1].rules.root_may_own);
    // What keeps it the name's own is checked on this way too.
    assert_true(io.reads[1].rules.single_link);
    assert_false(io.reads[1].rules.follow_dir_symlinks);
    assert_true(io.reads[1].rules.case_sensitive_dir);
    assert_string_equal(store.keys.front().c_str(), "user-alice");
    // chown root: read without the lookup now, the same state.
    ScriptedIo again;
    again.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    again.answers = {code};
    assert_int_equal(login(again, store, central_options()), LoginOutcome::denied);
    assert_int_equal(again.lookups, 0);
}

// A second link would let another name reach the file under a state of its
// own: refused (denied, logged) on both ways, never keyed differently.
void second_link_is_refused(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true, 2};
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::denied);
    assert_int_equal(io.prompts, 1);
    assert_true(store.keys.empty());
    bool logged = false;
    for (const auto& l : io.logs) {
        logged = logged || l.find("2 links") != std::string::npos;
    }
    assert_true(logged);
}

// The first state under a name key starts from the uid's (an earlier
// pam_totp kept every file by uid): the code and the recovery code used
// then stay used.
void uid_state_is_carried_over(void** /*state*/) {
    const Fixture f = make_secret(true);
    MemoryStore store;
    const std::string code = code_at(f.file, now_t);
    for (const std::string& answer : {code, f.recovery}) {
        ScriptedIo before;  // keyed by uid: the default template
        before.secret_text = text_of(f.file);
        before.answers = {answer};
        assert_int_equal(login(before, store), LoginOutcome::success);
    }
    for (const std::string& answer : {code, f.recovery}) {
        ScriptedIo after;
        after.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
        after.answers = {answer};
        assert_int_equal(login(after, store, central_options()), LoginOutcome::denied);
    }
    assert_int_equal(store.states["user-alice"].used_recovery.size(), 1);
    assert_true(store.states["user-alice"].last_step.has_value());
}

// A failed lookup is not "no such account": the carry-over cannot tell
// whether a uid state exists, so the login is denied and nothing written.
void failed_lookup_denies(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    io.lookup_fails = true;
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::denied);
    assert_true(store.states["user-alice"].enrollment_id.empty());  // never committed
    ScriptedIo user_owned;                                          // the account's way: denied too
    user_owned.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), false};
    user_owned.lookup_fails = true;
    user_owned.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(user_owned, store, central_options()), LoginOutcome::denied);
    assert_int_equal(user_owned.prompts, 1);
}

// A transient error on the lookup-free read falls back to the account's
// way, which keys the file the same.
void transient_error_keeps_the_key(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/alice"] = ScriptedIo::File{text_of(f.file), true};
    io.fail_next_read = Errc::io;
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store, central_options()), LoginOutcome::success);
    assert_int_equal(io.reads.size(), 2);
    assert_string_equal(store.keys.front().c_str(), "user-alice");
}

// A file in the home named by %u (secret=/home/%u/.pam_totp) would be keyed
// by name here and by uid through ~/.pam_totp in another service: refused,
// with the option to write instead.
void home_file_named_by_user_is_refused(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/home/alice/.pam_totp"] = ScriptedIo::File{text_of(f.file), false};
    io.answers = {code_at(f.file, now_t)};
    pam_totp::ModuleOptions opts;
    opts.secret = "/home/%u/.pam_totp";
    assert_int_equal(login(io, store, opts), LoginOutcome::denied);
    assert_int_equal(io.prompts, 1);
    assert_true(store.keys.empty());
    bool logged = false;
    for (const auto& l : io.logs) {
        logged = logged || l.find("name it with ~ or %h") != std::string::npos;
    }
    assert_true(logged);
    // Not there at all: as with any template, nullok lets the user in
    // without a code (a roll-out), the refusal is for an existing file.
    ScriptedIo absent;
    absent.files["/home/bob/.pam_totp"] = ScriptedIo::File{"unused", false};
    opts.nullok = true;
    assert_int_equal(login(absent, store, opts), LoginOutcome::ignore);
}

// A template without %u is one file for every name: never keyed by name.
void template_without_user_is_keyed_by_uid(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/etc/pam_totp/shared"] = ScriptedIo::File{text_of(f.file), true};
    io.answers = {code_at(f.file, now_t)};
    pam_totp::ModuleOptions opts;
    opts.secret = "/etc/pam_totp/shared";
    assert_int_equal(login(io, store, opts), LoginOutcome::success);
    assert_int_equal(io.lookups, 1);
    assert_string_equal(store.keys.back().c_str(), "1000");
}

// A name the account database spells differently ("Alice" for alice) finds
// alice's file and shares alice's state: no second replay record, and with
// nullok no way around the code by changing the case.
void other_spelling_uses_the_accounts_file_and_state(void** /*state*/) {
    const Fixture f = make_secret(false);
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
    assert_string_equal(store.keys.back().c_str(), "user-alice");
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
    assert_true(store.keys.empty());
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

// A secret in the home is always the account's: looked up, read as the user.
void home_template_reads_as_the_user(void** /*state*/) {
    const Fixture f = make_secret(false);
    MemoryStore store;
    ScriptedIo io;
    io.files["/home/alice/.pam_totp"] = ScriptedIo::File{text_of(f.file), true};
    io.answers = {code_at(f.file, now_t)};
    assert_int_equal(login(io, store), LoginOutcome::success);  // default secret=~/.pam_totp
    assert_int_equal(io.lookups, 1);
    assert_int_equal(io.reads.size(), 1);
    assert_true(io.reads[0].as_user);
    assert_string_equal(store.keys.back().c_str(), "1000");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_is_keyed_by_uid),
        cmocka_unit_test(stale_recovery_ids_are_pruned),
        cmocka_unit_test(errors_after_the_lock_count_as_failures),
        cmocka_unit_test(reenrollment_keeps_the_last_step),
        cmocka_unit_test(lockout_is_told_before_the_prompt),
        cmocka_unit_test(root_controlled_file_needs_no_lookup),
        cmocka_unit_test(user_owned_file_is_keyed_by_name),
        cmocka_unit_test(second_link_is_refused),
        cmocka_unit_test(uid_state_is_carried_over),
        cmocka_unit_test(failed_lookup_denies),
        cmocka_unit_test(transient_error_keeps_the_key),
        cmocka_unit_test(home_file_named_by_user_is_refused),
        cmocka_unit_test(template_without_user_is_keyed_by_uid),
        cmocka_unit_test(other_spelling_uses_the_accounts_file_and_state),
        cmocka_unit_test(no_file_with_nullok_is_ignored),
        cmocka_unit_test(no_user_name_is_denied),
        cmocka_unit_test(home_template_reads_as_the_user),
    };
    return cmocka_run_group_tests_name("login_flow", tests, nullptr, nullptr);
}
