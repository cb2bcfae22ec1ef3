// The pieces of work ClaimStore gives a backend (core/store/claim_store.h,
// StateBackend::start_work): a look is one, a transaction from begin() to
// its end another, so that the store's timeout bounds the work before a
// login's prompt and the work after its answer each as a whole, and never
// the time the user takes. A transaction given up before it saved (the
// login locks again because the secret file changed) gets no new time.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/store/claim_store.h"

namespace {

using pam_totp::Result;
using pam_totp::Status;
using pam_totp::TokenId;

// The backend's calls, in order: "work" for start_work(), else the call's
// name and its argument.
using Calls = std::vector<std::string>;

class RecordingBackend final : public pam_totp::StateBackend {
  public:
    explicit RecordingBackend(Calls& calls) : m_calls(calls) {}

    class Held final : public pam_totp::HeldState {
      public:
        Held(RecordingBackend& backend, std::string name) : m_backend(backend), m_name(std::move(name)) {
            const auto it = backend.m_texts.find(m_name);
            if (it != backend.m_texts.end()) {
                m_text = it->second;
            }
        }
        [[nodiscard]] const std::optional<std::string>& text() const override { return m_text; }
        Status write(std::string_view text, pam_totp::Durability /*durability*/) override {
            m_backend.m_calls.push_back("write " + m_name);
            if (m_backend.fail_writes) {
                return pam_totp::make_error(pam_totp::Errc::io, "write: File too large");
            }
            m_text = std::string(text);
            m_backend.m_texts[m_name] = *m_text;
            return {};
        }

      private:
        RecordingBackend& m_backend;
        std::string m_name;
        std::optional<std::string> m_text;
    };

    void start_work() override { m_calls.emplace_back("work"); }
    void idle() override { m_calls.emplace_back("idle"); }
    [[nodiscard]] std::string where(const std::string& name) const override { return "memory:" + name; }
    Result<std::optional<std::string>> read_claim(const TokenId& /*id*/) override {
        m_calls.emplace_back("read_claim");
        return std::optional<std::string>();
    }
    Result<bool> add_claim(const TokenId& /*id*/, const std::string& holder) override {
        m_calls.push_back("add_claim " + holder);
        return true;
    }
    Status sync_claims() override { return {}; }
    Status drop_claim(const TokenId& /*id*/, const std::string& holder) override {
        m_calls.push_back("drop_claim " + holder);
        return {};
    }
    Result<std::unique_ptr<pam_totp::HeldState>> lock(const std::string& name, bool /*create*/) override {
        m_calls.push_back("lock " + name);
        return std::unique_ptr<pam_totp::HeldState>(std::make_unique<Held>(*this, name));
    }
    void release_all() override { m_calls.emplace_back("release_all"); }
    Result<std::optional<std::string>> peek(const std::string& name) override {
        m_calls.push_back("peek " + name);
        const auto it = m_texts.find(name);
        return it == m_texts.end() ? std::optional<std::string>() : std::optional<std::string>(it->second);
    }
    Result<std::optional<pam_totp::LegacyState>> legacy_state(std::string_view /*account*/,
                                                              std::optional<uid_t> /*uid*/) override {
        return std::optional<pam_totp::LegacyState>();
    }

    bool fail_writes = false;  // as under a caller's RLIMIT_FSIZE

  private:
    Calls& m_calls;
    std::map<std::string, std::string> m_texts;
};

TokenId token(unsigned char fill) {
    TokenId id{};
    id.bytes.fill(fill);
    return id;
}

std::size_t works(const Calls& calls) {
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), "work"));
}

// Whether every store call in `calls` comes after a start_work().
bool all_in_some_work(const Calls& calls) {
    return !calls.empty() && calls.front() == "work";
}

// A login: the look before the prompt is one piece; the transaction after
// the answer (lock, charge, settle, unlock) is the next, started by begin()
// and not again by any of its writes.
void look_and_transaction_are_a_piece_each(void** /*state*/) {
    Calls calls;
    pam_totp::ClaimStore store(std::make_unique<RecordingBackend>(calls));
    assert_true(store.peek("alice").ok());
    assert_int_equal(works(calls), 1);
    assert_true(all_in_some_work(calls));
    // Nothing held while the user types (a PostgreSQL connection closed).
    assert_string_equal(calls.back().c_str(), "idle");
    calls.clear();
    {
        auto tx = store.begin("alice", std::vector<TokenId>{token(1)});
        assert_true(tx.ok());
        tx.value()->account().charge = 1'800'000'000;
        tx.value()->token(token(1)).pending_until = 1'800'000'030;
        assert_true(tx.value()->save(pam_totp::Durability::durable).ok());
        tx.value()->account().charge.reset();
        tx.value()->account().budget.since_success = 1;
        assert_true(tx.value()->save(pam_totp::Durability::relaxed).ok());
    }
    assert_int_equal(works(calls), 1);
    assert_true(all_in_some_work(calls));
    assert_true(std::count(calls.begin(), calls.end(), "write u-alice") == 2);
    assert_string_equal(calls.back().c_str(), "release_all");
    assert_true(std::count(calls.begin(), calls.end(), "idle") == 0);  // a transaction keeps its connection
    // The next login's transaction (after a saved one) is a new piece.
    calls.clear();
    assert_true(store.begin("alice", {}).ok());
    assert_int_equal(works(calls), 1);
    assert_true(all_in_some_work(calls));
}

// A transaction given up before it saved and begun again at once (the
// login's secret file changed under the lock) goes on with its piece: no
// number of such rounds gets more time. A look after it starts anew.
void locking_again_gets_no_new_time(void** /*state*/) {
    Calls calls;
    pam_totp::ClaimStore store(std::make_unique<RecordingBackend>(calls));
    for (int round = 0; round < 3; ++round) {
        auto tx = store.begin("alice", std::vector<TokenId>{token(static_cast<unsigned char>(round))});
        assert_true(tx.ok());
    }
    assert_int_equal(works(calls), 1);
    assert_true(all_in_some_work(calls));
    {
        auto tx = store.begin("alice", {});
        assert_true(tx.ok());
        tx.value()->account().budget.since_success = 2;
        assert_true(tx.value()->save(pam_totp::Durability::durable).ok());
    }
    assert_int_equal(works(calls), 1);
    calls.clear();
    // Given up again, then a look: the look is a piece of its own, and so
    // is the transaction after it.
    assert_true(store.begin("alice", {}).ok());
    assert_int_equal(works(calls), 1);
    assert_true(store.peek("alice").ok());
    assert_int_equal(works(calls), 2);
    assert_true(store.begin("alice", {}).ok());
    assert_int_equal(works(calls), 3);
}

// totp-enroll --status and totp-admin: a token's look is one piece.
void token_look_is_one_piece(void** /*state*/) {
    Calls calls;
    pam_totp::ClaimStore store(std::make_unique<RecordingBackend>(calls));
    assert_true(store.peek_token(token(7)).ok());
    assert_int_equal(works(calls), 1);
    assert_true(all_in_some_work(calls));
    assert_string_equal(calls.back().c_str(), "idle");
}

// A refused account name does no work; a look that finds nothing still ends idle.
void look_of_nothing_ends_idle(void** /*state*/) {
    Calls calls;
    pam_totp::ClaimStore store(std::make_unique<RecordingBackend>(calls));
    assert_false(store.peek("../etc").ok());  // refused before any work
    assert_true(calls.empty());
    assert_true(store.peek("bob").ok());
    assert_string_equal(calls.back().c_str(), "idle");
}

// A state write that fails (a file-size limit, a full disk) or a process
// killed before it leaves no claim behind: records are written first and
// claimed after, so claims stay bounded by records however often a user
// changes the key in the secret file (review finding: t-* entries without
// end, one per login).
void failed_write_makes_no_claim(void** /*state*/) {
    Calls calls;
    auto backend = std::make_unique<RecordingBackend>(calls);
    RecordingBackend& b = *backend;
    pam_totp::ClaimStore store(std::move(backend));
    b.fail_writes = true;
    {
        auto tx = store.begin("alice", std::vector<TokenId>{token(3)});
        assert_true(tx.ok());
        tx.value()->account().charge = 1'800'000'000;
        tx.value()->token(token(3)).pending_until = 1'800'000'030;
        assert_false(tx.value()->save(pam_totp::Durability::durable).ok());
    }
    for (const std::string& c : calls) {
        assert_true(c.rfind("add_claim", 0) != 0);
    }
    // Once writes work the claim follows the written record.
    b.fail_writes = false;
    calls.clear();
    {
        auto tx = store.begin("alice", std::vector<TokenId>{token(3)});
        assert_true(tx.ok());
        tx.value()->account().charge = 1'800'000'001;
        tx.value()->token(token(3)).pending_until = 1'800'000'031;
        assert_true(tx.value()->save(pam_totp::Durability::durable).ok());
    }
    const auto write = std::find(calls.begin(), calls.end(), "write u-alice");
    const auto claim = std::find(calls.begin(), calls.end(), "add_claim u-alice");
    assert_true(write != calls.end() && claim != calls.end() && write < claim);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(look_and_transaction_are_a_piece_each),
        cmocka_unit_test(locking_again_gets_no_new_time),
        cmocka_unit_test(token_look_is_one_piece),
        cmocka_unit_test(look_of_nothing_ends_idle),
        cmocka_unit_test(failed_write_makes_no_claim),
    };
    return cmocka_run_group_tests_name("claim_store", tests, nullptr, nullptr);
}
