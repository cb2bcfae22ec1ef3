// Safe file access (after OpenSSH's safe_path_fd and auth_openfile):
// opening without following symlinks, refusing anything an attacker could
// have planted or changed, and bounded reads.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

// What a directory must be: on the way to a protected file, owned by root
// or `owner` and not writable by others (unless root-owned and sticky, as
// /tmp); a `private_dir` (state_dir) is owned by `owner` exactly, with no
// group or world access at all.
struct DirRules {
    uid_t owner = 0;
    bool private_dir = false;
};

// The one directory check, for the walk below and for state_dir. `where`
// names the directory in the message.
Status check_directory(const struct stat& st, const std::string& where, const DirRules& rules);

struct FileRules {
    uid_t owner = 0;           // the file must be owned by this uid ...
    bool root_may_own = true;  // ... or by root, when this is set
    std::size_t max_size = std::size_t{64} * 1024;
    // Every directory on the way must be owned by root, not by `owner`:
    // for files root opens on a user's behalf outside the user's home, so
    // that no directory the user controls (and could fill with symlinks)
    // is ever walked with root's privilege.
    bool root_owned_dirs = false;
    // The file must have exactly one link (a state file: nobody may reach
    // it by a second name).
    bool single_link = false;
    // Others may read it, not write it (a program, such as the store's
    // backend object): only the group and world write bits are refused.
    bool readable_by_others = false;
    // The directory holding the file must tell names apart by case (not
    // vfat, exFAT, NTFS, HFS+, SMB, or an ext4/f2fs casefold directory, and
    // the file's name with its letters' case swapped must not be the same
    // file): for a file the module reads by the user name alone, so that
    // "ALICE" cannot reach alice's file with a guessing budget of its own.
    bool case_sensitive_dir = false;
};

// The one check of an opened file: a regular file, owned as `rules` say, no
// group or world permission bits, the link count and size `rules` allow.
Status check_file(const struct stat& st, const std::string& path, const FileRules& rules);

// Errc::unsafe when the directory `dirfd` may fold the case of names: a
// file system that does (vfat, exFAT, NTFS, HFS+, SMB), or an ext4/f2fs
// casefold directory (FS_CASEFOLD_FL). `path` names it in messages.
Status check_case_sensitive(int dirfd, const std::string& path);

// Opens `path` (absolute) for reading with
// O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NOCTTY|O_NONBLOCK (a FIFO cannot block,
// a symlink is refused), then checks with fstat: a regular file, owned as
// `rules` says, no group or world permission bits, size <= max_size. Then
// walks the parent directories up to "/": each must be a directory owned by
// root or `rules.owner`, and not writable by group or others unless it is
// root-owned and sticky (as /tmp is: nobody else can rename entries there).
// Errc::not_found only when the file itself does not exist; every other
// refusal is Errc::unsafe with a message naming the path and the reason.
Result<UniqueFd> safe_open_read(const std::string& path, const FileRules& rules);

// The same checks for `name` inside `dirfd`, a directory the caller has
// already opened and checked; `path` names the file in messages.
Result<UniqueFd> safe_open_read_at(int dirfd, const std::string& name, const std::string& path, const FileRules& rules);

// Reads the whole file from `fd` (from offset 0) into a self-wiping buffer;
// more than `max_size` bytes (the file grew after fstat) is an error.
Result<SecureBuffer> read_bounded(int fd, std::size_t max_size);

// safe_open_read + read_bounded.
Result<SecureBuffer> safe_read_file(const std::string& path, const FileRules& rules);

// Opens directory `dir` (absolute) by walking down from "/" with
// O_NOFOLLOW, checking that every directory on the way is owned by root or
// `owner` (only root when `owner` is 0) and not writable by others unless
// root-owned and sticky. A symbolic link on the way (as OpenSSH allows a
// home reached through one) is followed only from a directory that passed
// that check (in a sticky one others may write, only a link of root or
// `owner` with a single name); its target is walked the same way. Returns
// an O_PATH fd.
// `path` (the file the caller is after) names the problem in messages.
Result<UniqueFd> open_checked_directory(const std::string& path, const std::string& dir, uid_t owner);

// Splits "/a/b/c" into "/a/b" and "c"; errors for relative paths, a trailing
// slash, or an empty name.
Result<std::pair<std::string, std::string>> split_path(const std::string& path);

}  // namespace pam_totp
