// safe_open_read, read_bounded, safe_read_file, split_path: every refusal
// and the cases that must be accepted.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cmocka.hpp"
#include "core/files/safe_file.h"
#include "temp_tree.h"

namespace {

using pam_totp::Errc;
using pam_totp::FileRules;

// A uid that is not root and (in CI) not the caller: "nobody".
constexpr uid_t other_uid = 65534;

using unittest::make_dir;
using unittest::temp_dir;
using unittest::temp_tree_setup;
using unittest::temp_tree_teardown;
using unittest::write_file;

// Files and directories the test creates belong to the caller (root in CI).
FileRules my_rules() {
    return FileRules{::geteuid(), true, 64 * 1024};
}

using unittest::expect_unsafe;

void accepts_good_file(void** state) {
    const std::string path = temp_dir(state) + "/good";
    write_file(path, "hello\n");
    auto fd = pam_totp::safe_open_read(path, my_rules());
    assert_true(fd.ok());
    auto data = pam_totp::read_bounded(fd.value().get(), 64);
    assert_true(data.ok());
    assert_true(data.value().view() == "hello\n");

    auto whole = pam_totp::safe_read_file(path, my_rules());
    assert_true(whole.ok());
    assert_true(whole.value().view() == "hello\n");
}

// A name whose case-swapped spelling is the same file is what a directory
// that folds case looks like (here made with a second link, which only
// case_sensitive_dir checks): refused; a different file by that spelling is
// fine.
void case_swapped_name_of_the_same_file_is_refused(void** state) {
    const std::string path = temp_dir(state) + "/alice";
    write_file(path, "hello\n");
    pam_totp::FileRules rules = my_rules();
    rules.case_sensitive_dir = true;
    assert_true(pam_totp::safe_read_file(path, rules).ok());
    const std::string upper = temp_dir(state) + "/ALICE";
    assert_int_equal(::link(path.c_str(), upper.c_str()), 0);
    auto r = pam_totp::safe_read_file(path, rules);
    assert_false(r.ok());
    assert_int_equal(r.error().code, Errc::unsafe);
    assert_non_null(std::strstr(r.error().message.c_str(), "ignores the case"));
    assert_int_equal(::unlink(upper.c_str()), 0);
    write_file(upper, "another\n");
    assert_true(pam_totp::safe_read_file(path, rules).ok());
}

// A directory that tells names apart by case (this test's file system, ext4
// or tmpfs, with no casefold flag) passes case_sensitive_dir; the check
// itself (fstatfs type, FS_IOC_GETFLAGS) must not refuse it.
void case_sensitive_dir_accepts_ordinary_directory(void** state) {
    const std::string path = temp_dir(state) + "/good";
    write_file(path, "hello\n");
    pam_totp::FileRules rules = my_rules();
    rules.case_sensitive_dir = true;
    auto whole = pam_totp::safe_read_file(path, rules);
    if (!whole.ok()) {
        fail_msg("refused: %s", whole.error().message.c_str());
    }
    assert_true(whole.value().view() == "hello\n");
}

void accepts_file_of_the_named_owner(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string path = temp_dir(state) + "/users";
    write_file(path, "x");
    assert_int_equal(::chown(path.c_str(), other_uid, other_uid), 0);
    assert_true(pam_totp::safe_open_read(path, FileRules{other_uid, true, 1024}).ok());
    // Root-owned is fine for that owner too, unless root_may_own is off.
    const std::string rooted = temp_dir(state) + "/rooted";
    write_file(rooted, "x");
    assert_true(pam_totp::safe_open_read(rooted, FileRules{other_uid, true, 1024}).ok());
    expect_unsafe(rooted, FileRules{other_uid, false, 1024}, "owned by uid 0");
}

void accepts_good_file_under_sticky_root_dir(void** state) {
    if (::geteuid() != 0) {
        skip();  // the sticky directory must be root's
    }
    const std::string sub = temp_dir(state) + "/sticky";
    make_dir(sub, 01777);
    const std::string path = sub + "/good";
    write_file(path, "ok");
    assert_true(pam_totp::safe_open_read(path, my_rules()).ok());
}

void accepts_symlinked_directory(void** state) {
    // A home reached through a symlink is allowed (as OpenSSH allows it);
    // only the final component must not be one.
    const std::string real = temp_dir(state) + "/real";
    make_dir(real, 0755);
    write_file(real + "/f", "ok");
    const std::string link = temp_dir(state) + "/link";
    assert_int_equal(::symlink(real.c_str(), link.c_str()), 0);
    auto r = pam_totp::safe_read_file(link + "/f", my_rules());
    assert_true(r.ok());
    assert_true(r.value().view() == "ok");
}

// The walk takes the path as written when it can, and the resolved one
// when the written one has "." or "..", doubled slashes or a link on the
// way: all name the same file, and a refusal says the same either way.
void spellings_of_one_directory_read_the_same_file(void** state) {
    const std::string real = temp_dir(state) + "/real";
    make_dir(real, 0755);
    write_file(real + "/f", "ok");
    const std::string link = temp_dir(state) + "/link";
    assert_int_equal(::symlink(real.c_str(), link.c_str()), 0);
    for (const std::string& path : {real + "/f", real + "/./f", real + "/../real/f", real + "//f",
                                    temp_dir(state) + "//real/f", link + "/../real/f"}) {
        auto r = pam_totp::safe_read_file(path, my_rules());
        assert_true(r.ok());
        assert_true(r.value().view() == "ok");
    }
    assert_int_equal(::chmod(real.c_str(), 0777), 0);
    for (const std::string& path : {real + "/f", link + "/f", real + "/./f"}) {
        auto r = pam_totp::safe_read_file(path, my_rules());
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::unsafe);
        assert_non_null(std::strstr(r.error().message.c_str(), (": parent directory " + real).c_str()));
        assert_non_null(std::strstr(r.error().message.c_str(), "writable by group or others"));
    }
}

// The walk follows a link only from a directory it has checked: one only
// root or the owner can write (whoever made the link there), or a sticky
// one others may write, where only a link of root or the owner with a
// single name is followed (protected_symlinks, protected_hardlinks); and
// never a link in a directory of the user's on the way to a file root
// reads on their behalf. realpath(3), which the walk used to start with,
// followed all of them as root.
void links_are_followed_only_from_checked_directories(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string real = temp_dir(state) + "/real";
    make_dir(real, 0755);
    write_file(real + "/f", "ok");
    // Another uid's link in a directory only root can write: root put it
    // there (as root-squashed NFS or a provisioning account may own it).
    const std::string kept = temp_dir(state) + "/kept";
    assert_int_equal(::symlink(real.c_str(), kept.c_str()), 0);
    assert_int_equal(::lchown(kept.c_str(), other_uid, other_uid), 0);
    assert_true(pam_totp::safe_open_read(kept + "/f", my_rules()).ok());
    // In a sticky directory anyone may write: another user's link is
    // refused; root's is followed, unless it has a second name there.
    const std::string sticky = temp_dir(state) + "/sticky";
    make_dir(sticky, 0755);
    assert_int_equal(::chmod(sticky.c_str(), 01777), 0);
    const std::string theirs = sticky + "/theirs";
    assert_int_equal(::symlink(real.c_str(), theirs.c_str()), 0);
    assert_int_equal(::lchown(theirs.c_str(), other_uid, other_uid), 0);
    expect_unsafe(theirs + "/f", my_rules(), "is a symbolic link made by uid 65534");
    const std::string roots = sticky + "/roots";
    assert_int_equal(::symlink(real.c_str(), roots.c_str()), 0);
    assert_true(pam_totp::safe_open_read(roots + "/f", my_rules()).ok());
    assert_int_equal(::link(roots.c_str(), (sticky + "/second").c_str()), 0);
    expect_unsafe(roots + "/f", my_rules(), "is a symbolic link with 2 names");
    // The owner's own link there is followed for a file of theirs.
    assert_int_equal(::chown(real.c_str(), other_uid, other_uid), 0);
    assert_int_equal(::chown((real + "/f").c_str(), other_uid, other_uid), 0);
    assert_true(pam_totp::safe_open_read(theirs + "/f", FileRules{other_uid, true, 1024}).ok());
    assert_int_equal(::chown(real.c_str(), 0, 0), 0);
    // A root-made link inside a user's directory, on the way to a file root
    // reads from root-owned directories: the user's directory is refused
    // before its link is read.
    const std::string users = temp_dir(state) + "/users";
    make_dir(users, 0755);
    assert_int_equal(::symlink(real.c_str(), (users + "/l").c_str()), 0);
    assert_int_equal(::chown(users.c_str(), other_uid, other_uid), 0);
    FileRules central = my_rules();
    central.root_owned_dirs = true;
    expect_unsafe(users + "/l/f", central, ("parent directory " + users + " is owned by uid 65534").c_str());
    // Root's, but a group may write it (and swap the link): refused too.
    assert_int_equal(::chown(users.c_str(), 0, other_uid), 0);
    assert_int_equal(::chmod(users.c_str(), 0775), 0);
    expect_unsafe(users + "/l/f", central, ("parent directory " + users + " is writable by group or others").c_str());
}

// Relative targets, chains, ".." after a link (the link's target's parent,
// as the kernel resolves it), a loop and a link to a file.
void link_targets_are_walked_like_the_path(void** state) {
    const std::string top = temp_dir(state);
    make_dir(top + "/a", 0755);
    make_dir(top + "/a/b", 0755);
    write_file(top + "/a/b/f", "ok");
    assert_int_equal(::symlink("a/b", (top + "/rel").c_str()), 0);
    assert_int_equal(::symlink("rel", (top + "/chain").c_str()), 0);
    assert_int_equal(::symlink((top + "/a/b").c_str(), (top + "/abs").c_str()), 0);
    for (const std::string& path :
         {top + "/rel/f", top + "/chain/f", top + "/abs/f", top + "/abs/../b/f", top + "/chain/./../b/f"}) {
        auto r = pam_totp::safe_read_file(path, my_rules());
        assert_true(r.ok());
        assert_true(r.value().view() == "ok");
    }
    assert_int_equal(::symlink("loop2", (top + "/loop1").c_str()), 0);
    assert_int_equal(::symlink("loop1", (top + "/loop2").c_str()), 0);
    auto loop = pam_totp::safe_read_file(top + "/loop1/f", my_rules());
    assert_false(loop.ok());
    assert_non_null(std::strstr(loop.error().message.c_str(), "symbolic links"));
    assert_int_equal(::symlink((top + "/a/b/f").c_str(), (top + "/tofile").c_str()), 0);
    auto file = pam_totp::safe_read_file(top + "/tofile/f", my_rules());
    assert_false(file.ok());
    assert_non_null(std::strstr(file.error().message.c_str(), "Not a directory"));
    auto dangling = pam_totp::safe_read_file(top + "/a/none/f", my_rules());
    assert_false(dangling.ok());
    assert_int_equal(dangling.error().code, Errc::not_found);
}

void missing_file_is_not_found(void** state) {
    auto r = pam_totp::safe_open_read(temp_dir(state) + "/absent", my_rules());
    assert_false(r.ok());
    assert_int_equal(r.error().code, Errc::not_found);
    // A missing directory means a missing file as well.
    auto r2 = pam_totp::safe_open_read(temp_dir(state) + "/nodir/absent", my_rules());
    assert_false(r2.ok());
    assert_int_equal(r2.error().code, Errc::not_found);
}

void relative_path_is_invalid(void** /*state*/) {
    auto r = pam_totp::safe_open_read("relative/file", my_rules());
    assert_false(r.ok());
    assert_int_equal(r.error().code, Errc::invalid_argument);
}

void refuses_symlink_to_good_file(void** state) {
    const std::string target = temp_dir(state) + "/target";
    write_file(target, "secret");
    const std::string link = temp_dir(state) + "/link";
    assert_int_equal(::symlink(target.c_str(), link.c_str()), 0);
    expect_unsafe(link, my_rules(), "symbolic link");
}

void on_alarm(int /*sig*/) {}

void refuses_fifo_promptly(void** state) {
    const std::string path = temp_dir(state) + "/fifo";
    assert_int_equal(::mkfifo(path.c_str(), 0600), 0);
    // Should the open block after all, SIGALRM (no SA_RESTART) interrupts it
    // and the test fails instead of hanging.
    struct sigaction sa {};
    struct sigaction old {};
    sa.sa_handler = on_alarm;
    ::sigemptyset(&sa.sa_mask);
    assert_int_equal(::sigaction(SIGALRM, &sa, &old), 0);
    ::alarm(5);
    const auto start = std::chrono::steady_clock::now();
    auto r = pam_totp::safe_open_read(path, my_rules());
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ::alarm(0);
    ::sigaction(SIGALRM, &old, nullptr);
    assert_true(elapsed < std::chrono::seconds(1));
    assert_false(r.ok());
    assert_int_equal(r.error().code, Errc::unsafe);
    assert_non_null(std::strstr(r.error().message.c_str(), "not a regular file"));
}

void refuses_directory(void** state) {
    const std::string path = temp_dir(state) + "/adir";
    make_dir(path, 0700);
    expect_unsafe(path, my_rules(), "is a directory");
}

void refuses_wrong_owner(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string path = temp_dir(state) + "/theirs";
    write_file(path, "x");
    assert_int_equal(::chown(path.c_str(), other_uid, other_uid), 0);
    expect_unsafe(path, my_rules(), "owned by uid 65534");
    // Owned by someone who is neither the named owner nor root.
    expect_unsafe(path, FileRules{1000, true, 1024}, "owned by uid 65534");
}

void refuses_group_or_other_access(void** state) {
    for (const mode_t mode : {0644, 0660, 0604, 0640, 0606, 0610, 0601}) {
        const std::string path = temp_dir(state) + "/mode" + std::to_string(mode);
        write_file(path, "x", mode);
        expect_unsafe(path, my_rules(), "group or others have access");
        expect_unsafe(path, my_rules(), "chmod 600");
    }
    // The message shows the offending mode.
    const std::string path = temp_dir(state) + "/mode420";
    auto r = pam_totp::safe_open_read(path, my_rules());
    assert_false(r.ok());
    assert_non_null(std::strstr(r.error().message.c_str(), "mode 0644"));
}

void refuses_oversize(void** state) {
    const std::string path = temp_dir(state) + "/big";
    write_file(path, std::string(101, 'a'));
    expect_unsafe(path, FileRules{::geteuid(), true, 100}, "too large");
    // Exactly at the limit is fine.
    assert_true(pam_totp::safe_open_read(path, FileRules{::geteuid(), true, 101}).ok());
}

void refuses_parent_writable_by_others(void** state) {
    for (const mode_t mode : {0777, 0775, 0757}) {
        const std::string sub = temp_dir(state) + "/open" + std::to_string(mode);
        make_dir(sub, mode);
        write_file(sub + "/f", "x");
        expect_unsafe(sub + "/f", my_rules(), "writable by group or others");
        expect_unsafe(sub + "/f", my_rules(), sub.c_str());
    }
}

void refuses_sticky_parent_not_owned_by_root(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    // Sticky only protects entries when the directory's owner is trusted.
    const std::string sub = temp_dir(state) + "/usersticky";
    make_dir(sub, 01777);
    write_file(sub + "/f", "x", 0600);
    assert_int_equal(::chown(sub.c_str(), other_uid, other_uid), 0);
    assert_int_equal(::chmod(sub.c_str(), 01777), 0);
    expect_unsafe(sub + "/f", FileRules{other_uid, true, 1024}, "writable by group or others");
}

void refuses_parent_owned_by_other_user(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string sub = temp_dir(state) + "/otherdir";
    make_dir(sub, 0755);
    write_file(sub + "/f", "x");
    assert_int_equal(::chown(sub.c_str(), other_uid, other_uid), 0);
    expect_unsafe(sub + "/f", my_rules(), "is owned by uid 65534, not by root");
    // The same directory is fine for the user who owns it.
    assert_true(pam_totp::safe_open_read(sub + "/f", FileRules{other_uid, true, 1024}).ok());
}

void read_bounded_limits(void** state) {
    const std::string path = temp_dir(state) + "/data";
    std::string content(5000, 'z');
    content[0] = 'a';
    content[4999] = 'b';
    write_file(path, content);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);

    auto exact = pam_totp::read_bounded(fd, 5000);
    assert_true(exact.ok());
    assert_int_equal(exact.value().size(), 5000);
    assert_true(exact.value().view() == content);

    // Reads from offset 0 whatever the file position.
    assert_int_equal(::lseek(fd, 100, SEEK_SET), 100);
    auto again = pam_totp::read_bounded(fd, 10000);
    assert_true(again.ok());
    assert_true(again.value().view() == content);

    auto over = pam_totp::read_bounded(fd, 4999);
    assert_false(over.ok());
    assert_non_null(std::strstr(over.error().message.c_str(), "larger than 4999"));
    assert_int_equal(::close(fd), 0);

    const std::string empty = temp_dir(state) + "/empty";
    write_file(empty, "");
    const int efd = ::open(empty.c_str(), O_RDONLY | O_CLOEXEC);
    assert_true(efd >= 0);
    auto none = pam_totp::read_bounded(efd, 0);
    ::close(efd);
    assert_true(none.ok());
    assert_int_equal(none.value().size(), 0);
}

void read_bounded_notices_growth(void** state) {
    // fstat says small, but the file holds more by the time it is read: the
    // limit still holds (the buffer grows only up to max_size + 1).
    const std::string path = temp_dir(state) + "/grows";
    write_file(path, "small");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    write_file(path, std::string(20000, 'g'));  // same inode, O_TRUNC
    auto r = pam_totp::read_bounded(fd, 10000);
    auto ok = pam_totp::read_bounded(fd, 20000);
    ::close(fd);
    assert_false(r.ok());
    assert_true(ok.ok());
    assert_int_equal(ok.value().size(), 20000);
}

void safe_read_file_reports_path(void** state) {
    const std::string path = temp_dir(state) + "/bad";
    write_file(path, "x", 0644);
    auto r = pam_totp::safe_read_file(path, my_rules());
    assert_false(r.ok());
    assert_int_equal(r.error().code, Errc::unsafe);
    assert_non_null(std::strstr(r.error().message.c_str(), path.c_str()));
}

void split_path_cases(void** /*state*/) {
    auto a = pam_totp::split_path("/a/b/c");
    assert_true(a.ok());
    assert_string_equal(a.value().first.c_str(), "/a/b");
    assert_string_equal(a.value().second.c_str(), "c");
    auto b = pam_totp::split_path("/c");
    assert_true(b.ok());
    assert_string_equal(b.value().first.c_str(), "/");
    assert_string_equal(b.value().second.c_str(), "c");
    auto c = pam_totp::split_path("/a//c");
    assert_true(c.ok());
    assert_string_equal(c.value().first.c_str(), "/a");
    assert_string_equal(c.value().second.c_str(), "c");
    for (const char* bad : {"", "c", "a/b", "/a/b/", "/", "/a/..", "/a/."}) {
        auto r = pam_totp::split_path(bad);
        assert_false(r.ok());
        assert_int_equal(r.error().code, Errc::invalid_argument);
    }
}

// The refusal is Errc::not_found (not unsafe: nothing is there to refuse).
void expect_not_found(const std::string& path, const FileRules& rules) {
    auto r = pam_totp::safe_open_read(path, rules);
    assert_false(r.ok());
    if (r.error().code != Errc::not_found) {
        fail_msg("expected Errc::not_found, got %d: %s", static_cast<int>(r.error().code), r.error().message.c_str());
    }
}

void missing_directories_are_not_found(void** state) {
    expect_not_found(temp_dir(state) + "/nodir/absent", my_rules());
    expect_not_found(temp_dir(state) + "/nodir/deeper/absent", my_rules());
}

// single_link (a state file): a second name for the file is refused.
void single_link_refuses_a_second_name(void** state) {
    const std::string path = temp_dir(state) + "/state";
    write_file(path, "x");
    FileRules rules = my_rules();
    rules.single_link = true;
    assert_true(pam_totp::safe_open_read(path, rules).ok());
    const std::string other = temp_dir(state) + "/state-too";
    assert_int_equal(::link(path.c_str(), other.c_str()), 0);
    expect_unsafe(path, rules, "has 2 links, expected 1");
    // Without the rule the same file is fine.
    assert_true(pam_totp::safe_open_read(path, my_rules()).ok());
}

// root_owned_dirs: a directory owned by the file's owner (fine by default)
// is refused, so that root never walks a directory the user controls.
void root_owned_dirs_refuses_a_users_directory(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    const std::string sub = temp_dir(state) + "/usersdir";
    make_dir(sub, 0755);
    write_file(sub + "/f", "x");
    assert_int_equal(::chown(sub.c_str(), other_uid, other_uid), 0);
    FileRules rules{.owner = other_uid, .root_may_own = true, .max_size = 1024};
    assert_true(pam_totp::safe_open_read(sub + "/f", rules).ok());
    rules.root_owned_dirs = true;
    expect_unsafe(sub + "/f", rules, "not by root");
}

// safe_open_read_at: the file's checks, inside a directory already open.
void open_read_at_checks_the_file(void** state) {
    const std::string dir = temp_dir(state);
    write_file(dir + "/good", "ok");
    write_file(dir + "/open", "x", 0644);
    assert_int_equal(::symlink((dir + "/good").c_str(), (dir + "/link").c_str()), 0);
    const pam_totp::UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    assert_true(dfd.valid());
    auto good = pam_totp::safe_open_read_at(dfd.get(), "good", dir + "/good", my_rules());
    assert_true(good.ok());
    auto open = pam_totp::safe_open_read_at(dfd.get(), "open", dir + "/open", my_rules());
    assert_false(open.ok());
    assert_int_equal(open.error().code, Errc::unsafe);
    auto link = pam_totp::safe_open_read_at(dfd.get(), "link", dir + "/link", my_rules());
    assert_false(link.ok());
    assert_int_equal(link.error().code, Errc::unsafe);
    auto absent = pam_totp::safe_open_read_at(dfd.get(), "absent", dir + "/absent", my_rules());
    assert_false(absent.ok());
    assert_int_equal(absent.error().code, Errc::not_found);
}

// check_directory: the walk's rule, and state_dir's stricter private rule.
void check_directory_rules(void** state) {
    const std::string dir = temp_dir(state) + "/d";
    make_dir(dir, 0755);
    struct stat st {};
    assert_int_equal(::stat(dir.c_str(), &st), 0);
    const uid_t me = ::geteuid();
    assert_true(pam_totp::check_directory(st, dir, pam_totp::DirRules{.owner = me}).ok());
    auto priv = pam_totp::check_directory(st, dir, pam_totp::DirRules{.owner = me, .private_dir = true});
    assert_false(priv.ok());
    assert_int_equal(priv.error().code, Errc::unsafe);
    assert_non_null(std::strstr(priv.error().message.c_str(), "chmod 700"));
    assert_int_equal(::chmod(dir.c_str(), 0700), 0);
    assert_int_equal(::stat(dir.c_str(), &st), 0);
    assert_true(pam_totp::check_directory(st, dir, pam_totp::DirRules{.owner = me, .private_dir = true}).ok());
    // A private directory must be the owner's exactly (root's is not enough).
    auto other = pam_totp::check_directory(st, dir, pam_totp::DirRules{.owner = me + 1, .private_dir = true});
    assert_false(other.ok());
    assert_non_null(std::strstr(other.error().message.c_str(), "run chown"));
    // Writable by others: refused by the walk's rule too.
    assert_int_equal(::chmod(dir.c_str(), 0777), 0);
    assert_int_equal(::stat(dir.c_str(), &st), 0);
    assert_false(pam_totp::check_directory(st, dir, pam_totp::DirRules{.owner = me}).ok());
    // Not a directory.
    write_file(temp_dir(state) + "/f", "x");
    assert_int_equal(::stat((temp_dir(state) + "/f").c_str(), &st), 0);
    auto notdir = pam_totp::check_directory(st, "f", pam_totp::DirRules{.owner = me});
    assert_false(notdir.ok());
    assert_non_null(std::strstr(notdir.error().message.c_str(), "is not a directory"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(accepts_good_file, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(case_sensitive_dir_accepts_ordinary_directory, temp_tree_setup,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(case_swapped_name_of_the_same_file_is_refused, temp_tree_setup,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(accepts_file_of_the_named_owner, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(accepts_good_file_under_sticky_root_dir, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(accepts_symlinked_directory, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(spellings_of_one_directory_read_the_same_file, temp_tree_setup,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(links_are_followed_only_from_checked_directories, temp_tree_setup,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(link_targets_are_walked_like_the_path, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(missing_file_is_not_found, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test(relative_path_is_invalid),
        cmocka_unit_test_setup_teardown(refuses_symlink_to_good_file, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_fifo_promptly, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_directory, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_wrong_owner, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_group_or_other_access, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_oversize, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_parent_writable_by_others, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_sticky_parent_not_owned_by_root, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_parent_owned_by_other_user, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(read_bounded_limits, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(read_bounded_notices_growth, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(safe_read_file_reports_path, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test(split_path_cases),
        cmocka_unit_test_setup_teardown(missing_directories_are_not_found, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(single_link_refuses_a_second_name, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(root_owned_dirs_refuses_a_users_directory, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(open_read_at_checks_the_file, temp_tree_setup, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(check_directory_rules, temp_tree_setup, temp_tree_teardown),
    };
    return cmocka_run_group_tests_name("safe_file", tests, nullptr, nullptr);
}
