// A fresh temporary directory for each cmocka test (a setup and teardown
// pair), removed with everything in it also when the test fails, and the
// small file helpers the file-system tests share.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/files/safe_file.h"

namespace unittest {

// A cmocka setup: mkdtemp("/tmp/pam_totp-unit.XXXXXX") (mode 0700) into
// *state; 0 on success.
int temp_tree_setup(void** state);
// The same in memory (/dev/shm when it is a tmpfs, else /tmp), for tests
// that write with fdatasync and fsync many times and test nothing about
// the disk: a sync there costs nothing, so they stay fast however busy the
// disk is. Removed by temp_tree_teardown.
int temp_tree_setup_in_memory(void** state);
// The matching teardown: removes the directory and everything below it.
int temp_tree_teardown(void** state);
// The directory made by temp_tree_setup.
const std::string& temp_dir(void** state);

// Writes `content` to `path` with `mode` (fchmod, so the umask does not
// interfere); fails the test on any error.
void write_file(const std::string& path, const std::string& content, mode_t mode = 0600);
// mkdir, then chmod to `mode`; fails the test on any error.
void make_dir(const std::string& path, mode_t mode);

// safe_open_read(path, rules) is refused with Errc::unsafe, and the message
// names `path` and contains `why`; fails the test otherwise.
void expect_unsafe(const std::string& path, const pam_totp::FileRules& rules, const char* why);

}  // namespace unittest
