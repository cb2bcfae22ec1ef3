// atomic_replace: content, mode and owner of the result, clean failures,
// a full disk, and SIGKILL at random moments (the file is always the whole
// old or the whole new content, never a mix, never empty).
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/files/atomic_replace.h"
#include "core/util/random.h"

namespace {

using pam_totp::Errc;
using pam_totp::ReplaceOptions;

constexpr uid_t other_uid = 65534;

struct Fixture {
    std::string dir;       // a fresh mkdtemp directory
    bool mounted = false;  // a tmpfs is mounted on dir + "/mnt"
};

int remove_entry(const char* path, const struct stat* /*st*/, int type, struct FTW* /*ftw*/) {
    if (type == FTW_DP) {
        return ::rmdir(path);
    }
    return ::unlink(path);
}

int setup(void** state) {
    char templ[] = "/tmp/test_atomic_replace.XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
        return -1;
    }
    *state = new Fixture{templ};
    return 0;
}

int teardown(void** state) {
    auto* fx = static_cast<Fixture*>(*state);
    int rc = 0;
    if (fx->mounted && ::umount2((fx->dir + "/mnt").c_str(), MNT_DETACH) != 0) {
        rc = -1;
    }
    // Also removes any ".NAME.*" temp files a killed writer left behind.
    if (::nftw(fx->dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        rc = -1;
    }
    delete fx;
    return rc;
}

Fixture& fixture(void** state) {
    return *static_cast<Fixture*>(*state);
}

std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    std::string out;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        assert_true(n >= 0);
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    assert_non_null(d);
    while (const struct dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") {
            names.push_back(name);
        }
    }
    ::closedir(d);
    return names;
}

// ".NAME." followed by 12 lower-case hex digits.
bool is_temp_name(const std::string& entry, const std::string& name) {
    const std::string prefix = "." + name + ".";
    if (entry.size() != prefix.size() + 12 || entry.compare(0, prefix.size(), prefix) != 0) {
        return false;
    }
    return entry.find_first_not_of("0123456789abcdef", prefix.size()) == std::string::npos;
}

void replaces_content(void** state) {
    const std::string path = fixture(state).dir + "/file";
    assert_true(pam_totp::atomic_replace(path, "first\n", ReplaceOptions{}).ok());
    assert_string_equal(read_file(path).c_str(), "first\n");
    struct stat before {};
    assert_int_equal(::stat(path.c_str(), &before), 0);

    assert_true(pam_totp::atomic_replace(path, "second, longer\n", ReplaceOptions{}).ok());
    assert_string_equal(read_file(path).c_str(), "second, longer\n");
    struct stat after {};
    assert_int_equal(::stat(path.c_str(), &after), 0);
    // A new inode: the old one was replaced, not rewritten in place.
    assert_int_not_equal(before.st_ino, after.st_ino);
    assert_int_equal(after.st_mode & 07777, 0600);
    assert_true(S_ISREG(after.st_mode));

    assert_true(pam_totp::atomic_replace(path, "", ReplaceOptions{}).ok());
    assert_int_equal(read_file(path).size(), 0);
    // Only the file itself is left: no temp files.
    const auto names = list_dir(fixture(state).dir);
    assert_int_equal(names.size(), 1);
    assert_string_equal(names[0].c_str(), "file");
}

void applies_mode_despite_umask(void** state) {
    const std::string path = fixture(state).dir + "/moded";
    const mode_t old_umask = ::umask(077);
    ReplaceOptions opts;
    opts.mode = 0640;
    const auto st = pam_totp::atomic_replace(path, "x", opts);
    ::umask(old_umask);
    assert_true(st.ok());
    struct stat sb {};
    assert_int_equal(::stat(path.c_str(), &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0640);

    // A world-readable old file becomes 0600 with the default options.
    assert_int_equal(::chmod(path.c_str(), 0644), 0);
    assert_true(pam_totp::atomic_replace(path, "y", ReplaceOptions{}).ok());
    assert_int_equal(::stat(path.c_str(), &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
}

void applies_owner(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string path = fixture(state).dir + "/owned";
    ReplaceOptions opts;
    opts.uid = other_uid;
    opts.gid = other_uid;
    assert_true(pam_totp::atomic_replace(path, "x", opts).ok());
    struct stat sb {};
    assert_int_equal(::stat(path.c_str(), &sb), 0);
    assert_int_equal(sb.st_uid, other_uid);
    assert_int_equal(sb.st_gid, other_uid);
    assert_int_equal(sb.st_mode & 07777, 0600);
}

// atomic_replace_at: the same inside a directory already opened, also an
// O_PATH one (as open_checked_directory returns), naming `path` in errors.
void replaces_at_an_open_directory(void** state) {
    const std::string dir = fixture(state).dir;
    for (const int flags : {O_RDONLY | O_DIRECTORY | O_CLOEXEC, O_PATH | O_DIRECTORY | O_CLOEXEC}) {
        const int dfd = ::open(dir.c_str(), flags);
        assert_true(dfd >= 0);
        const auto st = pam_totp::atomic_replace_at(dfd, "at", "/named/in/messages", "content\n", ReplaceOptions{});
        const auto again = pam_totp::atomic_replace_at(dfd, "at", "/named/in/messages", "again\n", ReplaceOptions{});
        // A name that cannot be replaced (a directory): the error names `path`.
        assert_int_equal(::mkdir((dir + "/sub").c_str(), 0700), 0);
        assert_int_equal(::mkdir((dir + "/sub/x").c_str(), 0700), 0);
        const auto bad = pam_totp::atomic_replace_at(dfd, "sub", "/named/in/messages", "x", ReplaceOptions{});
        ::close(dfd);
        assert_true(st.ok());
        assert_true(again.ok());
        assert_false(bad.ok());
        assert_non_null(std::strstr(bad.error().message.c_str(), "/named/in/messages"));
        assert_string_equal(read_file(dir + "/at").c_str(), "again\n");
        assert_int_equal(::rmdir((dir + "/sub/x").c_str()), 0);
        assert_int_equal(::rmdir((dir + "/sub").c_str()), 0);
        const auto names = list_dir(dir);
        assert_int_equal(names.size(), 1);
        assert_int_equal(::unlink((dir + "/at").c_str()), 0);
    }
}

void fails_into_missing_directory(void** state) {
    const std::string dir = fixture(state).dir + "/missing";
    const auto st = pam_totp::atomic_replace(dir + "/file", "x", ReplaceOptions{});
    assert_false(st.ok());
    assert_int_equal(st.error().code, Errc::not_found);
    assert_non_null(std::strstr(st.error().message.c_str(), dir.c_str()));
    assert_int_equal(::access(dir.c_str(), F_OK), -1);
    assert_true(list_dir(fixture(state).dir).empty());

    const auto rel = pam_totp::atomic_replace("relative", "x", ReplaceOptions{});
    assert_false(rel.ok());
    assert_int_equal(rel.error().code, Errc::invalid_argument);
}

void failed_rename_leaves_no_temp(void** state) {
    // The target is a non-empty directory: the temp file is written, the
    // rename fails, and the temp file must be gone again.
    const std::string target = fixture(state).dir + "/target";
    assert_int_equal(::mkdir(target.c_str(), 0700), 0);
    const std::string inner = target + "/inner";
    assert_true(pam_totp::atomic_replace(inner, "keep", ReplaceOptions{}).ok());

    const auto st = pam_totp::atomic_replace(target, "x", ReplaceOptions{});
    assert_false(st.ok());
    assert_non_null(std::strstr(st.error().message.c_str(), "rename"));
    assert_non_null(std::strstr(st.error().message.c_str(), target.c_str()));
    const auto names = list_dir(fixture(state).dir);
    assert_int_equal(names.size(), 1);
    assert_string_equal(names[0].c_str(), "target");
    assert_string_equal(read_file(inner).c_str(), "keep");
}

void full_disk_fails_cleanly(void** state) {
    Fixture& fx = fixture(state);
    const std::string mnt = fx.dir + "/mnt";
    assert_int_equal(::mkdir(mnt.c_str(), 0700), 0);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0700") != 0) {
        print_message("cannot mount a small tmpfs here (%s): ENOSPC test skipped\n", std::strerror(errno));
        skip();
    }
    fx.mounted = true;

    const std::string path = mnt + "/file";
    assert_true(pam_totp::atomic_replace(path, "old content\n", ReplaceOptions{}).ok());
    const std::string huge(1024 * 1024, 'h');
    const auto st = pam_totp::atomic_replace(path, huge, ReplaceOptions{});
    assert_false(st.ok());
    assert_int_equal(st.error().code, Errc::io);
    if (::strcasestr(st.error().message.c_str(), "no space left on device") == nullptr) {
        fail_msg("ENOSPC not stated clearly: %s", st.error().message.c_str());
    }
    assert_non_null(std::strstr(st.error().message.c_str(), path.c_str()));
    // The old file is untouched and the temp file is gone.
    assert_string_equal(read_file(path).c_str(), "old content\n");
    const auto names = list_dir(mnt);
    assert_int_equal(names.size(), 1);
    assert_string_equal(names[0].c_str(), "file");

    assert_int_equal(::umount2(mnt.c_str(), 0), 0);
    fx.mounted = false;
}

// Two contents of 40 KiB that differ everywhere: any mix or truncation shows.
std::string big_content(char fill, char tag) {
    std::string s(40 * 1024, fill);
    s.front() = tag;
    s.back() = tag;
    return s;
}

void survives_sigkill_at_random_moments(void** state) {
    const std::string dir = fixture(state).dir;
    const std::string name = "killed";
    const std::string path = dir + "/" + name;
    const std::string a = big_content('a', 'A');
    const std::string b = big_content('b', 'B');
    assert_true(pam_totp::atomic_replace(path, a, ReplaceOptions{}).ok());

    constexpr int kills = 200;
    int mid_replace = 0;  // kills that left a temp file: the child was inside atomic_replace
    int unchanged = 0;    // the child had not finished its first replace yet
    bool is_a = true;     // what the file holds now; the child first writes the other
    for (int i = 0; i < kills; ++i) {
        int ready[2];
        assert_int_equal(::pipe2(ready, O_CLOEXEC), 0);
        auto delay = pam_totp::random_below(3001);  // microseconds
        assert_true(delay.ok());

        const pid_t pid = ::fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            ::close(ready[0]);
            const char byte = 'r';
            if (::write(ready[1], &byte, 1) != 1) {
                ::_exit(2);
            }
            for (unsigned n = 0;; ++n) {
                const bool write_a = (n % 2 == 0) != is_a;
                if (!pam_totp::atomic_replace(path, write_a ? a : b, ReplaceOptions{}).ok()) {
                    ::_exit(1);
                }
            }
        }
        ::close(ready[1]);
        char byte = 0;
        const ssize_t got = ::read(ready[0], &byte, 1);
        ::close(ready[0]);
        if (got == 1) {
            const struct timespec ts = {0, static_cast<long>(delay.value()) * 1000};
            ::nanosleep(&ts, nullptr);
        }
        ::kill(pid, SIGKILL);
        int status = 0;
        assert_int_equal(::waitpid(pid, &status, 0), pid);
        // Killed by us, not an early exit from a failed replace.
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            fail_msg("writer exited on its own (status %d) at kill %d", status, i);
        }

        const std::string now = read_file(path);
        if (now != a && now != b) {
            fail_msg("kill %d left %zu bytes that are neither the old nor the new content", i, now.size());
        }
        if ((now == a) == is_a) {
            ++unchanged;
        }
        is_a = now == a;
        struct stat sb {};
        assert_int_equal(::stat(path.c_str(), &sb), 0);
        assert_int_equal(sb.st_mode & 07777, 0600);

        bool left_temp = false;
        for (const auto& entry : list_dir(dir)) {
            if (entry == name) {
                continue;
            }
            if (!is_temp_name(entry, name)) {
                fail_msg("unexpected entry after kill %d: %s", i, entry.c_str());
            }
            left_temp = true;
            assert_int_equal(::unlink((dir + "/" + entry).c_str()), 0);
        }
        if (left_temp) {
            ++mid_replace;
        }
    }
    print_message("%d kills: %d landed mid-replace (temp file left behind); content unchanged after %d\n", kills,
                  mid_replace, unchanged);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(replaces_content, setup, teardown),
        cmocka_unit_test_setup_teardown(applies_mode_despite_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(applies_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(replaces_at_an_open_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(fails_into_missing_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_rename_leaves_no_temp, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk_fails_cleanly, setup, teardown),
        cmocka_unit_test_setup_teardown(survives_sigkill_at_random_moments, setup, teardown),
    };
    return cmocka_run_group_tests_name("atomic_replace", tests, nullptr, nullptr);
}
