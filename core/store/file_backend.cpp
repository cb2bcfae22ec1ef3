#include "core/store/file_backend.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "core/files/file_lock.h"
#include "core/files/kv_format.h"
#include "core/files/safe_file.h"
#include "core/store/claim_store.h"
#include "core/store/slot_file.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {

constexpr std::chrono::milliseconds legacy_lock_wait{1000};

class HeldFile final : public HeldState {
  public:
    explicit HeldFile(SlotFile file) : m_file(std::move(file)) {}
    [[nodiscard]] const std::optional<std::string>& text() const override { return m_file.text(); }
    Status write(std::string_view text, Durability durability) override { return m_file.write(text, durability); }

  private:
    SlotFile m_file;
};

}  // namespace

FileBackend::FileBackend(std::string state_dir, uid_t owner, std::chrono::milliseconds lock_wait)
    : m_dir(std::move(state_dir)), m_owner(owner), m_lock_wait(lock_wait) {}

std::string FileBackend::where(const std::string& name) const {
    return join_path(m_dir, name);
}

Result<int> FileBackend::open_dir(bool create) {
    if (m_dir_fd.valid()) {
        return m_dir_fd.get();
    }
    auto parts = split_path(m_dir);
    if (!parts) {
        return make_error(Errc::invalid_argument, "state_dir " + m_dir + ": " + parts.error().message);
    }
    const auto& [parent, base] = parts.value();
    // Every directory above must be one only root (or the owner) controls:
    // whoever could rename state_dir away could give the module an empty
    // one, and with it used codes and spent guesses back.
    auto parent_fd = open_checked_directory(m_dir, parent, m_owner);
    if (!parent_fd) {
        return std::move(parent_fd).error();
    }
    if (create && ::mkdirat(parent_fd.value().get(), base.c_str(), 0700) != 0 && errno != EEXIST) {
        return errno_error("cannot create state directory " + m_dir, errno);
    }
    UniqueFd fd(::openat(parent_fd.value().get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ELOOP || err == ENOTDIR) {
            return make_error(Errc::unsafe, m_dir + ": state directory is not a directory (or is a symbolic link)");
        }
        return errno_error("state directory " + m_dir, err);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return errno_error(m_dir, errno);
    }
    if (Status ok = check_directory(st, m_dir + ": state directory", DirRules{.owner = m_owner, .private_dir = true});
        !ok) {
        return ok.error();
    }
    // u-Alice and u-alice are two accounts' states.
    if (Status ok = check_case_sensitive(fd.get(), m_dir + ": state directory"); !ok) {
        return ok.error();
    }
    m_dir_fd = std::move(fd);
    return m_dir_fd.get();
}

Result<std::optional<std::string>> FileBackend::read_claim(const TokenId& id) {
    auto dir = open_dir(false);
    if (!dir) {
        if (dir.error().code == Errc::not_found) {
            return std::optional<std::string>();  // no state_dir: no claim yet
        }
        return std::move(dir).error();
    }
    const std::string claim = ClaimStore::claim_name(id);
    char buf[256];
    const ssize_t n = ::readlinkat(dir.value(), claim.c_str(), buf, sizeof buf);
    if (n < 0) {
        if (errno == ENOENT) {
            return std::optional<std::string>();
        }
        return errno_error(where(claim), errno);
    }
    const std::string target(buf, static_cast<std::size_t>(n));
    if (static_cast<std::size_t>(n) == sizeof buf || !ClaimStore::is_state_name(target)) {
        return make_error(Errc::unsafe, where(claim) + ": not a claim pam_totp wrote; remove it");
    }
    return std::optional<std::string>(target);
}

Result<bool> FileBackend::add_claim(const TokenId& id, const std::string& holder) {
    auto dir = open_dir(true);
    if (!dir) {
        return std::move(dir).error();
    }
    const std::string claim = ClaimStore::claim_name(id);
    if (::symlinkat(holder.c_str(), dir.value(), claim.c_str()) != 0) {
        if (errno == EEXIST) {
            return false;
        }
        return errno_error(where(claim), errno);
    }
    return true;
}

Status FileBackend::sync_claims() {
    auto dir = open_dir(true);
    if (!dir) {
        return dir.error();
    }
    if (::fsync(dir.value()) != 0) {
        return errno_error(m_dir + ": directory fsync after claiming a token", errno);
    }
    return {};
}

Status FileBackend::drop_claim(const TokenId& id, const std::string& holder) {
    auto named = read_claim(id);
    if (!named) {
        return named.error();
    }
    if (named.value() != holder) {
        return {};
    }
    if (::unlinkat(m_dir_fd.get(), ClaimStore::claim_name(id).c_str(), 0) != 0 && errno != ENOENT) {
        return errno_error(where(ClaimStore::claim_name(id)), errno);
    }
    return {};
}

Result<std::unique_ptr<HeldState>> FileBackend::lock(const std::string& name, bool create) {
    auto dir = open_dir(true);
    if (!dir) {
        return std::move(dir).error();
    }
    auto file = SlotFile::open_locked(dir.value(), name, where(name), m_owner, m_lock_wait, create);
    if (!file) {
        return std::move(file).error();
    }
    return std::unique_ptr<HeldState>(std::make_unique<HeldFile>(std::move(file).value()));
}

Result<std::optional<std::string>> FileBackend::peek(const std::string& name) {
    auto dir = open_dir(false);
    if (!dir) {
        if (dir.error().code == Errc::not_found) {
            return std::optional<std::string>();
        }
        return std::move(dir).error();
    }
    return SlotFile::peek(dir.value(), name, where(name), m_owner);
}

Result<std::optional<LegacyState>> FileBackend::legacy_state(std::string_view account, std::optional<uid_t> uid) {
    auto dir = open_dir(false);
    if (!dir) {
        if (dir.error().code == Errc::not_found) {
            return std::optional<LegacyState>();
        }
        return std::move(dir).error();
    }
    std::vector<std::string> keys{"user-" + std::string(account)};
    if (uid) {
        keys.push_back(std::to_string(*uid));
    }
    for (const std::string& key : keys) {
        const std::string name = key + ".state";
        if (name.size() > NAME_MAX) {
            continue;  // a name that long could not have had such a file
        }
        const std::string path = join_path(m_dir, name);
        // pam_totp 0.1 (still loaded in a process started before the
        // upgrade) writes it under KEY.lock: read it the same way.
        const UniqueFd legacy_lock(
            ::openat(dir.value(), (key + ".lock").c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (legacy_lock.valid()) {
            if (Status locked = lock_exclusive(legacy_lock.get(), legacy_lock_wait, path); !locked) {
                return locked.error();
            }
        }
        auto fd = safe_open_read_at(dir.value(), name, path,
                                    FileRules{.owner = m_owner, .root_may_own = false, .max_size = max_file_size});
        if (!fd) {
            if (fd.error().code == Errc::not_found) {
                continue;
            }
            return std::move(fd).error();
        }
        auto text = read_bounded(fd.value().get(), max_file_size);
        if (!text) {
            return make_error(text.error().code, path + ": " + text.error().message);
        }
        auto parsed = parse_legacy_state(text.value().view());
        if (!parsed) {
            return make_error(Errc::format, path + ": " + parsed.error().message);
        }
        return std::optional<LegacyState>(std::move(parsed).value());
    }
    return std::optional<LegacyState>();
}

}  // namespace pam_totp
