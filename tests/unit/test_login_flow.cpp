// The login flow (core/login_flow.cpp) with a scripted LoginIo and an
// in-memory StateStore: what no PAM-level test can reach directly.
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/login_flow.h"
#include "core/recovery.h"
#include "core/secret_file.h"
#include "core/totp.h"

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
    std::optional<pam_totp::Account> account() override { return acct; }
    Result<SecureBuffer> read_secret(const std::string& /*path*/, const pam_totp::FileRules& /*rules*/,
                                     bool /*as_user*/) override {
        return SecureBuffer(std::string_view(secret_text));
    }
    std::optional<SecureBuffer> authtok() override { return std::nullopt; }
    Status set_authtok(const SecureBuffer& /*value*/) override { return {}; }
    std::time_t now() override { return now_t; }

    pam_totp::Account acct{"alice", "/home/alice", 1000, 1000};
    std::string secret_text;
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

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(state_is_keyed_by_uid),
        cmocka_unit_test(stale_recovery_ids_are_pruned),
        cmocka_unit_test(errors_after_the_lock_count_as_failures),
        cmocka_unit_test(reenrollment_keeps_the_last_step),
        cmocka_unit_test(lockout_is_told_before_the_prompt),
    };
    return cmocka_run_group_tests_name("login_flow", tests, nullptr, nullptr);
}
