#include "temp_tree.h"

#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>

#include "cmocka.hpp"

namespace unittest {
namespace {

struct TempTree {
    std::string dir;
};

int remove_entry(const char* path, const struct stat* /*st*/, int type, struct FTW* /*ftw*/) {
    if (type == FTW_DP) {
        return ::rmdir(path);
    }
    return ::unlink(path);
}

int make_tree(void** state, const std::string& base) {
    std::string templ = base + "/pam_totp-unit.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
        return -1;
    }
    *state = new TempTree{templ};
    return 0;
}

}  // namespace

int temp_tree_setup(void** state) {
    return make_tree(state, "/tmp");
}

int temp_tree_setup_in_memory(void** state) {
    struct statfs sfs {};
    const bool tmpfs = ::statfs("/dev/shm", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
    return make_tree(state, tmpfs ? "/dev/shm" : "/tmp");
}

int temp_tree_teardown(void** state) {
    auto* tree = static_cast<TempTree*>(*state);
    const int rc = ::nftw(tree->dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    delete tree;
    return rc;
}

const std::string& temp_dir(void** state) {
    return static_cast<TempTree*>(*state)->dir;
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    assert_int_equal(::fchmod(fd, mode), 0);
    assert_int_equal(::close(fd), 0);
}

void make_dir(const std::string& path, mode_t mode) {
    assert_int_equal(::mkdir(path.c_str(), 0700), 0);
    assert_int_equal(::chmod(path.c_str(), mode), 0);
}

void expect_unsafe(const std::string& path, const pam_totp::FileRules& rules, const char* why) {
    auto r = pam_totp::safe_open_read(path, rules);
    assert_false(r.ok());
    if (r.error().code != pam_totp::Errc::unsafe) {
        fail_msg("expected Errc::unsafe, got %d: %s", static_cast<int>(r.error().code), r.error().message.c_str());
    }
    assert_non_null(std::strstr(r.error().message.c_str(), path.c_str()));
    if (std::strstr(r.error().message.c_str(), why) == nullptr) {
        fail_msg("message '%s' lacks '%s'", r.error().message.c_str(), why);
    }
}

}  // namespace unittest
