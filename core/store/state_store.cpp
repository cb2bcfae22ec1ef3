// FileStateStore: one root-only file per account (KEY) in state_dir, read and
// rewritten under an flock on a separate, never-renamed lock file (the
// pam_faillock lessons: lock across read-check-write, O_CLOEXEC so the lock
// does not leak into children, and read only after the lock is held).
#include "core/store/state_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <utility>

#include "core/files/path_template.h"
#include "core/files/safe_file.h"

namespace pam_totp {

namespace {

// A state file is a few hundred bytes; anything near this is not ours.
constexpr std::size_t max_state_size = std::size_t{64} * 1024;
// KEY.state and KEY.lock: distinct suffixes, so no account's state file can
// be another's lock file (key "x.lock" has "x.lock.state").
constexpr std::string_view state_suffix = ".state";
constexpr std::string_view lock_suffix = ".lock";
// NAME_MAX (255) less ".", ".state", "." and the 12 hex digits of a temp name.
constexpr std::size_t max_key_length = 235;

std::string mode_string(mode_t mode) {
    char buf[8];
    (void)std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

std::string join(const std::string& dir, std::string_view name) {
    std::string out = dir;
    if (out.empty() || out.back() != '/') {
        out += '/';
    }
    out += name;
    return out;
}

class FileStateTransaction final : public StateTransaction {
  public:
    FileStateTransaction(UniqueFd lock, UniqueFd dir, std::string name, std::string path, uid_t owner, UserState state)
        : m_lock(std::move(lock)),
          m_dir(std::move(dir)),
          m_name(std::move(name)),
          m_path(std::move(path)),
          m_owner(owner),
          m_state(std::move(state)) {}

    UserState& state() override { return m_state; }

    Status commit() override {
        ReplaceOptions options;
        options.mode = 0600;
        options.uid = m_owner;
        // Into the directory checked when the transaction began, not the path
        // looked up again.
        return atomic_replace_at(m_dir.get(), m_name, m_path, serialise_user_state(m_state), options);
    }

  private:
    UniqueFd m_lock;  // flock held for the transaction's lifetime; released by close
    UniqueFd m_dir;   // state_dir as checked by begin()
    std::string m_name;
    std::string m_path;
    uid_t m_owner;
    UserState m_state;
};

}  // namespace

FileStateStore::FileStateStore(std::string state_dir, uid_t owner) : m_dir(std::move(state_dir)), m_owner(owner) {}

Result<std::unique_ptr<StateTransaction>> FileStateStore::begin(std::string_view key) {
    if (Status valid = validate_user_name(key); !valid) {
        return valid.error();
    }
    // KEY.state's temporary file, ".KEY.state.XXXXXXXXXXXX", must fit in a
    // file name too, or no commit could ever succeed (nor a failure count).
    if (key.size() > max_key_length) {
        return make_error(Errc::invalid_argument, "state key is longer than " + std::to_string(max_key_length) +
                                                      " bytes (a user name that long cannot have a state file)");
    }
    // Missing privilege is the one failure the administrator must recognise:
    // the module then denies, because replay protection cannot be skipped.
    const auto no_privilege = [this](const std::string& what, int err) {
        return make_error(Errc::permission, errno_message(what, err) +
                                                "; the caller lacks the privilege to update the state in " + m_dir +
                                                " (e.g. a screen locker running as the user), so it is denied:"
                                                " replay protection cannot be skipped");
    };
    const auto sys_error = [&no_privilege](const std::string& what, int err) {
        if (err == EACCES || err == EPERM) {
            return no_privilege(what, err);
        }
        return make_error(Errc::io, errno_message(what, err));
    };

    if (::mkdir(m_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        const int err = errno;
        if (err == ENOENT) {
            return make_error(Errc::io,
                              "cannot create state directory " + m_dir + ": its parent directory does not exist");
        }
        return sys_error("cannot create state directory " + m_dir, err);
    }
    UniqueFd dirfd(::open(m_dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dirfd.valid()) {
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR) {
            return make_error(Errc::unsafe, m_dir + ": state directory is not a directory (or is a symbolic link)");
        }
        return sys_error(m_dir, err);
    }
    struct stat dst {};
    if (::fstat(dirfd.get(), &dst) != 0) {
        return sys_error(m_dir, errno);
    }
    if (!S_ISDIR(dst.st_mode)) {
        return make_error(Errc::unsafe, m_dir + ": state directory is not a directory");
    }
    if (dst.st_uid != m_owner) {
        return make_error(Errc::unsafe, m_dir + ": state directory is owned by uid " + std::to_string(dst.st_uid) +
                                            ", expected uid " + std::to_string(m_owner));
    }
    if ((dst.st_mode & 077) != 0) {
        return make_error(Errc::unsafe, m_dir + ": state directory is accessible by group or others (mode " +
                                            mode_string(dst.st_mode) + "); run chmod 700 " + m_dir);
    }

    const std::string name(key);
    const std::string lock_name = name + std::string(lock_suffix);
    const std::string lock_path = join(m_dir, lock_name);
    UniqueFd lock(::openat(dirfd.get(), lock_name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
    if (!lock.valid()) {
        const int err = errno;
        if (err == ELOOP) {
            return make_error(Errc::unsafe, lock_path + ": is a symbolic link");
        }
        return sys_error(lock_path, err);
    }
    struct stat lst {};
    if (::fstat(lock.get(), &lst) != 0) {
        return sys_error(lock_path, errno);
    }
    if (!S_ISREG(lst.st_mode)) {
        return make_error(Errc::unsafe, lock_path + ": lock file is not a regular file");
    }
    if (lst.st_uid != m_owner) {
        return make_error(Errc::unsafe, lock_path + ": lock file is owned by uid " + std::to_string(lst.st_uid) +
                                            ", expected uid " + std::to_string(m_owner));
    }
    while (::flock(lock.get(), LOCK_EX) != 0) {
        if (errno != EINTR) {
            return sys_error("cannot lock " + lock_path, errno);
        }
    }

    // Read only now, with the lock held: whatever we see is the latest commit.
    const std::string state_name = name + std::string(state_suffix);
    const std::string path = join(m_dir, state_name);
    UserState state;
    const FileRules rules{m_owner, false, max_state_size};
    auto fd = safe_open_read_at(dirfd.get(), state_name, path, rules);
    if (!fd) {
        if (fd.error().code != Errc::not_found) {
            return std::move(fd).error();
        }
        // Missing: a user with no state yet.
    } else {
        auto text = read_bounded(fd.value().get(), max_state_size);
        if (!text) {
            return make_error(text.error().code, path + ": " + text.error().message);
        }
        auto parsed = parse_user_state(text.value().view());
        if (!parsed) {
            return make_error(Errc::format, path + ": " + parsed.error().message);
        }
        state = std::move(parsed).value();
    }

    return std::unique_ptr<StateTransaction>(std::make_unique<FileStateTransaction>(
        std::move(lock), std::move(dirfd), state_name, path, m_owner, std::move(state)));
}

}  // namespace pam_totp
