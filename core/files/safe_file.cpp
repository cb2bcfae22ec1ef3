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

#include "core/util/text.h"

namespace pam_totp {

namespace {

// The one directory check; `where` builds the directory's name for the
// message, only when there is something to say (a walk checks every
// directory on the way at every login).
template <class Where>
Status check_directory_named(const struct stat& st, const Where& where, const DirRules& rules) {
    const uid_t owner = rules.owner;
    if (!S_ISDIR(st.st_mode)) {
        return make_error(Errc::unsafe, where() + " is not a directory");
    }
    if (rules.private_dir) {
        if (st.st_uid != owner) {
            return make_error(Errc::unsafe, where() + " is owned by uid " + std::to_string(st.st_uid) +
                                                ", expected uid " + std::to_string(owner) + "; run chown");
        }
        if ((st.st_mode & 077) != 0) {
            return make_error(Errc::unsafe, where() + " is accessible by group or others (mode " +
                                                mode_string(st.st_mode) + "); run chmod 700");
        }
        return {};
    }
    if (st.st_uid != 0 && st.st_uid != owner) {
        return make_error(Errc::unsafe, where() + " is owned by uid " + std::to_string(st.st_uid) + ", not by root" +
                                            (owner != 0 ? " or uid " + std::to_string(owner)
                                                        : std::string(" (a file read or written as root on a user's "
                                                                      "behalf must sit in root-owned directories; "
                                                                      "for a file in the home use ~ or %h)")));
    }
    const bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    const bool root_sticky = st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0;
    if (others_write && !root_sticky) {
        return make_error(Errc::unsafe, where() + " is writable by group or others (mode " + mode_string(st.st_mode) +
                                            "); run chmod go-w on it");
    }
    return {};
}

// The parent of `walked`, an absolute path with no "." or "..".
std::string parent_path(const std::string& walked) {
    const std::size_t slash = walked.rfind('/');
    return slash == 0 || slash == std::string::npos ? std::string("/") : walked.substr(0, slash);
}

// The kernel's limit on links followed in one lookup (ELOOP beyond it).
constexpr int max_links = 40;

}  // namespace

Status check_directory(const struct stat& st, const std::string& where, const DirRules& rules) {
    return check_directory_named(
        st, [&] { return where; }, rules);
}

// OpenSSH's safe_path_fd walk, with the links resolved by the walk itself:
// realpath(3) would follow every link as root, also one a user made in a
// directory of theirs, before any directory is checked. Here a link is
// followed only from a directory that has passed the check: one that only
// root or `owner` can write, so that they made the link, or a root-owned
// sticky one others may write (as /tmp), where the link itself must be
// root's or `owner`'s with a single name (the kernel's protected_symlinks
// and protected_hardlinks rules, which a readlinkat would bypass). Then
// its target is walked the same way. "." is skipped; ".." opens the
// parent, which is checked like any other. Messages name the directories
// by the path walked (what realpath would have made of it).
Result<UniqueFd> open_checked_directory(const std::string& path, const std::string& dir, uid_t owner) {
    if (dir.empty() || dir.front() != '/') {
        return make_error(Errc::invalid_argument, path + ": directory " + dir + " is not an absolute path");
    }
    const DirRules rules{.owner = owner};
    std::string walked = "/";  // the directory cur holds
    UniqueFd cur;
    struct stat cur_st {};
    // Makes `next` (named `name`) the current directory, once checked.
    const auto enter = [&](UniqueFd next, std::string name) -> Status {
        struct stat st {};
        if (::fstat(next.get(), &st) != 0) {
            const int err = errno;
            return errno_error(path + ": directory " + name, err);
        }
        if (Status ok = check_directory_named(
                st, [&] { return path + ": parent directory " + name; }, rules);
            !ok) {
            return ok;
        }
        cur = std::move(next);
        cur_st = st;
        walked = std::move(name);
        return {};
    };
    const auto enter_root = [&]() -> Status {
        UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!root.valid()) {
            const int err = errno;
            return errno_error(path + ": directory /", err);
        }
        return enter(std::move(root), "/");
    };
    if (Status ok = enter_root(); !ok) {
        return ok.error();
    }
    std::string rest = dir;  // what is left to walk
    std::size_t pos = 0;
    int links = 0;
    for (;;) {
        while (pos < rest.size() && rest[pos] == '/') {
            ++pos;
        }
        if (pos >= rest.size()) {
            return cur;
        }
        std::size_t end = rest.find('/', pos);
        if (end == std::string::npos) {
            end = rest.size();
        }
        const std::string comp = rest.substr(pos, end - pos);
        pos = end;
        if (comp == ".") {
            continue;
        }
        if (comp == "..") {
            UniqueFd up(::openat(cur.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
            if (!up.valid()) {
                const int err = errno;
                return errno_error(path + ": directory " + parent_path(walked), err);
            }
            if (Status ok = enter(std::move(up), parent_path(walked)); !ok) {
                return ok.error();
            }
            continue;
        }
        const std::string name = join_path(walked, comp);
        UniqueFd next(::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (next.valid()) {
            if (Status ok = enter(std::move(next), name); !ok) {
                return ok.error();
            }
            continue;
        }
        const int err = errno;
        struct stat link {};
        if ((err != ENOTDIR && err != ELOOP) || ::fstatat(cur.get(), comp.c_str(), &link, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISLNK(link.st_mode)) {
            // ENOENT: the file cannot exist when its directory does not.
            return errno_error(path + ": directory " + name, err);
        }
        if (++links > max_links) {
            return errno_error(path + ": directory " + dir, ELOOP);
        }
        const bool others_write = (cur_st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
        if (others_write && ((link.st_uid != 0 && link.st_uid != owner) || link.st_nlink != 1)) {
            return make_error(Errc::unsafe,
                              path + ": " + name + " is a symbolic link " +
                                  (link.st_nlink != 1 ? "with " + std::to_string(link.st_nlink) + " names"
                                                      : "made by uid " + std::to_string(link.st_uid)) +
                                  " in " + walked + ", which others may write; only a link of root" +
                                  (owner != 0 ? " or uid " + std::to_string(owner) : std::string()) +
                                  " is followed there: make it as root elsewhere, or use the path it points to");
        }
        char target[PATH_MAX];
        const ssize_t n = ::readlinkat(cur.get(), comp.c_str(), target, sizeof target);
        if (n < 0 || static_cast<std::size_t>(n) >= sizeof target) {
            const int read_err = n < 0 ? errno : ENAMETOOLONG;
            return errno_error(path + ": directory " + name, read_err);
        }
        if (n == 0) {
            return errno_error(path + ": directory " + name, ENOENT);
        }
        rest = std::string(target, static_cast<std::size_t>(n)) + rest.substr(pos);
        pos = 0;
        if (rest.size() > PATH_MAX) {
            return errno_error(path + ": directory " + dir + " (with the symbolic link " + name + " followed)",
                               ENAMETOOLONG);
        }
        if (target[0] == '/') {
            if (Status ok = enter_root(); !ok) {
                return ok.error();
            }
        }
    }
}

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
    if (rules.readable_by_others && (st.st_mode & 022) != 0) {
        return make_error(Errc::unsafe, path + ": group or others may write it (mode " + mode_string(st.st_mode) +
                                            "); run chmod go-w " + path);
    }
    if (!rules.readable_by_others && (st.st_mode & 077) != 0) {
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

}  // namespace

Status check_case_sensitive(int dirfd, const std::string& path) {
    struct statfs sfs {};
    if (::fstatfs(dirfd, &sfs) != 0) {
        const int err = errno;
        return errno_error(path + ": directory", err);
    }
    const auto type = static_cast<std::int64_t>(sfs.f_type);
    if (std::find(std::begin(case_folding_file_systems), std::end(case_folding_file_systems), type) !=
        std::end(case_folding_file_systems)) {
        return make_error(Errc::unsafe, path +
                                            ": the directory is on a file system that ignores the case of names;"
                                            " keep these files on one that does not (ext4, xfs, btrfs)");
    }
    // FS_IOC_GETFLAGS needs a descriptor opened for reading.
    const UniqueFd dir(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
        const int err = errno;
        return errno_error(path + ": directory", err);
    }
    int flags = 0;
    if (::ioctl(dir.get(), FS_IOC_GETFLAGS, &flags) != 0) {
        const int err = errno;
        if (err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS || err == EINVAL) {
            return {};  // a file system without inode flags, so without casefold directories
        }
        return errno_error(path + ": cannot read the directory's flags", err);
    }
    if ((static_cast<unsigned>(flags) & FS_CASEFOLD_FL) != 0) {
        return make_error(Errc::unsafe, path +
                                            ": the directory ignores the case of names (casefold); keep these"
                                            " files in one that does not");
    }
    return {};
}

namespace {

// Errc::unsafe when `name`, with the case of its letters swapped, names the
// same file `st` describes: a directory that folds case however it does it
// (a file system the checks above do not know, ZFS casesensitivity=
// insensitive, an NFS export of one).
Status probe_case_folding(int dirfd, const std::string& name, const struct stat& st, const std::string& path) {
    const std::string swapped = swap_ascii_case(name);
    if (swapped == name) {
        return {};  // no letters: nothing to fold
    }
    struct stat other {};
    if (::fstatat(dirfd, swapped.c_str(), &other, AT_SYMLINK_NOFOLLOW) != 0) {
        const int err = errno;
        if (err == ENOENT) {
            return {};
        }
        return errno_error(path + ": cannot look at " + swapped, err);
    }
    if (other.st_dev == st.st_dev && other.st_ino == st.st_ino) {
        return make_error(Errc::unsafe, path + ": the directory ignores the case of names (" + swapped +
                                            " is the same file); keep secret files in one that does not");
    }
    return {};
}

}  // namespace

namespace {

// An opened file and what fstat said of it when it was checked (one fstat
// per file: the login reads two files and checks each once).
struct CheckedFile {
    UniqueFd fd;
    struct stat st {};
};

Result<CheckedFile> open_checked_at(int dirfd, const std::string& name, const std::string& path,
                                    const FileRules& rules) {
    // O_NONBLOCK: a FIFO planted here cannot hang the login (OpenSSH auth_openfile).
    CheckedFile file{
        UniqueFd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK))};
    if (!file.fd.valid()) {
        const int err = errno;
        if (err == ENOENT) {
            return make_error(Errc::not_found, path + ": does not exist");
        }
        if (err == ELOOP) {
            return make_error(Errc::unsafe, path + ": is a symbolic link; symbolic links are refused");
        }
        return errno_error(path, err);
    }
    if (::fstat(file.fd.get(), &file.st) != 0) {
        const int err = errno;
        return errno_error(path, err);
    }
    if (Status ok = check_file(file.st, path, rules); !ok) {
        return ok.error();
    }
    return file;
}

Result<CheckedFile> open_checked(const std::string& path, const FileRules& rules) {
    auto parts = split_path(path);
    if (!parts) {
        return std::move(parts).error();
    }
    const auto& [dir, name] = parts.value();

    auto dirfd = open_checked_directory(path, dir, rules.root_owned_dirs ? 0 : rules.owner);
    if (!dirfd) {
        return std::move(dirfd).error();
    }
    if (rules.case_sensitive_dir) {
        if (Status st = check_case_sensitive(dirfd.value().get(), path); !st) {
            return st.error();
        }
    }
    auto file = open_checked_at(dirfd.value().get(), name, path, rules);
    if (file && rules.case_sensitive_dir) {
        if (Status folded = probe_case_folding(dirfd.value().get(), name, file.value().st, path); !folded) {
            return folded.error();
        }
    }
    return file;
}

// read_bounded with the size fstat reported a moment ago as the first
// guess: one byte more, to notice growth.
Result<SecureBuffer> read_sized(int fd, off_t size, std::size_t max_size) {
    if (max_size == SIZE_MAX) {
        return make_error(Errc::invalid_argument, "read_bounded: max_size too large");
    }
    std::size_t capacity = size >= 0 ? static_cast<std::size_t>(size) + 1 : 4096;
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
            return errno_error("read", errno);
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

Result<SecureBuffer> read_checked(const CheckedFile& file, const std::string& path, const FileRules& rules) {
    auto data = read_sized(file.fd.get(), file.st.st_size, rules.max_size);
    if (!data) {
        return make_error(data.error().code, path + ": " + data.error().message);
    }
    return data;
}

}  // namespace

Result<UniqueFd> safe_open_read(const std::string& path, const FileRules& rules) {
    auto file = open_checked(path, rules);
    if (!file) {
        return std::move(file).error();
    }
    return std::move(file.value().fd);
}

Result<UniqueFd> safe_open_read_at(int dirfd, const std::string& name, const std::string& path,
                                   const FileRules& rules) {
    auto file = open_checked_at(dirfd, name, path, rules);
    if (!file) {
        return std::move(file).error();
    }
    return std::move(file.value().fd);
}

Result<SecureBuffer> read_bounded(int fd, std::size_t max_size) {
    struct stat st {};
    const off_t size = ::fstat(fd, &st) == 0 ? st.st_size : -1;
    return read_sized(fd, size, max_size);
}

Result<SecureBuffer> safe_read_file(const std::string& path, const FileRules& rules) {
    auto file = open_checked(path, rules);
    if (!file) {
        return std::move(file).error();
    }
    return read_checked(file.value(), path, rules);
}

}  // namespace pam_totp
