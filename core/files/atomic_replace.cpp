#include "core/files/atomic_replace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/files/safe_file.h"
#include "core/util/random.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

namespace {

// Random bytes in a temp-file name (12 hex digits, as the header promises).
constexpr std::size_t temp_random_bytes = 6;
// Attempts at a fresh temp name before giving up (each collision is 2^-48).
constexpr int temp_name_attempts = 8;

// The temp file: removed when the object goes, unless it was renamed into
// place, so that no error (an exception included) leaves it behind.
struct TempFile {
    int dir_fd = -1;
    std::string name;
    UniqueFd fd;
    bool renamed = false;

    TempFile(int dir, std::string temp_name) : dir_fd(dir), name(std::move(temp_name)) {}
    ~TempFile() {
        if (!renamed && !name.empty()) {
            ::unlinkat(dir_fd, name.c_str(), 0);
        }
    }
    TempFile(TempFile&& other) noexcept
        : dir_fd(other.dir_fd), name(std::move(other.name)), fd(std::move(other.fd)), renamed(other.renamed) {
        other.name.clear();
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    TempFile& operator=(TempFile&&) = delete;
};

Result<TempFile> create_temp(int dir_fd, const std::string& name, const std::string& path) {
    for (int attempt = 0; attempt < temp_name_attempts; ++attempt) {
        auto suffix = random_hex(temp_random_bytes);
        if (!suffix) {
            return make_error(suffix.error().code, path + ": " + suffix.error().message);
        }
        std::string temp_name = "." + name + "." + suffix.value();
        const int fd = ::openat(dir_fd, temp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            TempFile temp(dir_fd, std::move(temp_name));
            temp.fd.reset(fd);
            return temp;
        }
        if (errno != EEXIST) {
            return errno_error(path + ": cannot create a temporary file " + temp_name, errno);
        }
    }
    return make_error(Errc::io, path + ": cannot create a temporary file: every name tried exists");
}

// Everything between creating the temp file and renaming it; the step that
// failed and its errno otherwise.
Status fill_temp(int fd, std::string_view content, const ReplaceOptions& options, const std::string& what) {
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_error(what + ": write", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    // chown before chmod: chown clears set-id bits a mode might carry.
    if ((options.uid != static_cast<uid_t>(-1) || options.gid != static_cast<gid_t>(-1)) &&
        ::fchown(fd, options.uid, options.gid) != 0) {
        return errno_error(what + ": fchown", errno);
    }
    if (::fchmod(fd, options.mode) != 0) {
        return errno_error(what + ": fchmod", errno);
    }
    // The data must be on disk before the rename makes it the file (ext4
    // data=writeback, XFS: otherwise a crash can leave an empty file).
    if (::fsync(fd) != 0) {
        return errno_error(what + ": fsync", errno);
    }
    return {};
}

}  // namespace

Status atomic_replace_at(int dir_fd, const std::string& name, const std::string& path, std::string_view content,
                         const ReplaceOptions& options) {
    // The caller's fd may be O_PATH; fsync needs one opened for reading.
    const UniqueFd dirfd(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) {
        return errno_error(path + ": cannot open the directory", errno);
    }
    auto temp = create_temp(dirfd.get(), name, path);
    if (!temp) {
        return std::move(temp).error();
    }
    const std::string what = path + ": temporary file " + temp.value().name;
    Status filled = fill_temp(temp.value().fd.get(), content, options, what);
    if (filled && ::close(temp.value().fd.release()) != 0) {
        filled = errno_error(what + ": close", errno);
    }
    if (filled) {
        if (::renameat(dirfd.get(), temp.value().name.c_str(), dirfd.get(), name.c_str()) == 0) {
            // Read by TempFile's destructor: the file is in place, not to be removed.
            // cppcheck-suppress unreadVariable
            temp.value().renamed = true;
        } else {
            filled = errno_error(what + ": rename", errno);
        }
    }
    if (!filled) {
        return filled;  // the old file is untouched; the temp file goes with `temp`
    }
    // The rename itself is durable only once the directory is synced.
    if (::fsync(dirfd.get()) != 0) {
        const Error e = errno_error(path + ": replaced, but the directory fsync failed", errno);
        return make_error(Errc::not_durable, e.message);
    }
    return {};
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
        return errno_error(path + ": cannot open the directory " + dir, errno);
    }
    return atomic_replace_at(dirfd.get(), name, path, content, options);
}

}  // namespace pam_totp
