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
#include <string_view>
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
        return make_error(Errc::unsafe, where() + " is writable by group or others (mode " +
                                            mode_string(st.st_mode) + "); run chmod go-w on it");
    }
    return {};
}

// Opens `dir` by walking down from "/" without following anything,
// checking each directory on the way. With `literal`, `dir` is the path as
// written: Errc::unsafe with an empty message, and nothing said, when the
// walk meets anything but a plain directory it may enter (a symbolic link,
// ".", "..", a missing or refused one): open_checked_directory then takes
// the resolved path, which says what is wrong. Without it, `dir` is what
// realpath(3) made of it a moment ago.
Result<UniqueFd> walk_checked_directory(const std::string& path, std::string_view dir, uid_t owner, bool literal) {
    const auto quiet = [] { return make_error(Errc::unsafe, std::string()); };
    UniqueFd cur(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cur.valid()) {
        const int err = errno;
        return literal ? quiet() : errno_error(path + ": directory /", err);
    }
    std::size_t walked_end = 0;  // dir[0, walked_end) is the directory cur holds ("/" when 0)
    const auto walked = [&] { return walked_end == 0 ? std::string("/") : std::string(dir.substr(0, walked_end)); };
    std::size_t pos = 0;
    for (;;) {
        struct stat st {};
        if (::fstat(cur.get(), &st) != 0) {
            const int err = errno;
            return literal ? quiet() : errno_error(path + ": directory " + walked(), err);
        }
        const auto where = [&] { return path + ": parent directory " + walked(); };
        if (Status ok = check_directory_named(st, where, DirRules{.owner = owner}); !ok) {
            return literal ? quiet() : ok.error();
        }
        while (pos < dir.size() && dir[pos] == '/') {
            ++pos;
        }
        if (pos >= dir.size()) {
            return cur;
        }
        std::size_t end = dir.find('/', pos);
        if (end == std::string_view::npos) {
            end = dir.size();
        }
        const std::string comp(dir.substr(pos, end - pos));
        if (literal && (comp == "." || comp == "..")) {
            return quiet();
        }
        pos = end;
        walked_end = end;
        UniqueFd next(::openat(cur.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next.valid()) {
            const int err = errno;
            if (literal) {
                return quiet();
            }
            if (err == ELOOP || err == ENOTDIR) {
                // realpath resolved it a moment ago: someone is changing the path under us.
                return make_error(Errc::unsafe, path + ": directory " + walked() + " changed while being checked (" +
                                                    errno_message("openat", err) + ")");
            }
            return errno_error(path + ": directory " + walked(), err);
        }
        cur = std::move(next);
    }
}

}  // namespace

Status check_directory(const struct stat& st, const std::string& where, const DirRules& rules) {
    return check_directory_named(st, [&] { return where; }, rules);
}

// Symlinks are allowed in `dir`, as OpenSSH allows a home reached through
// one: the walk takes the path realpath(3) resolves. Most paths have none,
// and then realpath's readlink of every component finds what the walk as
// written finds, so that walk comes first; whatever stops it (a link, or
// anything to refuse) is walked again resolved, which says why.
Result<UniqueFd> open_checked_directory(const std::string& path, const std::string& dir, uid_t owner) {
    if (auto literal = walk_checked_directory(path, dir, owner, true)) {
        return literal;
    }
    char resolved_buf[PATH_MAX];
    if (::realpath(dir.c_str(), resolved_buf) == nullptr) {
        // ENOENT: the file cannot exist when its directory does not.
        return errno_error(path + ": directory " + dir, errno);
    }
    return walk_checked_directory(path, resolved_buf, owner, false);
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
    CheckedFile file{UniqueFd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK))};
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

Result<CheckedFile> open_checked(const std::string& path, const FileRules& rules, UniqueFd* keep_dir = nullptr) {
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
    if (file && keep_dir != nullptr) {
        *keep_dir = std::move(dirfd).value();
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

namespace {

Result<SecureBuffer> read_checked(const CheckedFile& file, const std::string& path, const FileRules& rules) {
    auto data = read_sized(file.fd.get(), file.st.st_size, rules.max_size);
    if (!data) {
        return make_error(data.error().code, path + ": " + data.error().message);
    }
    return data;
}

}  // namespace

Result<SecureBuffer> safe_read_file(const std::string& path, const FileRules& rules) {
    auto file = open_checked(path, rules);
    if (!file) {
        return std::move(file).error();
    }
    return read_checked(file.value(), path, rules);
}

Result<SecureBuffer> FileRereader::read(const std::string& path, const FileRules& rules) {
    if (!m_dir.valid() || path != m_path || rules != m_rules) {
        m_dir.reset();
        UniqueFd dir;
        auto file = open_checked(path, rules, &dir);
        if (!file) {
            return std::move(file).error();
        }
        m_path = path;
        m_rules = rules;
        m_dir = std::move(dir);
        return read_checked(file.value(), path, rules);
    }
    auto parts = split_path(path);
    if (!parts) {
        return std::move(parts).error();
    }
    const auto& [dir, name] = parts.value();
    struct stat st {};
    if (::fstat(m_dir.get(), &st) != 0) {
        const int err = errno;
        return errno_error(path + ": directory " + dir, err);
    }
    const auto where = [&] { return path + ": parent directory " + dir; };
    if (Status ok = check_directory_named(st, where, DirRules{.owner = rules.root_owned_dirs ? 0 : rules.owner}); !ok) {
        return ok.error();
    }
    auto file = open_checked_at(m_dir.get(), name, path, rules);
    if (!file) {
        return std::move(file).error();
    }
    // The file system (fstatfs) is the one the first read checked; a
    // directory made casefold since (only an empty one can be) folds this
    // name too, which the probe sees.
    if (rules.case_sensitive_dir) {
        if (Status folded = probe_case_folding(m_dir.get(), name, file.value().st, path); !folded) {
            return folded.error();
        }
    }
    return read_checked(file.value(), path, rules);
}

}  // namespace pam_totp
