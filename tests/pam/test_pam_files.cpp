// The secret file and the state directory through the real libpam: every
// unsafe secret file is refused (after the prompt), the module never writes
// the secret, a home-directory secret is read as the user, and a caller
// without privilege is refused without touching the state.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "pam_fixture.h"
#include "tests/unit/cmocka.hpp"

namespace {

using pamtest::Fixture;
using pamtest::LoginResult;

constexpr uid_t nobody_uid = 65534;
constexpr gid_t nobody_gid = 65534;

void assert_refused_after_prompt(const LoginResult& r, const char* what) {
    if (r.rc != PAM_AUTH_ERR) {
        fail_msg("%s: rc %d, expected PAM_AUTH_ERR", what, r.rc);
    }
    if (r.prompts.size() != 1) {
        fail_msg("%s: %zu prompts, expected 1 (the reply must not reveal the refusal)", what, r.prompts.size());
    }
}

std::vector<std::string> dir_entries(const std::string& path) {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) {
        return out;
    }
    while (const dirent* ent = ::readdir(d)) {
        const std::string name = ent->d_name;
        if (name != "." && name != "..") {
            out.push_back(name);
        }
    }
    ::closedir(d);
    return out;
}

// --- refused secret files -------------------------------------------------------

void symlinked_secret_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root", {}, 0, f.secrets_dir() + "/real");
    assert_int_equal(::symlink((f.secrets_dir() + "/real").c_str(), (f.secrets_dir() + "/root").c_str()), 0);
    assert_refused_after_prompt(f.login("totp", "root", {Fixture::code(e)}), "symlink");
}

void fifo_secret_refused_without_hanging(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("daemon", {}, 0);  // for a valid code only
    const std::string path = f.secrets_dir() + "/root";
    assert_int_equal(::mkfifo(path.c_str(), 0600), 0);
    const std::string code = Fixture::code(e);
    const pid_t pid = ::fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ::alarm(10);  // a hang shows as a signal, not as a stuck test
        const LoginResult r = f.login("totp", "root", {code});
        ::_exit(r.rc == PAM_AUTH_ERR && r.prompts.size() == 1 ? 0 : 1);
    }
    f.track_child(pid);
    const int status = f.reap(pid);
    if (status != 0) {
        fail_msg("login against a FIFO secret: child status %d (-1: killed, e.g. by alarm: it hung)", status);
    }
}

void directory_secret_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("daemon", {}, 0);
    assert_int_equal(::mkdir((f.secrets_dir() + "/root").c_str(), 0700), 0);
    assert_refused_after_prompt(f.login("totp", "root", {Fixture::code(e)}), "directory");
}

void secret_owned_by_another_user_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    // root's file owned by daemon; daemon's file owned by bin.
    const auto& r = f.enroll("root", {}, 0, "", 1, 1);
    assert_refused_after_prompt(f.login("totp", "root", {Fixture::code(r)}), "root's file owned by uid 1");
    const auto& d = f.enroll("daemon", {}, 0, "", 2, 2);
    assert_refused_after_prompt(f.login("totp", "daemon", {Fixture::code(d)}), "daemon's file owned by uid 2");
    // Owned by the user itself: fine (central files may also be root's).
    const auto& own = f.enroll("daemon", {}, 0, "", 1, 1);
    assert_int_equal(f.login("totp", "daemon", {Fixture::code(own)}).rc, PAM_SUCCESS);
}

void secret_with_group_or_world_access_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    const mode_t modes[] = {0644, 0640, 0604, 0660, 0601};
    for (const mode_t m : modes) {
        assert_int_equal(::chmod(e.path.c_str(), m), 0);
        const std::string what =
            "mode 0" + std::to_string((m >> 6) & 7) + std::to_string((m >> 3) & 7) + std::to_string(m & 7);
        assert_refused_after_prompt(f.login("totp", "root", {Fixture::code(e)}), what.c_str());
    }
    assert_int_equal(::chmod(e.path.c_str(), 0400), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

void oversize_secret_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root", {}, 0);
    std::string text = pamtest::read_file(e.path);
    while (text.size() <= 64 * 1024) {
        text += "# padding padding padding padding padding padding padding padding\n";
    }
    pamtest::write_file(e.path, text, 0600);
    assert_refused_after_prompt(f.login("totp", "root", {Fixture::code(e)}), "oversize");
}

void malformed_secrets_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 0);
    const std::string good = pamtest::read_file(e.path);
    const std::vector<std::string> bad = {
        "",
        "version 1\n",
        "version 2\n" + good.substr(good.find('\n', good.find("version")) + 1),
        good + "unknown_key 1\n",
        good + "digits 6\n",
        "garbage\n",
        std::string("\0\0\0\0", 4),
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        pamtest::write_file(e.path, bad[i], 0600);
        const std::string what = "malformed variant " + std::to_string(i);
        assert_refused_after_prompt(f.login("totp", "root", {Fixture::code(e)}), what.c_str());
    }
    pamtest::write_file(e.path, good, 0600);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

// Issue 12, finding 9: a recovery hash with another yescrypt cost (a
// user-chosen $y$jFT$ costs 1 GiB and 20 s per attempt in a root process)
// or cut short makes the file malformed: refused with LOG_ERR, and the
// login denied at once, whatever the answer (a recovery-shaped one would
// have run the hash).
void recovery_hash_of_another_cost_or_cut_short_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const std::string salt = "abcdefghijklmnopqrstuv";  // 22 characters
    const std::string hash = std::string(43, 'A');      // 43 characters
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"$y$jFT$" + salt + "$" + hash, "cost jFT"},
        {"$y$j9T$" + salt + "$" + hash.substr(0, 20), "cut short"},
        {"$y$j9T$" + salt, "no hash"},
    };
    for (const auto& [line, what] : bad) {
        pamtest::EnrollSpec spec;
        spec.user = "root";
        spec.recovery = 1;
        spec.raw_recovery = {line};
        const auto& e = f.enroll(spec);
        for (const std::string& answer : {Fixture::code(e), std::string("ABCD-EFGH-JKMN"), e.recovery_codes[0]}) {
            const double start = pamtest::now_seconds();
            const LoginResult r = f.login("totp", "root", {answer});
            const double took = pamtest::now_seconds() - start;
            assert_refused_after_prompt(r, what.c_str());
            if (took > 2.0) {
                fail_msg("%s: a login took %.1f s (the hash must never run)", what.c_str(), took);
            }
        }
        f.expect_log("malformed secret file " + e.path, LOG_ERR);
    }
    // A file without such a line: its recovery code works.
    const auto& good = f.enroll("root", {}, 1);
    assert_int_equal(f.login("totp", "root", {good.recovery_codes[0]}).rc, PAM_SUCCESS);
}

void secret_file_never_written(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "deny=100");
    const auto& e = f.enroll("root", {}, 1);
    const std::string before = pamtest::read_file(e.path);
    // Timestamps set far in the past: any write would move them to now.
    const timespec past[2] = {{946684800, 0}, {946684800, 0}};
    assert_int_equal(::utimensat(AT_FDCWD, e.path.c_str(), past, AT_SYMLINK_NOFOLLOW), 0);
    struct stat st0 {};
    assert_int_equal(::stat(e.path.c_str(), &st0), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::wrong_code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
    assert_int_equal(f.login("totp", "root", {e.recovery_codes[0]}).rc, PAM_SUCCESS);
    struct stat st1 {};
    assert_int_equal(::stat(e.path.c_str(), &st1), 0);
    assert_true(pamtest::read_file(e.path) == before);
    assert_int_equal(st0.st_ino, st1.st_ino);
    assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
    assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
    assert_int_equal(st0.st_ctim.tv_sec, st1.st_ctim.tv_sec);
    assert_int_equal(st0.st_ctim.tv_nsec, st1.st_ctim.tv_nsec);
    assert_int_equal(st1.st_mode & 07777, 0600);
    // The state lives in state_dir: root-only.
    struct stat sd {};
    assert_int_equal(::stat(f.state_dir().c_str(), &sd), 0);
    assert_int_equal(sd.st_mode & 07777, 0700);
    assert_int_equal(sd.st_uid, 0);
    struct stat ss {};
    assert_int_equal(::stat(f.state_path("root").c_str(), &ss), 0);
    assert_int_equal(ss.st_mode & 07777, 0600);
    assert_int_equal(ss.st_uid, 0);
}

// --- home directory secrets -----------------------------------------------------

// A real user whose home is in the temp tree; returns its name.
std::string make_home_user(Fixture& f, uid_t& uid, gid_t& gid, std::string& home) {
    const std::string name = "pamtotp-t" + std::to_string(::getpid());
    // Reachable for the user: the temp root and its home parent are root, 0755.
    assert_int_equal(::chmod(f.root().c_str(), 0755), 0);
    const std::string homes = f.root() + "/home";
    assert_int_equal(::mkdir(homes.c_str(), 0755), 0);
    home = homes + "/" + name;
    if (!f.add_user(name, home)) {
        fail_msg("useradd %s failed", name.c_str());
    }
    const passwd* pw = ::getpwnam(name.c_str());
    assert_non_null(pw);
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    assert_int_equal(::mkdir(home.c_str(), 0700), 0);
    assert_int_equal(::chown(home.c_str(), uid, gid), 0);
    return name;
}

void home_secret_read_as_the_user(void** state) {
    Fixture& f = pamtest::get(state);
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    const std::string user = make_home_user(f, uid, gid, home);
    f.service("totp", "deny=100", false);  // secret= left at its default, ~/.pam_totp
    const auto& e = f.enroll(user, {}, 0, home + "/.pam_totp", uid, gid);

    const LoginResult ok = f.login("totp", user, {Fixture::code(e)});
    assert_int_equal(ok.rc, PAM_SUCCESS);
    assert_int_equal(ok.fsuid_after, 0);

    const LoginResult wrong = f.login("totp", user, {Fixture::wrong_code(e)});
    assert_int_equal(wrong.rc, PAM_AUTH_ERR);
    assert_int_equal(wrong.fsuid_after, 0);

    // Owned by root inside the user's home: refused (the user cannot read it,
    // and it is not the user's own enrollment).
    assert_int_equal(::chown(e.path.c_str(), 0, 0), 0);
    const LoginResult root_owned = f.login("totp", user, {Fixture::code(e, 1)});
    assert_refused_after_prompt(root_owned, "root-owned file in the home");
    assert_int_equal(root_owned.fsuid_after, 0);
    assert_int_equal(::setfsuid(static_cast<uid_t>(-1)), 0);
    assert_int_equal(::setfsgid(static_cast<gid_t>(-1)), 0);
}

// Whether the secret is read as the user depends on where it is, not on
// how secret= is spelled: a path below the home without ~ or %h is read
// with the user's identity too. Shown with a file only root could read
// (mode 0200: the owner may not read it, root may).
void home_secret_by_location_read_as_the_user(void** state) {
    Fixture& f = pamtest::get(state);
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    const std::string user = make_home_user(f, uid, gid, home);
    f.service("spelled", "deny=100 secret=" + home + "/.pam_totp", false);
    const auto& e = f.enroll(user, {}, 0, home + "/.pam_totp", uid, gid);

    assert_int_equal(::chmod(e.path.c_str(), 0200), 0);
    const LoginResult as_user = f.login("spelled", user, {Fixture::code(e)});
    assert_refused_after_prompt(as_user, "a home file the user cannot read, named without ~");
    assert_int_equal(as_user.fsuid_after, 0);

    assert_int_equal(::chmod(e.path.c_str(), 0600), 0);
    const LoginResult ok = f.login("spelled", user, {Fixture::code(e)});
    assert_int_equal(ok.rc, PAM_SUCCESS);
}

void home_secret_in_group_writable_home_refused(void** state) {
    Fixture& f = pamtest::get(state);
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    const std::string user = make_home_user(f, uid, gid, home);
    f.service("totp", "", false);
    const auto& e = f.enroll(user, {}, 0, home + "/.pam_totp", uid, gid);
    assert_int_equal(::chmod(home.c_str(), 0770), 0);
    const LoginResult r = f.login("totp", user, {Fixture::code(e)});
    assert_refused_after_prompt(r, "group-writable home");
    assert_int_equal(r.fsuid_after, 0);
}

// --- no privilege ---------------------------------------------------------------

// A login by a process that is not root (a screen locker as the user): the
// state cannot be updated, so the login is refused and the state untouched.
int unprivileged_login(Fixture& f, const std::string& code) {
    const pid_t pid = ::fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ::alarm(10);
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody_gid) != 0 || ::setuid(nobody_uid) != 0) {
            ::_exit(100);
        }
        if (::access(Fixture::module_path().c_str(), R_OK) != 0 ||
            ::access((f.confdir() + "/totp").c_str(), R_OK) != 0) {
            ::_exit(101);  // the module could not even be loaded: the test would prove nothing
        }
        const LoginResult r = f.login("totp", "nobody", {code});
        ::_exit(r.rc & 0x7f);
    }
    f.track_child(pid);
    return f.reap(pid);
}

// A caller that is not root (a screen locker) logs in through the setuid
// helper (tests/locker runs it for real); without a usable one the module
// denies, says why, and never touches the state itself.
void unprivileged_caller_refused(void** state) {
    Fixture& f = pamtest::get(state);
    assert_int_equal(::chmod(f.root().c_str(), 0755), 0);
    assert_int_equal(::chmod(f.secrets_dir().c_str(), 0755), 0);
    f.service("totp", "helper=" + f.root() + "/no-such-helper");
    const auto& e = f.enroll("nobody", {}, 0, "", nobody_uid, nobody_gid);

    // state_dir exists (root, 0700): no lock file may appear.
    assert_int_equal(::mkdir(f.state_dir().c_str(), 0700), 0);
    int rc = unprivileged_login(f, Fixture::code(e));
    if (rc == 101) {
        print_message("skipped: the module is not readable by uid %u\n", nobody_uid);
        skip();
    }
    assert_int_equal(rc, PAM_AUTH_ERR);
    assert_true(dir_entries(f.state_dir()).empty());
    f.expect_log("install pam_totp_check", LOG_ERR);

    // A helper that is not setuid root (here /bin/true, which would "succeed").
    f.service("totp", "helper=/bin/true");
    rc = unprivileged_login(f, Fixture::code(e));
    assert_int_equal(rc, PAM_AUTH_ERR);
    assert_true(dir_entries(f.state_dir()).empty());
    f.expect_log("is not a setuid-root program", LOG_ERR);

    // state_dir missing: it must not be created by the unprivileged caller.
    assert_int_equal(::rmdir(f.state_dir().c_str()), 0);
    rc = unprivileged_login(f, Fixture::code(e));
    assert_int_equal(rc, PAM_AUTH_ERR);
    assert_int_not_equal(::access(f.state_dir().c_str(), F_OK), 0);

    // The same code as root: the enrollment was valid all along.
    assert_int_equal(f.login("totp", "nobody", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

void unsafe_state_dir_refused(void** state) {
    Fixture& f = pamtest::get(state);
    f.service("totp", "");
    const auto& e = f.enroll("root", {}, 0);
    assert_int_equal(::mkdir(f.state_dir().c_str(), 0755), 0);
    const LoginResult open = f.login("totp", "root", {Fixture::code(e)});
    assert_int_equal(open.rc, PAM_AUTH_ERR);
    assert_int_equal(::chmod(f.state_dir().c_str(), 0700), 0);
    assert_int_equal(::chown(f.state_dir().c_str(), 1, 1), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_AUTH_ERR);
    assert_int_equal(::chown(f.state_dir().c_str(), 0, 0), 0);
    assert_int_equal(f.login("totp", "root", {Fixture::code(e)}).rc, PAM_SUCCESS);
}

}  // namespace

int main(int argc, char** argv) {
    pamtest::init(argc, argv);
    const CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(symlinked_secret_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(fifo_secret_refused_without_hanging, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(directory_secret_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(secret_owned_by_another_user_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(secret_with_group_or_world_access_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(oversize_secret_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(malformed_secrets_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(recovery_hash_of_another_cost_or_cut_short_refused, pamtest::setup,
                                        pamtest::teardown),
        cmocka_unit_test_setup_teardown(secret_file_never_written, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(home_secret_read_as_the_user, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(home_secret_by_location_read_as_the_user, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(home_secret_in_group_writable_home_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(unprivileged_caller_refused, pamtest::setup, pamtest::teardown),
        cmocka_unit_test_setup_teardown(unsafe_state_dir_refused, pamtest::setup, pamtest::teardown),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
