// FileStateStore: creation and checks of state_dir, the state file checks,
// commit round trips, the lock, and no lost update under contention.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/store/state_store.h"
#include "temp_tree.h"

namespace {

using pam_totp::Errc;
using pam_totp::FileStateStore;
using pam_totp::UserState;

constexpr uid_t other_uid = 65534;
constexpr const char* enrollment = "0123456789abcdef0123456789abcdef";

struct Fixture {
    std::string base;  // a fresh mkdtemp directory (root, 0700)
    std::string dir;   // base + "/state": state_dir, not created by setup
};

int remove_entry(const char* path, const struct stat* /*st*/, int type, struct FTW* /*ftw*/) {
    if (type == FTW_DP) {
        return ::rmdir(path);
    }
    return ::unlink(path);
}

int setup(void** state) {
    char templ[] = "/tmp/test_state_store.XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
        return -1;
    }
    const std::string base = templ;
    *state = new Fixture{base, base + "/state"};
    return 0;
}

int teardown(void** state) {
    auto* fx = static_cast<Fixture*>(*state);
    const int rc = ::nftw(fx->base.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    delete fx;
    return rc;
}

Fixture& fixture(void** state) {
    return *static_cast<Fixture*>(*state);
}

using unittest::write_file;

void make_state_dir(const std::string& dir, mode_t mode) {
    assert_int_equal(::mkdir(dir.c_str(), 0700), 0);
    assert_int_equal(::chmod(dir.c_str(), mode), 0);
}

// begin() fails with `code`; the message names the state directory.
void expect_begin_error(FileStateStore& store, const char* user, Errc code, const std::string& mention) {
    auto tx = store.begin(user);
    assert_false(tx.ok());
    if (tx.error().code != code) {
        fail_msg("expected Errc %d, got %d: %s", static_cast<int>(code), static_cast<int>(tx.error().code),
                 tx.error().message.c_str());
    }
    if (std::strstr(tx.error().message.c_str(), mention.c_str()) == nullptr) {
        fail_msg("message '%s' lacks '%s'", tx.error().message.c_str(), mention.c_str());
    }
}

void missing_state_is_empty_and_dir_created(void** state) {
    const Fixture& fx = fixture(state);
    FileStateStore store(fx.dir, ::geteuid());
    const mode_t old_umask = ::umask(0);  // the directory is 0700 whatever the umask
    auto tx = store.begin("alice");
    ::umask(old_umask);
    assert_true(tx.ok());
    assert_true(tx.value()->state() == UserState{});

    struct stat st {};
    assert_int_equal(::stat(fx.dir.c_str(), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(st.st_uid, ::geteuid());
    // The lock file exists; the state file is written only on commit.
    assert_int_equal(::stat((fx.dir + "/alice.lock").c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(::access((fx.dir + "/alice.state").c_str(), F_OK), -1);
}

void missing_parent_is_an_error(void** state) {
    const std::string dir = fixture(state).base + "/nope/state";
    FileStateStore store(dir, ::geteuid());
    expect_begin_error(store, "alice", Errc::io, dir);
}

// The longest key whose temporary file name still fits in NAME_MAX commits;
// one byte more is refused up front (it could never commit, so no failure
// would ever be counted).
void overlong_key_is_refused(void** state) {
    const Fixture& fx = fixture(state);
    FileStateStore store(fx.dir, ::geteuid());
    const std::string longest(235, 'k');
    auto tx = store.begin(longest);
    assert_true(tx.ok());
    tx.value()->state().enrollment_id = enrollment;
    assert_true(tx.value()->commit().ok());
    expect_begin_error(store, (longest + "k").c_str(), Errc::invalid_argument, "longer than 235 bytes");
}

void commit_round_trip(void** state) {
    const Fixture& fx = fixture(state);
    FileStateStore store(fx.dir, ::geteuid());
    UserState expected;
    expected.enrollment_id = enrollment;
    expected.last_step = 58794000;
    expected.lockouts = 2;
    expected.locked_until = 1764290300;
    expected.failures = {1764290000, 1764290010};
    {
        auto tx = store.begin("alice");
        assert_true(tx.ok());
        tx.value()->state() = expected;
        assert_true(tx.value()->commit().ok());
    }
    {
        auto tx = store.begin("alice");
        assert_true(tx.ok());
        assert_true(tx.value()->state() == expected);
        // A transaction dropped without commit changes nothing.
        tx.value()->state().lockouts = 99;
    }
    auto tx = store.begin("alice");
    assert_true(tx.ok());
    assert_true(tx.value()->state() == expected);

    struct stat st {};
    assert_int_equal(::stat((fx.dir + "/alice.state").c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, ::geteuid());
    // Another user's state is separate.
    auto bob = store.begin("bob");
    assert_true(bob.ok());
    assert_true(bob.value()->state() == UserState{});
}

void lock_is_held_until_destroyed(void** state) {
    const Fixture& fx = fixture(state);
    FileStateStore store(fx.dir, ::geteuid());
    auto tx = store.begin("alice");
    assert_true(tx.ok());
    // flock conflicts between open file descriptions, also within one process.
    const int fd = ::open((fx.dir + "/alice.lock").c_str(), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    const int held = ::flock(fd, LOCK_EX | LOCK_NB);
    const int held_errno = errno;
    tx = pam_totp::make_error(Errc::io, "released");  // destroys the transaction
    const int free_now = ::flock(fd, LOCK_EX | LOCK_NB);
    ::close(fd);
    assert_int_equal(held, -1);
    assert_int_equal(held_errno, EWOULDBLOCK);
    assert_int_equal(free_now, 0);
}

void refuses_unsafe_state_dir(void** state) {
    const Fixture& fx = fixture(state);
    make_state_dir(fx.dir, 0755);
    FileStateStore store(fx.dir, ::geteuid());
    expect_begin_error(store, "alice", Errc::unsafe, fx.dir);
    expect_begin_error(store, "alice", Errc::unsafe, "mode 0755");
    assert_int_equal(::chmod(fx.dir.c_str(), 0710), 0);
    expect_begin_error(store, "alice", Errc::unsafe, "mode 0710");
    // Nothing was created in a directory that failed its checks.
    assert_int_equal(::access((fx.dir + "/alice.lock").c_str(), F_OK), -1);

    // A symlink to a good directory is refused too.
    const std::string real = fx.base + "/real";
    make_state_dir(real, 0700);
    const std::string link = fx.base + "/link";
    assert_int_equal(::symlink(real.c_str(), link.c_str()), 0);
    FileStateStore linked(link, ::geteuid());
    expect_begin_error(linked, "alice", Errc::unsafe, link);

    // A regular file where the directory should be.
    const std::string file = fx.base + "/file";
    write_file(file, "", 0600);
    FileStateStore filed(file, ::geteuid());
    expect_begin_error(filed, "alice", Errc::unsafe, file);
}

void refuses_state_dir_of_other_owner(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const Fixture& fx = fixture(state);
    make_state_dir(fx.dir, 0700);
    assert_int_equal(::chown(fx.dir.c_str(), other_uid, other_uid), 0);
    FileStateStore store(fx.dir, ::geteuid());
    expect_begin_error(store, "alice", Errc::unsafe, "owned by uid 65534");
}

void refuses_unsafe_state_file(void** state) {
    const Fixture& fx = fixture(state);
    make_state_dir(fx.dir, 0700);
    FileStateStore store(fx.dir, ::geteuid());
    const std::string good = "version 1\nlockouts 0\nlocked_until 0\n";

    write_file(fx.dir + "/mode.state", good, 0644);
    expect_begin_error(store, "mode", Errc::unsafe, "mode 0644");

    write_file(fx.dir + "/target", good, 0600);
    assert_int_equal(::symlink((fx.dir + "/target").c_str(), (fx.dir + "/link.state").c_str()), 0);
    expect_begin_error(store, "link", Errc::unsafe, "symbolic link");

    assert_int_equal(::mkdir((fx.dir + "/adir.state").c_str(), 0700), 0);
    expect_begin_error(store, "adir", Errc::unsafe, "not a regular file");

    write_file(fx.dir + "/big.state", good + std::string(64 * 1024, '#'), 0600);
    expect_begin_error(store, "big", Errc::unsafe, "too large");

    if (::geteuid() == 0) {
        write_file(fx.dir + "/theirs.state", good, 0600);
        assert_int_equal(::chown((fx.dir + "/theirs.state").c_str(), other_uid, other_uid), 0);
        expect_begin_error(store, "theirs", Errc::unsafe, "owned by uid 65534");
    }
    // The good one, for contrast.
    write_file(fx.dir + "/fine.state", good, 0600);
    assert_true(store.begin("fine").ok());
}

void malformed_state_is_format_error(void** state) {
    const Fixture& fx = fixture(state);
    make_state_dir(fx.dir, 0700);
    FileStateStore store(fx.dir, ::geteuid());
    write_file(fx.dir + "/alice.state", "version 1\nlast_step banana\n", 0600);
    expect_begin_error(store, "alice", Errc::format, fx.dir + "/alice.state");
    write_file(fx.dir + "/bob.state", "garbage\n", 0600);
    expect_begin_error(store, "bob", Errc::format, fx.dir + "/bob.state");
}

void refuses_bad_user_names(void** state) {
    FileStateStore store(fixture(state).dir, ::geteuid());
    for (const char* bad : {"", "..", "../etc", "a/b", "-x", "a b"}) {
        auto tx = store.begin(bad);
        assert_false(tx.ok());
        assert_int_equal(tx.error().code, Errc::invalid_argument);
    }
}

// Distinct suffixes: user "alice.lock" (alice.lock.state, alice.lock.lock)
// never touches user "alice"'s lock file, even while alice holds it.
void lock_and_state_names_never_collide(void** state) {
    const Fixture& fx = fixture(state);
    FileStateStore store(fx.dir, ::geteuid());
    auto alice = store.begin("alice");
    assert_true(alice.ok());
    auto other = store.begin("alice.lock");
    assert_true(other.ok());
    other.value()->state().lockouts = 7;
    assert_true(other.value()->commit().ok());
    struct stat st {};
    assert_int_equal(::stat((fx.dir + "/alice.lock.state").c_str(), &st), 0);
    assert_int_equal(::stat((fx.dir + "/alice.lock").c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);  // still the bare lock file
}

// Child exit codes: 0 success, 10 + Errc on a begin/commit error, 2 otherwise.
int exit_code_for(Errc code) {
    return 10 + static_cast<int>(code);
}

void unprivileged_caller_is_denied(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const Fixture& fx = fixture(state);
    // The base must be traversable so that the child reaches state_dir itself.
    assert_int_equal(::chmod(fx.base.c_str(), 0755), 0);
    make_state_dir(fx.dir, 0700);
    const std::string missing = fx.base + "/missing";

    for (const std::string& dir : {fx.dir, missing}) {
        const pid_t pid = ::fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (::setgroups(0, nullptr) != 0 || ::setgid(other_uid) != 0 || ::setuid(other_uid) != 0) {
                ::_exit(2);
            }
            FileStateStore store(dir, 0);
            auto tx = store.begin("alice");
            if (tx.ok()) {
                ::_exit(0);
            }
            const bool says_why = std::strstr(tx.error().message.c_str(), "privilege") != nullptr &&
                                  std::strstr(tx.error().message.c_str(), fx.base.c_str()) != nullptr;
            ::_exit(says_why ? exit_code_for(tx.error().code) : 3);
        }
        int status = 0;
        assert_int_equal(::waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), exit_code_for(Errc::permission));
    }
    // The failed attempts created nothing.
    assert_int_equal(::access(missing.c_str(), F_OK), -1);
    assert_int_equal(::access((fx.dir + "/alice.lock").c_str(), F_OK), -1);
}

void no_lost_updates_under_contention(void** state) {
    constexpr int processes = 16;
    constexpr int rounds = 25;
    static_assert(processes * rounds <= static_cast<int>(pam_totp::max_failures_kept));
    const Fixture& fx = fixture(state);
    FileStateStore store(fx.dir, ::geteuid());

    std::vector<pid_t> pids;
    for (int p = 0; p < processes; ++p) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            for (int r = 0; r < rounds; ++r) {
                auto tx = store.begin("alice");
                if (!tx) {
                    ::_exit(exit_code_for(tx.error().code));
                }
                UserState& s = tx.value()->state();
                s.enrollment_id = enrollment;
                s.failures.push_back(1764290000 + p);
                s.lockouts += 1;
                if (pam_totp::Status st = tx.value()->commit(); !st) {
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

    auto tx = store.begin("alice");
    assert_true(tx.ok());
    const UserState& s = tx.value()->state();
    assert_int_equal(s.failures.size(), processes * rounds);
    assert_int_equal(s.lockouts, processes * rounds);
    // Every process's updates are all there.
    for (int p = 0; p < processes; ++p) {
        int count = 0;
        for (const std::time_t t : s.failures) {
            count += t == 1764290000 + p ? 1 : 0;
        }
        assert_int_equal(count, rounds);
    }
    struct stat st {};
    assert_int_equal(::stat((fx.dir + "/alice.state").c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    // Only the state and its lock remain: no temp files.
    DIR* d = ::opendir(fx.dir.c_str());
    assert_non_null(d);
    std::vector<std::string> names;
    while (const struct dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.' || (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)) {
            names.emplace_back(e->d_name);
        }
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    assert_int_equal(names.size(), 2);
    assert_string_equal(names[0].c_str(), "alice.lock");
    assert_string_equal(names[1].c_str(), "alice.state");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(missing_state_is_empty_and_dir_created, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_parent_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(overlong_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(lock_is_held_until_destroyed, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_unsafe_state_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_state_dir_of_other_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_unsafe_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_state_is_format_error, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_user_names, setup, teardown),
        cmocka_unit_test_setup_teardown(lock_and_state_names_never_collide, setup, teardown),
        cmocka_unit_test_setup_teardown(unprivileged_caller_is_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(no_lost_updates_under_contention, setup, teardown),
    };
    return cmocka_run_group_tests_name("state_store", tests, nullptr, nullptr);
}
