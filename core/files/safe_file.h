// Safe file access (after OpenSSH's safe_path_fd and auth_openfile):
// opening without following symlinks, refusing anything an attacker could
// have planted or changed, bounded reads, and durable atomic replacement.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

struct FileRules {
    uid_t owner = 0;           // the file must be owned by this uid ...
    bool root_may_own = true;  // ... or by root, when this is set
    std::size_t max_size = std::size_t{64} * 1024;
    // Every directory on the way must be owned by root, not by `owner`:
    // for files root opens on a user's behalf outside the user's home, so
    // that no directory the user controls (and could fill with symlinks)
    // is ever walked with root's privilege.
    bool root_owned_dirs = false;
    // The file must have exactly one link: for a file whose state is keyed
    // by its name (core/state_key.h), so that no second name reaches it.
    bool single_link = false;
    // The directory holding the file must tell names apart by case (not
    // vfat, exFAT, NTFS, HFS+, SMB, or an ext4/f2fs casefold directory, and
    // the file's name with its letters' case swapped must not be the same
    // file): for a file keyed by its name, so "ALICE" cannot reach alice's.
    bool case_sensitive_dir = false;
    // Symbolic links are allowed in the directory path (resolved first, as
    // OpenSSH resolves a home reached through one); when unset, the path
    // must be walked as written, and a symlinked directory is refused: the
    // directory holding a symlink is never checked, so only a path without
    // one proves that nobody but root chose where it leads.
    bool follow_dir_symlinks = true;
};

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

// Whether directory `dir` (symlinks followed) is one of the directories on
// the way from "/" to the file `path` (each looked at without following),
// compared by device and inode, so that a second spelling of it (a bind
// mount, a symlinked parent) is found too. False for a `dir` that cannot be
// looked at (missing, unmounted: automounts are not triggered) or is "/"
// itself (which every path passes through).
Result<bool> directory_on_path(const std::string& path, const std::string& dir);

// safe_open_read + read_bounded.
Result<SecureBuffer> safe_read_file(const std::string& path, const FileRules& rules);

struct ReplaceOptions {
    mode_t mode = 0600;
    uid_t uid = static_cast<uid_t>(-1);  // -1: leave as created
    gid_t gid = static_cast<gid_t>(-1);
};

// Durable atomic replace of `path` with `content`: a temp file in the same
// directory (".NAME.XXXXXXXXXXXX", O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600),
// write all, fchmod/fchown per `options`, fsync, rename over `path`, fsync
// the directory. On any error the old file is untouched and the temp file
// removed; the error says which step failed (a full disk is ENOSPC at
// write or fsync). Errc::not_durable when only the final directory fsync
// failed: the new content is then in place but may not survive a crash.
Status atomic_replace(const std::string& path, std::string_view content, const ReplaceOptions& options);

// As atomic_replace, for `name` inside the directory `dir_fd` (which may be
// an O_PATH descriptor from open_checked_directory); `path` names the file
// in messages.
Status atomic_replace_at(int dir_fd, const std::string& name, const std::string& path, std::string_view content,
                         const ReplaceOptions& options);

// Opens directory `dir` (symlinks resolved first, as OpenSSH allows a home
// reached through one) by walking down from "/" with O_NOFOLLOW, checking
// that every directory on the way is owned by root or `owner` (only root
// when `owner` is 0) and not writable by others unless root-owned and
// sticky. Returns an O_PATH fd.
// `path` (the file the caller is after) names the problem in messages.
Result<UniqueFd> open_checked_directory(const std::string& path, const std::string& dir, uid_t owner,
                                        bool follow_symlinks = true);

// Splits "/a/b/c" into "/a/b" and "c"; errors for relative paths, a trailing
// slash, or an empty name.
Result<std::pair<std::string, std::string>> split_path(const std::string& path);

}  // namespace pam_totp
