#include "temp_tree.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace

int temp_tree_setup(void** state) {
    std::string templ = "/tmp/pam_totp-unit.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
        return -1;
    }
    *state = new TempTree{templ};
    return 0;
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

}  // namespace unittest
