// Safe file access; see safe_file.h. The walk follows OpenSSH's
// safe_path_fd(): every directory on the way to the file must be one that
// nobody but root or the file's owner could have changed.
#include "core/files/safe_file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/util/random.h"

namespace pam_totp {

namespace {

// Random bytes in a temp-file name (12 hex digits, as the header promises).
constexpr std::size_t temp_random_bytes = 6;
// Attempts at a fresh temp name before giving up (each collision is 2^-48).
constexpr int temp_name_attempts = 8;

std::string mode_string(mode_t mode) {
    char buf[8];
    (void)std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// Errc for a failed system call: a missing privilege is worth telling apart.
Errc errc_for(int err) {
    if (err == EACCES || err == EPERM) {
        return Errc::permission;
    }
    return Errc::io;
}

// A directory on the way to a protected file must be owned by root or the
// file's owner, and nobody else may be able to add, remove or rename its
// entries: no group/other write, unless root owns it and it is sticky (/tmp).
Status check_directory(const struct stat& st, const std::string& path, const std::string& dir, uid_t owner) {
    const std::string where = path + ": parent directory " + dir;
    if (!S_ISDIR(st.st_mode)) {
        return make_error(Errc::unsafe, where + " is not a directory");
    }
    if (st.st_uid != 0 && st.st_uid != owner) {
        return make_error(Errc::unsafe, where + " is owned by uid " + std::to_string(st.st_uid) + ", not by root" +
                                            (owner != 0 ? " or uid " + std::to_string(owner)
                                                        : std::string(" (a file read or written as root on a user's "
                                                                      "behalf must sit in root-owned directories; "
                                                                      "for a file in the home use ~ or %h)")));
    }
    const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    const bool root_sticky = st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0;
    if (others_write && !root_sticky) {
        return make_error(Errc::unsafe, where + " is writable by group or others (mode " + mode_string(st.st_mode) +
                                            "); run chmod go-w " + dir);
    }
    return {};
}

std::string join(const std::string& dir, const std::string& name) {
    if (!dir.empty() && dir.back() == '/') {
        return dir + name;
    }
    return dir + "/" + name;
}

}  // namespace

// Resolves `dir` (with follow_symlinks: symlinks allowed there, as OpenSSH
// allows a home reached through one; without: taken as written) and opens
// it by walking down from "/" without following anything, checking each
// directory on the way.
Result<UniqueFd> open_checked_directory(const std::string& path, const std::string& dir, uid_t owner,
                                        bool follow_symlinks) {
    std::string resolved = dir;
    if (follow_symlinks) {
        char resolved_buf[PATH_MAX];
        if (::realpath(dir.c_str(), resolved_buf) == nullptr) {
            const int err = errno;
            if (err == ENOENT) {
                // The file cannot exist when its directory does not.
                return make_error(Errc::not_found, errno_message(path + ": directory " + dir, err));
            }
            return make_error(errc_for(err), errno_message(path + ": directory " + dir, err));
        }
        resolved = resolved_buf;
    } else if (dir.empty() || dir.front() != '/') {
        return make_error(Errc::invalid_argument, path + ": directory " + dir + " is not an absolute path");
    }

    UniqueFd cur(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cur.valid()) {
        const int err = errno;
        return make_error(errc_for(err), errno_message(path + ": directory /", err));
    }
    std::string walked = "/";
    std::size_t pos = 1;
    for (;;) {
        struct stat st {};
        if (::fstat(cur.get(), &st) != 0) {
            const int err = errno;
            return make_error(errc_for(err), errno_message(path + ": directory " + walked, err));
        }
        if (Status ok = check_directory(st, path, walked, owner); !ok) {
            return ok.error();
        }
        if (pos >= resolved.size()) {
            break;
        }
        std::size_t end = resolved.find('/', pos);
        if (end == std::string::npos) {
            end = resolved.size();
        }
        const std::string comp = resolved.substr(pos, end - pos);
        pos = end + 1;
        if (comp.empty()) {
            continue;
        }
        if (!follow_symlinks && (comp == "." || comp == "..")) {
            return make_error(Errc::unsafe,
                              path + ": directory " + dir + " contains \"" + comp + "\"; write the path without it");
        }
        walked = join(walked, comp);
        UniqueFd next(::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next.valid()) {
            const int err = errno;
            if (err == ENOENT) {
                return make_error(Errc::not_found, errno_message(path + ": directory " + walked, err));
            }
            if (!follow_symlinks && (err == ELOOP || err == ENOTDIR)) {
                return make_error(Errc::unsafe,
                                  path + ": directory " + walked +
                                      " is a symbolic link (or not a directory); it is not followed here");
            }
            if (err == ELOOP || err == ENOTDIR) {
                // realpath resolved it a moment ago: someone is changing the path under us.
                return make_error(Errc::unsafe, path + ": directory " + walked + " changed while being checked (" +
                                                    errno_message("openat", err) + ")");
            }
            return make_error(errc_for(err), errno_message(path + ": directory " + walked, err));
        }
        cur = std::move(next);
    }
    return cur;
}

namespace {

// The checks on the file itself, after it is open.
Status check_file(const struct stat& st, const std::string& path, const FileRules& rules) {
    if (S_ISDIR(st.st_mode)) {
        return make_error(Errc::unsafe, path + ": is a directory, not a regular file");
    }
    if (!S_ISREG(st.st_mode)) {
        return make_error(Errc::unsafe, path + ": not a regular file (a FIFO, socket or device)");
    }
    const bool owner_ok = st.st_uid == rules.owner || (rules.root_may_own && st.st_uid == 0);
    if (!owner_ok) {
        std::string expected = "uid " + std::to_string(rules.owner);
        if (rules.root_may_own && rules.owner != 0) {
            expected += " or root";
        }
        return make_error(Errc::unsafe, path + ": owned by uid " + std::to_string(st.st_uid) + ", expected " +
                                            expected + "; run chown to fix the owner");
    }
    if ((st.st_mode & 077) != 0) {
        return make_error(Errc::unsafe, path + ": group or others have access (mode " + mode_string(st.st_mode) +
                                            "); run chmod 600 " + path);
    }
    if (rules.single_link && st.st_nlink != 1) {
        return make_error(Errc::unsafe, path + ": has " + std::to_string(st.st_nlink) +
                                            " links, expected 1; find the others with find / -xdev -samefile " + path +
                                            " and remove them");
    }
    if (st.st_size < 0 || static_cast<std::size_t>(st.st_size) > rules.max_size) {
        return make_error(Errc::unsafe, path + ": too large (" + std::to_string(st.st_size) + " bytes, the limit is " +
                                            std::to_string(rules.max_size) + ")");
    }
    return {};
}

std::string space_hint(int err) {
    if (err == ENOSPC || err == EDQUOT) {
        return " (the file system or quota is full: no space left on device; free some space and retry)";
    }
    return {};
}

}  // namespace

Result<std::pair<std::string, std::string>> split_path(const std::string& path) {
    if (path.empty() || path.front() != '/') {
        return make_error(Errc::invalid_argument, "'" + path + "': not an absolute path");
    }
    if (path.back() == '/') {
        return make_error(Errc::invalid_argument, path + ": names a directory (trailing slash), not a file");
    }
    const std::size_t slash = path.rfind('/');
    std::string name = path.substr(slash + 1);
    if (name.empty() || name == "." || name == "..") {
        return make_error(Errc::invalid_argument, path + ": no file name");
    }
    // Strip every slash separating directory and name ("/a//b" -> "/a", "b").
    std::size_t dir_end = slash;
    while (dir_end > 0 && path[dir_end - 1] == '/') {
        --dir_end;
    }
    std::string dir = dir_end == 0 ? std::string("/") : path.substr(0, dir_end);
    return std::make_pair(std::move(dir), std::move(name));
}

namespace {

// File systems that fold the case of names (statfs(2) f_type).
constexpr std::int64_t case_folding_file_systems[] = {
    0x4d44,      // vfat, msdos
    0x2011BAB0,  // exfat
    0x5346544e,  // ntfs (ntfs3)
    0x4244,      // hfs
    0x482b,      // hfs+
    0xFF534D42,  // cifs
    0xFE534D42,  // smb2
    0x517B,      // smbfs
};

// Errc::unsafe when the directory `dirfd` (O_PATH) may fold case: a file
// system that does, or a casefold directory (ext4, f2fs: FS_CASEFOLD_FL).
Status check_case_sensitive(int dirfd, const std::string& path) {
    struct statfs sfs {};
    if (::fstatfs(dirfd, &sfs) != 0) {
        const int err = errno;
        return make_error(errc_for(err), errno_message(path + ": directory", err));
    }
    const auto type = static_cast<std::int64_t>(sfs.f_type);
    if (std::find(std::begin(case_folding_file_systems), std::end(case_folding_file_systems), type) !=
        std::end(case_folding_file_systems)) {
        return make_error(Errc::unsafe, path +
                                            ": the directory is on a file system that ignores the case of names;"
                                            " keep secret files on one that does not (ext4, xfs, btrfs)");
    }
    // FS_IOC_GETFLAGS needs a descriptor opened for reading.
    const UniqueFd dir(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
        const int err = errno;
        return make_error(errc_for(err), errno_message(path + ": directory", err));
    }
    int flags = 0;
    if (::ioctl(dir.get(), FS_IOC_GETFLAGS, &flags) != 0) {
        const int err = errno;
        if (err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS || err == EINVAL) {
            return {};  // a file system without inode flags, so without casefold directories
        }
        return make_error(errc_for(err), errno_message(path + ": cannot read the directory's flags", err));
    }
    if ((static_cast<unsigned>(flags) & FS_CASEFOLD_FL) != 0) {
        return make_error(Errc::unsafe, path +
                                            ": the directory ignores the case of names (casefold); keep secret"
                                            " files in one that does not");
    }
    return {};
}

// Errc::unsafe when `name`, with the case of its letters swapped, names the
// same file `st` describes: a directory that folds case however it does it
// (a file system the checks above do not know, ZFS casesensitivity=
// insensitive, an NFS export of one).
Status probe_case_folding(int dirfd, const std::string& name, const struct stat& st, const std::string& path) {
    std::string swapped = name;
    for (char& c : swapped) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        } else if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    if (swapped == name) {
        return {};  // no letters: nothing to fold
    }
    struct stat other {};
    if (::fstatat(dirfd, swapped.c_str(), &other, AT_SYMLINK_NOFOLLOW) != 0) {
        const int err = errno;
        if (err == ENOENT) {
            return {};
        }
        return make_error(errc_for(err), errno_message(path + ": cannot look at " + swapped, err));
    }
    if (other.st_dev == st.st_dev && other.st_ino == st.st_ino) {
        return make_error(Errc::unsafe, path + ": the directory ignores the case of names (" + swapped +
                                            " is the same file); keep secret files in one that does not");
    }
    return {};
}

}  // namespace

Result<UniqueFd> safe_open_read(const std::string& path, const FileRules& rules) {
    auto parts = split_path(path);
    if (!parts) {
        return std::move(parts).error();
    }
    const auto& [dir, name] = parts.value();

    auto dirfd = open_checked_directory(path, dir, rules.root_owned_dirs ? 0 : rules.owner, rules.follow_dir_symlinks);
    if (!dirfd) {
        return std::move(dirfd).error();
    }
    if (rules.case_sensitive_dir) {
        if (Status st = check_case_sensitive(dirfd.value().get(), path); !st) {
            return st.error();
        }
    }

    auto fd = safe_open_read_at(dirfd.value().get(), name, path, rules);
    if (fd && rules.case_sensitive_dir) {
        struct stat st {};
        if (::fstat(fd.value().get(), &st) != 0) {
            const int err = errno;
            return make_error(errc_for(err), errno_message(path, err));
        }
        if (Status folded = probe_case_folding(dirfd.value().get(), name, st, path); !folded) {
            return folded.error();
        }
    }
    return fd;
}

Result<UniqueFd> safe_open_read_at(int dirfd, const std::string& name, const std::string& path,
                                   const FileRules& rules) {
    // O_NONBLOCK: a FIFO planted here cannot hang the login (OpenSSH auth_openfile).
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ENOENT) {
            return make_error(Errc::not_found, path + ": does not exist");
        }
        if (err == ELOOP) {
            return make_error(Errc::unsafe, path + ": is a symbolic link; symbolic links are refused");
        }
        return make_error(errc_for(err), errno_message(path, err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        const int err = errno;
        return make_error(errc_for(err), errno_message(path, err));
    }
    if (Status ok = check_file(st, path, rules); !ok) {
        return ok.error();
    }
    return fd;
}

Result<SecureBuffer> read_bounded(int fd, std::size_t max_size) {
    if (max_size == SIZE_MAX) {
        return make_error(Errc::invalid_argument, "read_bounded: max_size too large");
    }
    // Start from the size fstat reports, plus one byte to notice growth.
    std::size_t capacity = 4096;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size >= 0) {
        capacity = static_cast<std::size_t>(st.st_size) + 1;
    }
    if (capacity > max_size + 1) {
        capacity = max_size + 1;
    }
    SecureBuffer buf(capacity);
    std::size_t done = 0;
    for (;;) {
        if (done == buf.size()) {
            if (done > max_size) {
                return make_error(Errc::unsafe, "file is larger than " + std::to_string(max_size) + " bytes");
            }
            const std::size_t grown = std::min(max_size + 1, std::max<std::size_t>(buf.size() * 2, 4096));
            SecureBuffer bigger(grown);
            if (done > 0) {
                std::memcpy(bigger.data(), buf.data(), done);
            }
            buf = std::move(bigger);  // the old buffer wipes itself
        }
        const ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return make_error(errc_for(errno), errno_message("read", errno));
        }
        if (n == 0) {
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    if (done > max_size) {
        return make_error(Errc::unsafe, "file is larger than " + std::to_string(max_size) + " bytes");
    }
    buf.truncate(done);
    return buf;
}

Result<bool> directory_on_path(const std::string& path, const std::string& dir) {
    struct stat target {};
    // AT_NO_AUTOMOUNT: an automounted home is not mounted for this. A home
    // root cannot reach (missing, unmounted, an NFS root squash) is not how
    // root reached the file it has just walked to.
    if (::fstatat(AT_FDCWD, dir.c_str(), &target, AT_NO_AUTOMOUNT) != 0) {
        return false;
    }
    struct stat root {};
    if (::stat("/", &root) != 0) {
        const int err = errno;
        return make_error(errc_for(err), errno_message("/", err));
    }
    if (!S_ISDIR(target.st_mode) || (target.st_dev == root.st_dev && target.st_ino == root.st_ino)) {
        return false;
    }
    auto parts = split_path(path);
    if (!parts) {
        return std::move(parts).error();
    }
    const std::string& parent = parts.value().first;
    // Every prefix of the parent directory, shortest first: "/a", "/a/b", ...
    for (std::size_t end = parent.find('/', 1);; end = parent.find('/', end + 1)) {
        const std::string prefix = parent.substr(0, end);
        struct stat st {};
        if (::lstat(prefix.c_str(), &st) != 0) {
            const int err = errno;
            return make_error(errc_for(err), errno_message("directory " + prefix, err));
        }
        if (st.st_dev == target.st_dev && st.st_ino == target.st_ino) {
            return true;
        }
        if (end == std::string::npos) {
            return false;
        }
    }
}

Result<SecureBuffer> safe_read_file(const std::string& path, const FileRules& rules) {
    auto fd = safe_open_read(path, rules);
    if (!fd) {
        return std::move(fd).error();
    }
    auto data = read_bounded(fd.value().get(), rules.max_size);
    if (!data) {
        return make_error(data.error().code, path + ": " + data.error().message);
    }
    return data;
}

Status atomic_replace(const std::string& path, std::string_view content, const ReplaceOptions& options) {
    auto parts = split_path(path);
    if (!parts) {
        return std::move(parts).error();
    }
    const auto& [dir, name] = parts.value();

    // O_RDONLY, not O_PATH: the directory itself is fsynced at the end.
    const UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) {
        const int err = errno;
        Errc code = errc_for(err);
        if (err == ENOENT) {
            code = Errc::not_found;
        }
        return make_error(code, path + ": cannot open the directory: " + errno_message(dir, err));
    }
    return atomic_replace_at(dirfd.get(), name, path, content, options);
}

Status atomic_replace_at(int dir_fd, const std::string& name, const std::string& path, std::string_view content,
                         const ReplaceOptions& options) {
    // The caller's fd may be O_PATH; fsync needs one opened for reading.
    const UniqueFd dirfd(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) {
        const int err = errno;
        return make_error(errc_for(err), path + ": cannot open the directory: " + errno_message(path, err));
    }
    std::string temp;
    UniqueFd fd;
    for (int attempt = 0; attempt < temp_name_attempts && !fd.valid(); ++attempt) {
        auto suffix = random_hex(temp_random_bytes);
        if (!suffix) {
            return make_error(suffix.error().code, path + ": " + suffix.error().message);
        }
        temp = "." + name + "." + suffix.value();
        fd.reset(::openat(dirfd.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd.valid() && errno != EEXIST) {
            const int err = errno;
            return make_error(errc_for(err), path + ": cannot create a temporary file: " +
                                                 errno_message("temporary file " + temp, err) + space_hint(err));
        }
    }
    if (!fd.valid()) {
        return make_error(Errc::io, path + ": cannot create a temporary file: every name tried exists");
    }

    // From here on every failure removes the temp file; the old file is untouched.
    const auto fail = [&](const std::string& step, int err) -> Status {
        ::unlinkat(dirfd.get(), temp.c_str(), 0);
        return make_error(errc_for(err), path + ": " + step + " failed: " +
                                             errno_message("temporary file " + temp, err) + space_hint(err));
    };

    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail("write", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    // chown before chmod: chown clears set-id bits a mode might carry.
    if (options.uid != static_cast<uid_t>(-1) || options.gid != static_cast<gid_t>(-1)) {
        if (::fchown(fd.get(), options.uid, options.gid) != 0) {
            return fail("fchown", errno);
        }
    }
    if (::fchmod(fd.get(), options.mode) != 0) {
        return fail("fchmod", errno);
    }
    // The data must be on disk before the rename makes it the file (ext4
    // data=writeback, XFS: otherwise a crash can leave an empty file).
    if (::fsync(fd.get()) != 0) {
        return fail("fsync", errno);
    }
    if (::close(fd.release()) != 0) {
        return fail("close", errno);
    }
    if (::renameat(dirfd.get(), temp.c_str(), dirfd.get(), name.c_str()) != 0) {
        return fail("rename", errno);
    }
    // The rename itself is durable only once the directory is synced.
    if (::fsync(dirfd.get()) != 0) {
        const int err = errno;
        return make_error(Errc::not_durable, path + ": replaced, but the directory fsync failed: " +
                                                 errno_message("directory", err) + space_hint(err));
    }
    return {};
}

}  // namespace pam_totp
