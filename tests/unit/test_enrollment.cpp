// What totp-enroll does to a secret file (enroll_tool/enrollment.h): new
// enrollments, recovery codes and their hashes, and SecretFileEditor in a
// temp directory (round trip, exists, remove, the directory check, mode,
// and the .NAME.lock lock file).
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cmocka.hpp"
#include "core/files/secret_file.h"
#include "core/otp/recovery.h"
#include "enroll_tool/enrollment.h"

namespace {

using pam_totp::Errc;
using pam_totp::SecretFile;
using pam_totp::SecretFileEditor;
using pam_totp::SecureBuffer;
using pam_totp::TotpParams;

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

// --- fixture: one temp directory per test, removed even when it fails ------

struct TempDir {
    std::string path;
};

int remove_entry(const char* path, const struct stat* /*st*/, int /*flag*/, struct FTW* /*ftw*/) {
    return ::remove(path);
}

int make_dir(void** state) {
    char templ[] = "/tmp/test_enrollment.XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
        return -1;
    }
    *state = new TempDir{templ};
    return 0;
}

int remove_dir(void** state) {
    const std::unique_ptr<TempDir> dir(static_cast<TempDir*>(*state));
    return ::nftw(dir->path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const std::string& dir_of(void** state) {
    return static_cast<TempDir*>(*state)->path;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    const std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
    assert_non_null(d.get());
    while (const struct dirent* e = ::readdir(d.get())) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") {
            out.push_back(name);
        }
    }
    return out;
}

std::vector<std::string> sorted_entries(const std::string& dir) {
    std::vector<std::string> out = entries(dir);
    std::sort(out.begin(), out.end());
    return out;
}

SecretFile enrollment(std::size_t codes) {
    auto file = pam_totp::new_enrollment(TotpParams{}, 1764290000);
    assert_true(file.ok());
    auto made = pam_totp::replace_recovery_codes(file.value(), codes);
    assert_true(made.ok());
    return std::move(file).value();
}

// --- new_enrollment and recovery codes ---------------------------------------

void new_enrollment_is_random(void** /*state*/) {
    TotpParams p;
    p.algorithm = pam_totp::Algorithm::sha512;
    p.digits = 8;
    p.period = 45;
    auto a = pam_totp::new_enrollment(p, 1764290000);
    auto b = pam_totp::new_enrollment(p, 1764290000);
    assert_true(a.ok() && b.ok());
    // One TOTP token, named as a format 1 file's, added at enrollment.
    assert_int_equal(a.value().tokens.size(), 1);
    assert_int_equal(b.value().tokens.size(), 1);
    const pam_totp::TokenEntry& ta = a.value().tokens.front();
    const pam_totp::TokenEntry& tb = b.value().tokens.front();
    assert_true(ta.name == pam_totp::default_token_name);
    assert_true(ta.type == pam_totp::TokenType::totp);
    assert_int_equal(ta.added, 1764290000);
    assert_int_equal(ta.key.size(), 20);
    assert_int_equal(pam_totp::new_key_bytes, 20);
    assert_int_equal(tb.key.size(), 20);
    assert_false(ta.key.view() == tb.key.view());
    assert_int_equal(a.value().enrollment_id.size(), 32);
    assert_true(a.value().enrollment_id.find_first_not_of("0123456789abcdef") == std::string::npos);
    assert_string_not_equal(a.value().enrollment_id.c_str(), b.value().enrollment_id.c_str());
    assert_int_equal(a.value().enrolled, 1764290000);
    assert_true(ta.params.algorithm == pam_totp::Algorithm::sha512);
    assert_int_equal(ta.params.digits, 8);
    assert_int_equal(ta.params.period, 45);
    assert_true(a.value().recovery_hashes.empty());
    assert_false(a.value().window.has_value());
}

void new_enrollment_refuses_bad_params(void** /*state*/) {
    TotpParams p;
    p.digits = 7;
    assert_false(pam_totp::new_enrollment(p, 0).ok());
    TotpParams q;
    q.period = 121;
    assert_false(pam_totp::new_enrollment(q, 0).ok());
}

void recovery_codes_verify(void** /*state*/) {
    auto file = pam_totp::new_enrollment(TotpParams{}, 1764290000);
    assert_true(file.ok());
    auto codes = pam_totp::replace_recovery_codes(file.value(), 4);
    assert_true(codes.ok());
    const auto& hashes = file.value().recovery_hashes;
    assert_int_equal(codes.value().size(), 4);
    assert_int_equal(hashes.size(), 4);
    for (std::size_t i = 0; i < codes.value().size(); ++i) {
        const std::string_view printed = codes.value()[i].view();
        assert_int_equal(printed.size(), 14);  // XXXX-XXXX-XXXX
        assert_true(printed[4] == '-' && printed[9] == '-');
        assert_true(contains(hashes[i], "$y$") && hashes[i].rfind("$y$", 0) == 0);
        assert_false(contains(hashes[i], printed));
        auto canonical = pam_totp::normalise_recovery_code(printed);
        assert_true(canonical.ok());
        assert_false(contains(hashes[i], canonical.value().view()));
        auto idx = pam_totp::find_recovery_code(canonical.value(), hashes, {});
        assert_true(idx.ok());
        assert_int_equal(idx.value(), static_cast<long>(i));
        // Once used (its id remembered), it no longer matches.
        auto used =
            pam_totp::find_recovery_code(canonical.value(), hashes, {pam_totp::recovery_code_setting(hashes[i])});
        assert_true(used.ok());
        assert_int_equal(used.value(), -1);
    }
    // New codes replace the old ones entirely.
    const std::vector<std::string> old = hashes;
    auto old_canonical = pam_totp::normalise_recovery_code(codes.value()[0].view());
    assert_true(old_canonical.ok());
    auto again = pam_totp::replace_recovery_codes(file.value(), 2);
    assert_true(again.ok());
    assert_int_equal(file.value().recovery_hashes.size(), 2);
    for (const auto& h : file.value().recovery_hashes) {
        for (const auto& o : old) {
            assert_string_not_equal(h.c_str(), o.c_str());
        }
    }
    auto gone = pam_totp::find_recovery_code(old_canonical.value(), file.value().recovery_hashes, {});
    assert_true(gone.ok());
    assert_int_equal(gone.value(), -1);
}

void recovery_code_limits(void** /*state*/) {
    auto file = pam_totp::new_enrollment(TotpParams{}, 0);
    assert_true(file.ok());
    auto none = pam_totp::replace_recovery_codes(file.value(), 0);
    assert_true(none.ok());
    assert_true(none.value().empty());
    assert_true(file.value().recovery_hashes.empty());
    auto too_many = pam_totp::replace_recovery_codes(file.value(), pam_totp::max_recovery_codes + 1);
    assert_false(too_many.ok());
    assert_int_equal(too_many.error().code, Errc::invalid_argument);
}

void add_recovery_hashes_for_scratch_codes(void** /*state*/) {
    SecretFile file = enrollment(1);
    std::vector<SecureBuffer> scratch;
    scratch.emplace_back(std::string_view("47829351"));
    scratch.emplace_back(std::string_view("10384726"));
    assert_true(pam_totp::add_recovery_hashes(file, scratch).ok());
    assert_int_equal(file.recovery_hashes.size(), 3);
    auto idx = pam_totp::find_recovery_code(scratch[1], file.recovery_hashes, {});
    assert_true(idx.ok());
    assert_int_equal(idx.value(), 2);
    std::vector<SecureBuffer> lots(pam_totp::max_recovery_codes);
    assert_false(pam_totp::add_recovery_hashes(file, lots).ok());
}

// --- SecretFileEditor ----------------------------------------------------------

void editor_round_trip(void** state) {
    const std::string dir = dir_of(state);
    const std::string path = dir + "/secret";
    auto editor = SecretFileEditor::open(path, ::getuid(), ::getgid(), false);
    assert_true(editor.ok());
    assert_string_equal(editor.value().path().c_str(), path.c_str());
    assert_false(editor.value().exists());
    auto nothing = editor.value().read();
    assert_true(nothing.ok());
    assert_false(nothing.value().has_value());

    SecretFile file = enrollment(3);
    file.window = 4;
    assert_true(editor.value().write(file).ok());
    assert_true(editor.value().exists());

    struct stat st {};
    assert_int_equal(::lstat(path.c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, ::getuid());
    // No temp file left next to it: the file and its lock.
    assert_true(sorted_entries(dir) == (std::vector<std::string>{".secret.lock", "secret"}));
    // A new single-token enrollment is written as format 1, which an older
    // pam_totp still reads after a downgrade (core/files/secret_file.h).
    char first_line[16] = {};
    {
        const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "r"), std::fclose);
        assert_non_null(f.get());
        assert_non_null(std::fgets(first_line, sizeof first_line, f.get()));
    }
    assert_string_equal(first_line, "version 1\n");

    auto back = editor.value().read();
    assert_true(back.ok());
    assert_true(back.value().has_value());
    const SecretFile& r = *back.value();
    assert_int_equal(r.tokens.size(), 1);
    const pam_totp::TokenEntry& rt = r.tokens.front();
    const pam_totp::TokenEntry& ft = file.tokens.front();
    assert_true(rt.name == ft.name);
    assert_true(rt.key.view() == ft.key.view());
    assert_true(rt.params.algorithm == ft.params.algorithm);
    assert_int_equal(rt.params.digits, ft.params.digits);
    assert_int_equal(rt.params.period, ft.params.period);
    assert_true(r.window.has_value());
    assert_int_equal(*r.window, 4);
    assert_int_equal(r.enrolled, file.enrolled);
    assert_string_equal(r.enrollment_id.c_str(), file.enrollment_id.c_str());
    assert_true(r.recovery_hashes == file.recovery_hashes);
}

void editor_write_replaces(void** state) {
    const std::string path = dir_of(state) + "/secret";
    auto editor = SecretFileEditor::open(path, ::getuid(), ::getgid(), false);
    assert_true(editor.ok());
    const SecretFile first = enrollment(1);
    const SecretFile second = enrollment(2);
    assert_true(editor.value().write(first).ok());
    assert_true(editor.value().write(second).ok());
    auto back = editor.value().read();
    assert_true(back.ok() && back.value().has_value());
    assert_true(back.value()->tokens.front().key.view() == second.tokens.front().key.view());
    assert_int_equal(back.value()->recovery_hashes.size(), 2);
    assert_true(sorted_entries(dir_of(state)) == (std::vector<std::string>{".secret.lock", "secret"}));
    struct stat st {};
    assert_int_equal(::stat(path.c_str(), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

void editor_remove(void** state) {
    const std::string path = dir_of(state) + "/secret";
    auto editor = SecretFileEditor::open(path, ::getuid(), ::getgid(), false);
    assert_true(editor.ok());
    assert_true(editor.value().write(enrollment(0)).ok());
    assert_true(editor.value().exists());
    assert_true(editor.value().remove().ok());
    assert_false(editor.value().exists());
    // The lock stays: a stable file, never renamed over.
    assert_true(sorted_entries(dir_of(state)) == (std::vector<std::string>{".secret.lock"}));
    const pam_totp::Status again = editor.value().remove();
    assert_false(again.ok());
    assert_int_equal(again.error().code, Errc::not_found);
}

void editor_exists_for_any_entry(void** state) {
    // A symlink or a directory at the path is "there": enrolling must not
    // silently replace it without --force.
    const std::string path = dir_of(state) + "/secret";
    assert_int_equal(::symlink("/nonexistent", path.c_str()), 0);
    auto editor = SecretFileEditor::open(path, ::getuid(), ::getgid(), false);
    assert_true(editor.ok());
    assert_true(editor.value().exists());
    // ... but reading through it is refused.
    auto read = editor.value().read();
    assert_false(read.ok());
    assert_true(contains(read.error().message, path));
}

void editor_refuses_group_writable_dir(void** state) {
    const std::string sub = dir_of(state) + "/open";
    assert_int_equal(::mkdir(sub.c_str(), 0700), 0);
    assert_int_equal(::chmod(sub.c_str(), 0770), 0);
    auto editor = SecretFileEditor::open(sub + "/secret", ::getuid(), ::getgid(), false);
    assert_false(editor.ok());
    assert_int_equal(editor.error().code, Errc::unsafe);
    assert_true(contains(editor.error().message, "writable by group or others"));
    assert_int_equal(::chmod(sub.c_str(), 0702), 0);
    assert_false(SecretFileEditor::open(sub + "/secret", ::getuid(), ::getgid(), false).ok());
    assert_int_equal(::chmod(sub.c_str(), 0755), 0);
    // Refused before anything was created there.
    assert_true(entries(sub).empty());
    assert_true(SecretFileEditor::open(sub + "/secret", ::getuid(), ::getgid(), false).ok());
}

// A central file (handled as root on a user's behalf) must sit in
// root-owned directories: a directory of the user's is refused even though
// the user owns the file, so root never walks what the user controls.
void editor_central_needs_root_owned_dirs(void** state) {
    if (::geteuid() != 0) {
        skip();
    }
    constexpr uid_t user = 65534;
    const std::string sub = dir_of(state) + "/theirs";
    assert_int_equal(::mkdir(sub.c_str(), 0755), 0);
    assert_int_equal(::chown(sub.c_str(), user, user), 0);
    auto central = SecretFileEditor::open(sub + "/secret", user, user, true);
    assert_false(central.ok());
    assert_int_equal(central.error().code, Errc::unsafe);
    assert_true(contains(central.error().message, "root-owned"));
    // As a home file of that user the same directory is fine.
    assert_true(SecretFileEditor::open(sub + "/secret", user, user, false).ok());
}

void editor_missing_dir_is_not_found(void** state) {
    auto editor = SecretFileEditor::open(dir_of(state) + "/nodir/secret", ::getuid(), ::getgid(), false);
    assert_false(editor.ok());
    assert_int_equal(editor.error().code, Errc::not_found);
    assert_false(SecretFileEditor::open("relative/secret", ::getuid(), ::getgid(), false).ok());
}

void editor_read_names_a_bad_file(void** state) {
    const std::string path = dir_of(state) + "/secret";
    FILE* f = std::fopen(path.c_str(), "w");
    assert_non_null(f);
    std::fputs("version 1\nsecret JBSWY3DPEHPK3PXP\nbogus 1\n", f);
    assert_int_equal(std::fclose(f), 0);
    assert_int_equal(::chmod(path.c_str(), 0600), 0);
    auto editor = SecretFileEditor::open(path, ::getuid(), ::getgid(), false);
    assert_true(editor.ok());
    auto read = editor.value().read();
    assert_false(read.ok());
    assert_int_equal(read.error().code, Errc::format);
    assert_true(contains(read.error().message, path));
    assert_false(contains(read.error().message, "JBSWY3DPEHPK3PXP"));
    // A readable-by-others file is refused too.
    assert_int_equal(::chmod(path.c_str(), 0644), 0);
    assert_false(editor.value().read().ok());
}

// --- the lock: .NAME.lock beside the file ----------------------------------

// The lock is a file of its own, 0600, owned by whoever edits: a lock on the
// directory (which any local user who can read it could take) does not
// hold totp-enroll up.
void editor_locks_a_private_lock_file(void** state) {
    const std::string dir = dir_of(state);
    const pam_totp::UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    assert_true(dfd.valid());
    assert_int_equal(::flock(dfd.get(), LOCK_EX | LOCK_NB), 0);  // someone else's lock on the directory
    const auto start = std::chrono::steady_clock::now();
    auto editor = SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false);
    assert_true(editor.ok());
    assert_true(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    struct stat st {};
    assert_int_equal(::lstat((dir + "/.secret.lock").c_str(), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, ::geteuid());
    // The editor holds it: another open file description cannot take it.
    const pam_totp::UniqueFd other(::open((dir + "/.secret.lock").c_str(), O_RDONLY | O_CLOEXEC));
    assert_true(other.valid());
    assert_int_equal(::flock(other.get(), LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
}

// True once process `pid` has the file `path` open (polling /proc, at
// most about 5 s).
bool has_open(pid_t pid, const std::string& path) {
    struct stat want {};
    if (::stat(path.c_str(), &want) != 0) {
        return false;
    }
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    for (int i = 0; i < 5000; ++i) {
        bool found = false;
        if (DIR* d = ::opendir(fd_dir.c_str())) {
            while (const struct dirent* e = ::readdir(d)) {
                struct stat st {};
                found = found || (::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && st.st_ino == want.st_ino &&
                                  st.st_dev == want.st_dev);
            }
            ::closedir(d);
        }
        if (found) {
            return true;
        }
        const timespec pause{0, 1000 * 1000};
        ::nanosleep(&pause, nullptr);
    }
    return false;
}

// A second totp-enroll for the same file waits for the first to finish:
// the first (a child) keeps the lock until the second has the lock file
// open, so the second can only succeed by waiting for it.
void editor_waits_for_another_editor(void** state) {
    const std::string dir = dir_of(state);
    int ready[2];
    assert_int_equal(::pipe(ready), 0);
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    assert_true(child >= 0);
    if (child == 0) {
        ::close(ready[0]);
        auto held = SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false);
        const char ok = held.ok() ? 'y' : 'n';
        if (::write(ready[1], &ok, 1) != 1) {
            ::_exit(2);
        }
        // Released once the parent is waiting for it (or has given up).
        ::_exit(held.ok() && has_open(parent, dir + "/.secret.lock") ? 0 : 1);
    }
    ::close(ready[1]);
    char ok = 0;
    assert_int_equal(::read(ready[0], &ok, 1), 1);
    ::close(ready[0]);
    assert_int_equal(ok, 'y');
    auto editor = SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false);
    int status = 0;
    assert_int_equal(::waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(editor.ok());
}

// A lock file that is not the editor's alone is refused: a symlink, one
// readable by others, one owned by someone else.
void editor_refuses_a_foreign_lock_file(void** state) {
    const std::string dir = dir_of(state);
    const std::string lock = dir + "/.secret.lock";
    assert_int_equal(::symlink((dir + "/elsewhere").c_str(), lock.c_str()), 0);
    auto linked = SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false);
    assert_false(linked.ok());
    assert_int_equal(linked.error().code, Errc::unsafe);
    assert_true(contains(linked.error().message, ".secret.lock"));
    assert_int_equal(::unlink(lock.c_str()), 0);

    const int fd = ::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(::fchmod(fd, 0644), 0);
    ::close(fd);
    auto open_mode = SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false);
    assert_false(open_mode.ok());
    assert_int_equal(open_mode.error().code, Errc::unsafe);
    assert_int_equal(::chmod(lock.c_str(), 0600), 0);
    assert_true(SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false).ok());
    if (::geteuid() == 0) {
        assert_int_equal(::chown(lock.c_str(), 65534, 65534), 0);
        auto theirs = SecretFileEditor::open(dir + "/secret", ::getuid(), ::getgid(), false);
        assert_false(theirs.ok());
        assert_int_equal(theirs.error().code, Errc::unsafe);
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_enrollment_is_random),
        cmocka_unit_test(new_enrollment_refuses_bad_params),
        cmocka_unit_test(recovery_codes_verify),
        cmocka_unit_test(recovery_code_limits),
        cmocka_unit_test(add_recovery_hashes_for_scratch_codes),
        cmocka_unit_test_setup_teardown(editor_round_trip, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_write_replaces, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_remove, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_exists_for_any_entry, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_refuses_group_writable_dir, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_central_needs_root_owned_dirs, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_missing_dir_is_not_found, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_read_names_a_bad_file, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_locks_a_private_lock_file, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_waits_for_another_editor, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(editor_refuses_a_foreign_lock_file, make_dir, remove_dir),
    };
    return cmocka_run_group_tests_name("enrollment", tests, nullptr, nullptr);
}
