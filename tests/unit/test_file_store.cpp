// The file store (core/store/file_store.h): a fresh account, one token
// record shared by every account reaching the secret (claims, made only by
// a written record, dropped with it), dangling claims reclaimed, the lock
// with its bounded wait, no lost update under contention, peek and
// peek_token, the state of pam_totp 0.1, the checks of state_dir and of its
// files, and names too long for a file name.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/otp/token.h"
#include "core/store/file_store.h"
#include "core/store/slot_file.h"
#include "core/store/state_format.h"
#include "temp_tree.h"

namespace {

using pam_totp::AccountRecord;
using pam_totp::AccountState;
using pam_totp::Durability;
using pam_totp::Errc;
using pam_totp::FileStateStore;
using pam_totp::StateTransaction;
using pam_totp::TokenId;
using pam_totp::TokenRecord;
using unittest::temp_dir;
using unittest::write_file;

constexpr uid_t other_uid = 65534;

// state_dir: temp/state, not created by the setup.
std::string state_dir(void** state) {
    return temp_dir(state) + "/state";
}

TokenId token(char seed) {
    return pam_totp::token_id_of(pam_totp::SecureBuffer(std::string(20, seed)));
}

std::unique_ptr<StateTransaction> begin(FileStateStore& store, const std::string& account,
                                        const std::vector<TokenId>& tokens) {
    auto tx = store.begin(account, tokens);
    if (!tx.ok()) {
        fail_msg("begin(%s): %s", account.c_str(), tx.error().message.c_str());
    }
    return std::move(tx).value();
}

void save(StateTransaction& tx, Durability d = Durability::durable) {
    const pam_totp::Status st = tx.save(d);
    if (!st.ok()) {
        fail_msg("save: %s", st.error().message.c_str());
    }
}

// The state in file `name` of state_dir, as the store wrote it.
std::optional<AccountState> state_in(const std::string& dir, const std::string& name) {
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    auto text = pam_totp::SlotFile::peek(dfd, name, dir + "/" + name, ::geteuid());
    ::close(dfd);
    if (!text.ok()) {
        fail_msg("%s: %s", name.c_str(), text.error().message.c_str());
    }
    if (!text.value()) {
        return std::nullopt;
    }
    auto parsed = pam_totp::parse_account_state(*text.value());
    if (!parsed.ok()) {
        fail_msg("%s: %s", name.c_str(), parsed.error().message.c_str());
    }
    return parsed.value();
}

std::string claim_target(const std::string& dir, const TokenId& id) {
    char buf[256];
    const ssize_t n = ::readlink((dir + "/" + FileStateStore::claim_name(id)).c_str(), buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    assert_non_null(d);
    while (const struct dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") {
            out.push_back(name);
        }
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

void expect_begin_error(FileStateStore& store, const std::string& account, Errc code, const std::string& mention) {
    auto tx = store.begin(account, std::vector<TokenId>{token('a')});
    assert_false(tx.ok());
    if (tx.error().code != code) {
        fail_msg("expected Errc %d, got %d: %s", static_cast<int>(code), static_cast<int>(tx.error().code),
                 tx.error().message.c_str());
    }
    if (std::strstr(tx.error().message.c_str(), mention.c_str()) == nullptr) {
        fail_msg("message '%s' lacks '%s'", tx.error().message.c_str(), mention.c_str());
    }
}

// --- a fresh account ----------------------------------------------------------------

void fresh_account(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('a');
    const mode_t old_umask = ::umask(0);  // the directory is 0700 whatever the umask
    auto tx = store.begin("alice", std::vector<TokenId>{t});
    ::umask(old_umask);
    if (!tx.ok()) {
        fail_msg("%s", tx.error().message.c_str());
    }
    assert_true(tx.value()->fresh());
    assert_true(tx.value()->account() == AccountRecord{});
    assert_true(tx.value()->token(t) == TokenRecord{});
    struct stat st {};
    assert_int_equal(::stat(dir.c_str(), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, ::geteuid());
    // Nothing is claimed until a record of the token is written.
    assert_string_equal(claim_target(dir, t).c_str(), "");

    tx.value()->account().charge = 1764290000;
    tx.value()->token(t).used_until = 1764290030;
    tx.value()->token(t).pending_until = 1764290060;
    save(*tx.value());
    // The charge claims it, with the record.
    assert_string_equal(claim_target(dir, t).c_str(), "u-alice");
    // Unchanged since the last save: nothing to write, nothing fails.
    save(*tx.value(), Durability::relaxed);
    tx.value()->account().charge.reset();
    tx.value()->token(t).pending_until.reset();
    tx.value()->account().budget.debt_until = 1764300000;
    save(*tx.value(), Durability::relaxed);
    tx = pam_totp::make_error(Errc::io, "released");

    auto again = begin(store, "alice", {t});
    assert_false(again->fresh());
    assert_false(again->account().charge.has_value());
    assert_int_equal(again->account().budget.debt_until, 1764300000);
    assert_int_equal(again->token(t).used_until, 1764290030);
    assert_false(again->token(t).pending_until.has_value());
    again.reset();
    const auto on_disk = state_in(dir, "u-alice");
    assert_true(on_disk.has_value());
    assert_string_equal(on_disk->account.c_str(), "alice");
    assert_int_equal(on_disk->tokens.size(), 1);
    assert_true(entries(dir) == (std::vector<std::string>{FileStateStore::claim_name(t), "u-alice"}));
    assert_int_equal(::stat((dir + "/u-alice").c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, ::geteuid());
}

// An account file created but never written (its login died first) is
// still fresh; a dropped transaction writes nothing.
void unsaved_transaction_changes_nothing(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('a');
    {
        auto tx = begin(store, "alice", {t});
        tx->account().budget.lockouts = 9;
    }
    auto tx = begin(store, "alice", {t});
    assert_true(tx->fresh());
    assert_int_equal(tx->account().budget.lockouts, 0);
    assert_false(store.peek("alice").value().has_value());
}

// --- claims -------------------------------------------------------------------------

// Two accounts reaching the same secret share one replay record: the first
// to log in claims it, the other reads and writes it in the claimer's file.
void accounts_sharing_a_token_share_its_record(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId shared = token('s');
    const TokenId own = token('o');
    {
        auto tx = begin(store, "root", {shared});
        tx->token(shared).used_until = 1000;
        tx->account().budget.debt_until = 2;
        save(*tx);
    }
    {
        auto tx = begin(store, "toor", {shared, own});
        assert_true(tx->fresh());                              // toor's own account record is new
        assert_int_equal(tx->account().budget.debt_until, 0);  // the budget is per account
        assert_int_equal(tx->token(shared).used_until, 1000);  // the replay record is root's
        tx->token(shared).used_until = 2000;
        tx->token(own).used_until = 3000;
        tx->account().budget.lockouts = 1;
        save(*tx);
    }
    assert_string_equal(claim_target(dir, shared).c_str(), "u-root");
    assert_string_equal(claim_target(dir, own).c_str(), "u-toor");
    const auto root = state_in(dir, "u-root");
    const auto toor = state_in(dir, "u-toor");
    assert_true(root.has_value() && toor.has_value());
    assert_int_equal(root->tokens.size(), 1);
    assert_int_equal(root->tokens.at(shared).used_until, 2000);
    assert_int_equal(root->record.budget.lockouts, 0);
    assert_int_equal(toor->tokens.size(), 1);
    assert_true(toor->tokens.count(shared) == 0);
    assert_int_equal(toor->tokens.at(own).used_until, 3000);
    assert_int_equal(toor->record.budget.lockouts, 1);
    // root sees toor's use of the shared secret.
    auto tx = begin(store, "root", {shared});
    assert_int_equal(tx->token(shared).used_until, 2000);
    tx.reset();
    assert_int_equal(store.peek_token(shared).value()->used_until, 2000);
}

// A claim whose state file was removed (by hand) is reclaimed: the token's
// record went with the file, and the next account to log in claims it anew.
void dangling_claim_is_reclaimed(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('d');
    {
        auto tx = begin(store, "alice", {t});
        tx->token(t).used_until = 500;
        save(*tx);
    }
    assert_int_equal(::unlink((dir + "/u-alice").c_str()), 0);
    {
        auto tx = begin(store, "bob", {t});
        assert_int_equal(tx->token(t).used_until, 0);
        tx->token(t).used_until = 700;
        save(*tx);
    }
    assert_string_equal(claim_target(dir, t).c_str(), "u-bob");
    assert_int_equal(state_in(dir, "u-bob")->tokens.at(t).used_until, 700);
    // alice comes back: her account starts afresh, the token is bob's now.
    auto tx = begin(store, "alice", {t});
    assert_true(tx->fresh());
    assert_int_equal(tx->token(t).used_until, 700);
}

// A claim pam_totp did not write (a link elsewhere) is refused, not followed.
void foreign_claim_is_refused(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('a');
    begin(store, "alice", {}).reset();  // creates state_dir
    const std::string claim = dir + "/" + FileStateStore::claim_name(t);
    for (const char* target : {"../passwd", "/etc/passwd", "u-a/b", "x-alice", "u-"}) {
        ::unlink(claim.c_str());
        assert_int_equal(::symlink(target, claim.c_str()), 0);
        expect_begin_error(store, "alice", Errc::unsafe, "not a claim pam_totp wrote");
        auto peek = store.peek_token(t);
        assert_false(peek.ok());
        assert_int_equal(peek.error().code, Errc::unsafe);
    }
}

// An account's own file must hold that account's state.
void state_of_another_account_is_refused(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    {
        auto tx = begin(store, "alice", {});
        tx->account().budget.lockouts = 3;
        save(*tx);
    }
    // alice's file copied to bob's name (a careless restore).
    assert_int_equal(::link((dir + "/u-alice").c_str(), (dir + "/u-tmp").c_str()), 0);
    assert_int_equal(::rename((dir + "/u-tmp").c_str(), (dir + "/u-bob").c_str()), 0);
    expect_begin_error(store, "bob", Errc::unsafe, "links");  // a second link is refused first
    assert_int_equal(::unlink((dir + "/u-bob").c_str()), 0);
    {
        auto alice = begin(store, "alice", {});
        alice->account().budget.lockouts = 4;
        save(*alice);
    }
    // A byte copy of it.
    const int in = ::open((dir + "/u-alice").c_str(), O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    std::string data(2 * pam_totp::min_slot_size, '\0');
    assert_int_equal(::read(in, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(in);
    write_file(dir + "/u-bob", data, 0600);
    expect_begin_error(store, "bob", Errc::unsafe, "holds the state of another account");
}

// --- the lock -----------------------------------------------------------------------

// Child exit codes: 0 success, 10 + Errc on an error, 2 otherwise.
int exit_code_for(Errc code) {
    return 10 + static_cast<int>(code);
}

// Waits (polling /proc, at most about 5 s) until process `pid` has the
// file `path` open; true when it has.
bool wait_until_open(pid_t pid, const std::string& path) {
    struct stat want {};
    if (::stat(path.c_str(), &want) != 0) {
        return false;
    }
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    for (int i = 0; i < 5000; ++i) {
        if (DIR* d = ::opendir(fd_dir.c_str())) {
            bool found = false;
            while (const struct dirent* e = ::readdir(d)) {
                struct stat st {};
                if (::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && st.st_ino == want.st_ino &&
                    st.st_dev == want.st_dev) {
                    found = true;
                }
            }
            ::closedir(d);
            if (found) {
                return true;
            }
        }
        const timespec pause{0, 1000 * 1000};
        ::nanosleep(&pause, nullptr);
    }
    return false;
}

// A second login of the same account (another process) waits for the
// first, and gives up with Errc::busy after its lock_wait; once the first
// is done it gets the lock and sees what the first wrote.
void begin_waits_then_busy(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('a');
    begin(store, "alice", {t}).reset();  // the file exists
    for (const bool release : {false, true}) {
        // Forked before the parent takes the lock, which a child would
        // otherwise inherit (and then wait for itself).
        int go[2];
        assert_int_equal(::pipe(go), 0);
        const pid_t child = ::fork();
        assert_true(child >= 0);
        if (child == 0) {
            ::close(go[1]);
            char c = 0;
            if (::read(go[0], &c, 1) != 1) {
                ::_exit(2);
            }
            const auto wait = release ? std::chrono::milliseconds(10000) : std::chrono::milliseconds(200);
            FileStateStore waiter(dir, ::geteuid(), wait);
            const auto start = std::chrono::steady_clock::now();
            auto tx = waiter.begin("alice", std::vector<TokenId>{t});
            const auto waited = std::chrono::steady_clock::now() - start;
            if (!tx.ok()) {
                const bool bounded = waited >= std::chrono::milliseconds(150) && waited < std::chrono::seconds(3);
                ::_exit(bounded ? exit_code_for(tx.error().code) : 3);
            }
            ::_exit(tx.value()->token(t).used_until == 4242 ? 0 : 4);
        }
        ::close(go[0]);
        auto held = begin(store, "alice", {t});
        assert_int_equal(::write(go[1], "g", 1), 1);
        ::close(go[1]);
        // The child has the file open: it is waiting for the lock.
        const bool waiting = wait_until_open(child, dir + "/u-alice");
        if (release) {
            held->token(t).used_until = 4242;
            save(*held);
            held.reset();
        }
        int status = 0;
        assert_int_equal(::waitpid(child, &status, 0), child);
        held.reset();
        assert_true(waiting);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), release ? 0 : exit_code_for(Errc::busy));
    }
}

// Logins of two accounts sharing a token, in many processes at once: every
// update of each account's record and of the shared token's is kept.
void no_lost_updates_under_contention(void** state) {
    constexpr int processes = 8;
    constexpr int rounds = 20;
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId shared = token('s');
    std::vector<pid_t> pids;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            const std::string account = p % 2 == 0 ? "alice" : "bob";
            for (int r = 0; r < rounds; ++r) {
                auto tx = store.begin(account, std::vector<TokenId>{shared});
                if (!tx) {
                    ::_exit(exit_code_for(tx.error().code));
                }
                tx.value()->account().budget.lockouts += 1;
                tx.value()->token(shared).used_until += 1;
                tx.value()->account().charge = 1;
                if (pam_totp::Status st = tx.value()->save(Durability::durable); !st) {
                    // The first logins of both accounts raced for the shared
                    // token's claim and this one lost: its own record was
                    // written, the token's was not. Like Login::check, begin
                    // again: the token's record is then the winner's.
                    if (st.error().code != Errc::conflict) {
                        ::_exit(exit_code_for(st.error().code));
                    }
                    tx.value().reset();
                    tx = store.begin(account, std::vector<TokenId>{shared});
                    if (!tx) {
                        ::_exit(exit_code_for(tx.error().code));
                    }
                    tx.value()->token(shared).used_until += 1;
                    if (pam_totp::Status again = tx.value()->save(Durability::durable); !again) {
                        ::_exit(exit_code_for(again.error().code));
                    }
                }
                tx.value()->account().charge.reset();
                if (pam_totp::Status st = tx.value()->save(Durability::relaxed); !st) {
                    ::_exit(exit_code_for(st.error().code));
                }
            }
            ::_exit(0);
        }
        if (pid < 0) {
            break;  // reap the ones started, then fail below
        }
        pids.push_back(pid);
    }
    int failed = 0;
    for (const pid_t pid : pids) {
        int status = 0;
        if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            ++failed;
        }
    }
    assert_int_equal(pids.size(), processes);
    assert_int_equal(failed, 0);
    const auto alice = store.peek("alice");
    const auto bob = store.peek("bob");
    assert_int_equal(alice.value()->budget.lockouts, processes / 2 * rounds);
    assert_int_equal(bob.value()->budget.lockouts, processes / 2 * rounds);
    assert_false(alice.value()->charge.has_value());
    assert_int_equal(store.peek_token(shared).value()->used_until, processes * rounds);
    // One claim, two state files: nothing else left behind.
    assert_int_equal(entries(dir).size(), 3);
}

// --- peek -----------------------------------------------------------------------------

void peek_and_peek_token(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('p');
    // No state_dir yet: nothing, not an error (and nothing created).
    assert_true(store.peek("alice").ok());
    assert_false(store.peek("alice").value().has_value());
    assert_false(store.peek_token(t).value().has_value());
    assert_int_equal(::access(dir.c_str(), F_OK), -1);
    {
        auto tx = begin(store, "alice", {t});
        tx->account().budget.locked_until = 1764290300;
        tx->token(t).used_until = 1764290030;
        save(*tx);
        // A look without the lock while a login holds it: what was last written.
        tx->account().budget.locked_until = 1;
        const auto seen = store.peek("alice");
        assert_true(seen.ok());
        assert_int_equal(seen.value()->budget.locked_until, 1764290300);
    }
    assert_false(store.peek("bob").value().has_value());
    assert_false(store.peek_token(token('q')).value().has_value());
    assert_int_equal(store.peek_token(t).value()->used_until, 1764290030);
    // Through another account's claim too (peek_token does not care who).
    auto bob = begin(store, "bob", {t});
    bob->token(t).used_until = 1764290060;
    save(*bob);
    bob.reset();
    assert_int_equal(store.peek_token(t).value()->used_until, 1764290060);
    // A damaged file is an error, not "nothing".
    write_file(dir + "/u-carol", std::string(2 * pam_totp::min_slot_size, 'x'), 0600);
    const auto damaged = store.peek("carol");
    assert_false(damaged.ok());
    assert_int_equal(damaged.error().code, Errc::format);
}

// --- the state of pam_totp 0.1 --------------------------------------------------------

void legacy_state_by_name_then_by_uid(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    // No state_dir: nothing.
    assert_false(store.legacy_state("alice", 1000).value().has_value());
    begin(store, "x", {}).reset();
    assert_false(store.legacy_state("alice", 1000).value().has_value());
    assert_false(store.legacy_state("alice", std::nullopt).value().has_value());

    write_file(dir + "/1000.state", "version 1\nlast_step 100\nlockouts 1\n", 0600);
    auto by_uid = store.legacy_state("alice", 1000);
    assert_true(by_uid.ok());
    assert_true(by_uid.value().has_value());
    assert_true(*by_uid.value()->last_step == 100);
    assert_false(store.legacy_state("alice", std::nullopt).value().has_value());  // no uid, no UID.state
    assert_false(store.legacy_state("alice", 1001).value().has_value());

    write_file(dir + "/user-alice.state", "version 1\nlast_step 200\n", 0600);
    auto by_name = store.legacy_state("alice", 1000);
    assert_true(by_name.ok());
    assert_true(*by_name.value()->last_step == 200);  // the name's file first
    assert_true(*store.legacy_state("alice", std::nullopt).value()->last_step == 200);

    // Its lock file, free: read as before.
    write_file(dir + "/user-alice.lock", "", 0600);
    assert_true(*store.legacy_state("alice", 1000).value()->last_step == 200);

    // Malformed, or not root's alone: an error naming the file.
    write_file(dir + "/user-bob.state", "version 1\nlast_step banana\n", 0600);
    const auto bad = store.legacy_state("bob", std::nullopt);
    assert_false(bad.ok());
    assert_int_equal(bad.error().code, Errc::format);
    assert_non_null(std::strstr(bad.error().message.c_str(), "user-bob.state"));
    write_file(dir + "/user-carol.state", "version 1\n", 0644);
    const auto open = store.legacy_state("carol", std::nullopt);
    assert_false(open.ok());
    assert_int_equal(open.error().code, Errc::unsafe);
    assert_int_equal(::symlink((dir + "/user-alice.state").c_str(), (dir + "/user-dave.state").c_str()), 0);
    const auto linked = store.legacy_state("dave", std::nullopt);
    assert_false(linked.ok());
    assert_int_equal(linked.error().code, Errc::unsafe);
}

// --- state_dir --------------------------------------------------------------------------

void refuses_unsafe_state_dir(void** state) {
    const std::string base = temp_dir(state);
    const std::string dir = state_dir(state);
    unittest::make_dir(dir, 0755);
    FileStateStore store(dir, ::geteuid());
    expect_begin_error(store, "alice", Errc::unsafe, dir);
    expect_begin_error(store, "alice", Errc::unsafe, "mode 0755");
    assert_int_equal(::chmod(dir.c_str(), 0710), 0);
    expect_begin_error(store, "alice", Errc::unsafe, "mode 0710");
    // peek refuses it as well (a login must not trust it for the notice).
    assert_false(store.peek("alice").ok());
    // Nothing was created in a directory that failed its checks.
    assert_true(entries(dir).empty());

    // A symlink to a good directory is refused too.
    const std::string real = base + "/real";
    unittest::make_dir(real, 0700);
    const std::string link = base + "/link";
    assert_int_equal(::symlink(real.c_str(), link.c_str()), 0);
    FileStateStore linked(link, ::geteuid());
    expect_begin_error(linked, "alice", Errc::unsafe, link);
    assert_true(entries(real).empty());

    // A regular file where the directory should be.
    const std::string file = base + "/file";
    write_file(file, "", 0600);
    FileStateStore filed(file, ::geteuid());
    expect_begin_error(filed, "alice", Errc::unsafe, file);

    // A relative path.
    FileStateStore relative("state", ::geteuid());
    auto rel = relative.begin("alice", {});
    assert_false(rel.ok());
    assert_int_equal(rel.error().code, Errc::invalid_argument);
}

// Every directory above state_dir must be one only root (or the owner)
// controls: whoever could rename state_dir away could hand the module an
// empty one, and with it used codes and spent guesses back.
void refuses_unsafe_parents(void** state) {
    const std::string base = temp_dir(state);
    const std::string open_parent = base + "/open";
    unittest::make_dir(open_parent, 0777);
    FileStateStore in_open(open_parent + "/state", ::geteuid());
    expect_begin_error(in_open, "alice", Errc::unsafe, "writable by group or others");
    assert_int_equal(::access((open_parent + "/state").c_str(), F_OK), -1);  // not created
    // Sticky and root's (as /tmp): fine.
    if (::geteuid() == 0) {
        assert_int_equal(::chmod(open_parent.c_str(), 01777), 0);
        assert_true(in_open.begin("alice", {}).ok());

        const std::string theirs = base + "/theirs";
        unittest::make_dir(theirs, 0755);
        assert_int_equal(::chown(theirs.c_str(), other_uid, other_uid), 0);
        FileStateStore in_theirs(theirs + "/state", ::geteuid());
        expect_begin_error(in_theirs, "alice", Errc::unsafe, "owned by uid 65534");
    }
    // A missing parent: an error (state_dir is created, its parents are not).
    FileStateStore nowhere(base + "/nope/state", ::geteuid());
    auto tx = nowhere.begin("alice", {});
    assert_false(tx.ok());
    assert_int_equal(::access((base + "/nope").c_str(), F_OK), -1);
}

void refuses_state_dir_of_other_owner(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string dir = state_dir(state);
    unittest::make_dir(dir, 0700);
    assert_int_equal(::chown(dir.c_str(), other_uid, other_uid), 0);
    FileStateStore store(dir, ::geteuid());
    expect_begin_error(store, "alice", Errc::unsafe, "owned by uid 65534");
    // A store owned by that uid (totp-admin's tests, say) takes it.
    FileStateStore theirs(dir, other_uid);
    assert_true(theirs.peek("alice").ok());
}

void refuses_unsafe_state_files(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    begin(store, "fine", {}).reset();
    write_file(dir + "/u-mode", "", 0644);
    expect_begin_error(store, "mode", Errc::unsafe, "mode 0644");
    write_file(dir + "/target", "", 0600);
    assert_int_equal(::symlink((dir + "/target").c_str(), (dir + "/u-link").c_str()), 0);
    expect_begin_error(store, "link", Errc::unsafe, "symbolic link");
    if (::geteuid() == 0) {
        write_file(dir + "/u-theirs", "", 0600);
        assert_int_equal(::chown((dir + "/u-theirs").c_str(), other_uid, other_uid), 0);
        expect_begin_error(store, "theirs", Errc::unsafe, "owned by uid 65534");
    }
    // Malformed text in a valid slot: a format error naming the file.
    {
        const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        auto f = pam_totp::SlotFile::open_locked(dfd, "u-garbled", dir + "/u-garbled", ::geteuid(),
                                                 std::chrono::milliseconds(1000), true);
        assert_true(f.ok());
        assert_true(f.value().write("version 2\naccount garbled\nlockouts banana\n", Durability::durable).ok());
        ::close(dfd);
    }
    expect_begin_error(store, "garbled", Errc::format, dir + "/u-garbled");
    assert_true(store.begin("fine", {}).ok());
}

void unprivileged_caller_is_denied(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string base = temp_dir(state);
    // The base must be traversable so that the child reaches state_dir itself.
    assert_int_equal(::chmod(base.c_str(), 0755), 0);
    const std::string dir = state_dir(state);
    unittest::make_dir(dir, 0700);
    const pid_t pid = ::fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(other_uid) != 0 || ::setuid(other_uid) != 0) {
            ::_exit(2);
        }
        FileStateStore store(dir, 0);
        auto tx = store.begin("alice", {});
        if (tx.ok()) {
            ::_exit(0);
        }
        const bool says_where = std::strstr(tx.error().message.c_str(), dir.c_str()) != nullptr;
        ::_exit(says_where ? exit_code_for(tx.error().code) : 3);
    }
    int status = 0;
    assert_int_equal(::waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), exit_code_for(Errc::permission));
    assert_true(entries(dir).empty());
}

// --- names -------------------------------------------------------------------------------

// Names up to 200 bytes are the file name; longer ones (up to the 256 a
// user name may have) are hashed, so that no name is too long for a file.
void long_names_are_hashed(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const std::string n200(200, 'n');
    const std::string n201(201, 'n');
    const std::string n256(256, 'm');
    assert_string_equal(FileStateStore::account_file_name("alice").c_str(), "u-alice");
    assert_true(FileStateStore::account_file_name(n200) == "u-" + n200);
    const std::string h201 = FileStateStore::account_file_name(n201);
    const std::string h256 = FileStateStore::account_file_name(n256);
    for (const std::string& h : {h201, h256}) {
        assert_int_equal(h.size(), 66);
        assert_true(h.starts_with("h-"));
        assert_true(h.find_first_not_of("0123456789abcdef", 2) == std::string::npos);
    }
    assert_true(h201 != h256);
    assert_true(h201 != FileStateStore::account_file_name(std::string(201, 'o')));
    // "t-" and the token id's 32 hex digits.
    const TokenId t = token('l');
    assert_true(FileStateStore::claim_name(t) == "t-" + t.hex());

    for (const std::string& name : {n200, n201, n256}) {
        {
            auto tx = begin(store, name, {t});
            tx->account().budget.lockouts = static_cast<unsigned>(name.size());
            tx->token(t).used_until += 1;
            save(*tx);
        }
        assert_int_equal(store.peek(name).value()->budget.lockouts, name.size());
        const auto on_disk = state_in(dir, FileStateStore::account_file_name(name));
        assert_true(on_disk.has_value());
        assert_true(on_disk->account == name);  // the file says whose it is
    }
    // The token was claimed by the first of them; the claim names it.
    assert_true(claim_target(dir, t) == "u-" + n200);
    // A claim naming a hashed file is followed like any other.
    const TokenId t2 = token('m');
    {
        auto tx = begin(store, n256, {t2});
        tx->token(t2).pending_until = 1;
        save(*tx);
    }
    assert_true(claim_target(dir, t2) == h256);
    auto other = begin(store, "alice", {t2});
    other->token(t2).used_until = 99;
    save(*other);
    other.reset();
    assert_int_equal(state_in(dir, h256)->tokens.at(t2).used_until, 99);
    // The state of pam_totp 0.1 for a name too long for its file name:
    // none by name (no error), found by uid.
    assert_false(store.legacy_state(n256, std::nullopt).value().has_value());
    write_file(dir + "/4242.state", "version 1\nlast_step 7\n", 0600);
    assert_true(*store.legacy_state(n256, 4242).value()->last_step == 7);
}

// --- claims are made by a charge -------------------------------------------------------

// A login that writes no record of a token (it charged nothing: the
// secret file was refused under the lock, or the answer was never
// checked) leaves no claim, and the empty record is not kept.
void no_record_no_claim(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('n');
    {
        auto tx = begin(store, "alice", {t});
        (void)tx->token(t);  // looked at, left empty
        tx->account().budget.locked_until = 5;
        save(*tx);
    }
    assert_string_equal(claim_target(dir, t).c_str(), "");
    assert_int_equal(state_in(dir, "u-alice")->tokens.count(t), 0);
    assert_true(entries(dir) == (std::vector<std::string>{"u-alice"}));
    // Many such logins of many names: still no claim (no inode per try).
    for (int i = 0; i < 20; ++i) {
        begin(store, "alice", {token(static_cast<char>('A' + i))}).reset();
    }
    assert_true(entries(dir) == (std::vector<std::string>{"u-alice"}));
}

// A claim naming a state file that was created but never written (its
// login died between the two): dropped, and the token claimed anew by
// the next login that writes its record; the empty file is not taken
// over under another account's name.
void claim_of_a_never_written_state_is_dropped(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const TokenId t = token('g');
    begin(store, "x", {}).reset();  // state_dir
    write_file(dir + "/u-ghost", "", 0600);
    assert_int_equal(::symlink("u-ghost", (dir + "/" + FileStateStore::claim_name(t)).c_str()), 0);
    {
        auto tx = begin(store, "bob", {t});
        assert_true(tx->token(t) == TokenRecord{});
        tx->token(t).used_until = 10;
        save(*tx);
    }
    assert_string_equal(claim_target(dir, t).c_str(), "u-bob");
    assert_int_equal(state_in(dir, "u-bob")->tokens.at(t).used_until, 10);
    assert_false(state_in(dir, "u-ghost").has_value());  // still never written
    // And ghost logs in: its own, fresh account.
    auto ghost = begin(store, "ghost", {t});
    assert_true(ghost->fresh());
    assert_int_equal(ghost->token(t).used_until, 10);  // bob's record of the shared token
}

// The records of at most max_tokens_per_state tokens live in one state;
// a record pruned to make room takes its claim with it.
void pruned_record_takes_its_claim(void** state) {
    const std::string dir = state_dir(state);
    FileStateStore store(dir, ::geteuid());
    const auto nth = [](unsigned n) {
        return pam_totp::token_id_of(pam_totp::SecureBuffer(std::string(20, 'k') + std::to_string(n)));
    };
    for (unsigned n = 0; n <= pam_totp::max_tokens_per_state; ++n) {
        auto tx = begin(store, "alice", {nth(n)});
        tx->token(nth(n)).used_until = 1000 + n;
        save(*tx);
    }
    const auto s = state_in(dir, "u-alice");
    assert_int_equal(s->tokens.size(), pam_totp::max_tokens_per_state);
    assert_int_equal(s->tokens.count(nth(0)), 0);  // the least recently used
    assert_string_equal(claim_target(dir, nth(0)).c_str(), "");
    for (unsigned n = 1; n <= pam_totp::max_tokens_per_state; ++n) {
        assert_string_equal(claim_target(dir, nth(n)).c_str(), "u-alice");
    }
    assert_int_equal(entries(dir).size(), 1 + pam_totp::max_tokens_per_state);
}

}  // namespace

int main() {
    using unittest::temp_tree_setup;
    using unittest::temp_tree_setup_in_memory;
    using unittest::temp_tree_teardown;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fresh_account, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(unsaved_transaction_changes_nothing, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(accounts_sharing_a_token_share_its_record, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(dangling_claim_is_reclaimed, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(no_record_no_claim, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(claim_of_a_never_written_state_is_dropped, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(pruned_record_takes_its_claim, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(foreign_claim_is_refused, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(state_of_another_account_is_refused, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(begin_waits_then_busy, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(no_lost_updates_under_contention, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(peek_and_peek_token, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(legacy_state_by_name_then_by_uid, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_unsafe_state_dir, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_unsafe_parents, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_state_dir_of_other_owner, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_unsafe_state_files, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(unprivileged_caller_is_denied, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(long_names_are_hashed, temp_tree_setup_in_memory, temp_tree_teardown),
    };
    return cmocka_run_group_tests_name("file_store", tests, nullptr, nullptr);
}
