#include "enroll_tool/enrollment.h"

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/files/atomic_replace.h"
#include "core/files/file_lock.h"
#include "core/files/kv_format.h"
#include "core/files/safe_file.h"
#include "core/otp/recovery.h"
#include "core/util/random.h"
#include "core/util/text.h"

namespace pam_totp {

namespace {

// Bounded: a user must not be able to keep root's totp-enroll waiting
// forever by holding the lock.
constexpr std::chrono::milliseconds editor_lock_wait{10000};

// The lock beside the secret file: created 0600 by whoever edits (the user
// in the home, root in a central directory), so that nobody else can open
// it, let alone hold it (a lock on the directory itself could be taken by
// any local user who can read it).
Result<UniqueFd> open_lock_file(int dir_fd, const std::string& name, const std::string& path) {
    UniqueFd fd(
        ::openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ELOOP) {
            return make_error(Errc::unsafe, path + ": is a symbolic link; remove it");
        }
        return errno_error(path, err);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return errno_error(path, errno);
    }
    // Whoever opened it may lock it; nobody else must be able to open it.
    // (setfsuid with an invalid id changes nothing and returns the current one.)
    const auto fsuid = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
    const FileRules rules{.owner = fsuid, .root_may_own = true, .max_size = 0};
    if (Status ok = check_file(st, path, rules); !ok) {
        return ok.error();
    }
    if (Status locked = lock_exclusive(fd.get(), editor_lock_wait, path); !locked) {
        if (locked.error().code == Errc::busy) {
            return make_error(Errc::busy, path + ": another totp-enroll holds the lock; try again");
        }
        return locked.error();
    }
    return fd;
}

}  // namespace

Result<SecretFile> new_enrollment(const TotpParams& params, std::time_t now) {
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    auto key = random_bytes(new_key_bytes);
    if (!key) {
        return key.error();
    }
    TokenEntry token;
    token.name = std::string(default_token_name);
    token.key = std::move(key).value();
    token.params = params;
    token.added = now;
    std::vector<TokenEntry> tokens;
    tokens.push_back(std::move(token));
    return enrollment_of(std::move(tokens), now);
}

Result<SecretFile> enrollment_of(std::vector<TokenEntry> tokens, std::time_t now) {
    if (tokens.empty() || tokens.size() > max_tokens_per_file) {
        return make_error(Errc::invalid_argument,
                          "an enrollment holds 1 to " + std::to_string(max_tokens_per_file) + " tokens");
    }
    auto id = random_hex(16);
    if (!id) {
        return id.error();
    }
    SecretFile file;
    file.tokens = std::move(tokens);
    file.enrolled = now;
    file.enrollment_id = std::move(id).value();
    return file;
}

Result<std::vector<SecureBuffer>> replace_recovery_codes(SecretFile& file, std::size_t n) {
    if (n > max_recovery_codes) {
        return make_error(Errc::invalid_argument, "at most " + std::to_string(max_recovery_codes) + " recovery codes");
    }
    std::vector<SecureBuffer> codes;
    std::vector<std::string> hashes;
    for (std::size_t i = 0; i < n; ++i) {
        auto code = generate_recovery_code();
        if (!code) {
            return code.error();
        }
        auto canonical = normalise_recovery_code(code.value().view());
        if (!canonical) {
            return canonical.error();
        }
        auto hash = hash_recovery_code(canonical.value());
        if (!hash) {
            return hash.error();
        }
        hashes.push_back(std::move(hash).value());
        codes.push_back(std::move(code).value());
    }
    file.recovery_hashes = std::move(hashes);
    return codes;
}

Status add_recovery_hashes(SecretFile& file, const std::vector<SecureBuffer>& canonical_codes) {
    if (file.recovery_hashes.size() + canonical_codes.size() > max_recovery_codes) {
        return make_error(Errc::invalid_argument, "at most " + std::to_string(max_recovery_codes) + " recovery codes");
    }
    for (const auto& code : canonical_codes) {
        auto hash = hash_recovery_code(code);
        if (!hash) {
            return hash.error();
        }
        file.recovery_hashes.push_back(std::move(hash).value());
    }
    return {};
}

Result<SecretFileEditor> SecretFileEditor::open(const std::string& path, uid_t owner, gid_t group, bool central,
                                                Access access) {
    auto parts = split_path(path);
    if (!parts) {
        return parts.error();
    }
    auto [dir, name] = std::move(parts).value();
    auto checked = open_checked_directory(path, dir, central ? 0 : owner);
    if (!checked) {
        return checked.error();
    }
    // O_PATH cannot be fsynced: reopen the checked directory itself.
    UniqueFd dirfd(::openat(checked.value().get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) {
        return errno_error(path + ": directory " + dir, errno);
    }
    if (access == Access::read) {
        return SecretFileEditor(std::move(dirfd), UniqueFd(), path, std::move(name), owner, group, central);
    }
    auto lock = open_lock_file(dirfd.get(), "." + name + ".lock", join_path(dir, "." + name + ".lock"));
    if (!lock) {
        return lock.error();
    }
    return SecretFileEditor(std::move(dirfd), std::move(lock).value(), path, std::move(name), owner, group, central);
}

Result<std::optional<SecretFile>> SecretFileEditor::read() const {
    const FileRules rules{.owner = m_owner,
                          .root_may_own = m_central || m_owner == 0,
                          .max_size = max_file_size,
                          .root_owned_dirs = m_central};
    auto fd = safe_open_read_at(m_dir.get(), m_name, m_path, rules);
    if (!fd) {
        if (fd.error().code == Errc::not_found) {
            return std::optional<SecretFile>();
        }
        return fd.error();
    }
    auto text = read_bounded(fd.value().get(), max_file_size);
    if (!text) {
        return make_error(text.error().code, m_path + ": " + text.error().message);
    }
    auto parsed = parse_secret_file(text.value().view());
    if (!parsed) {
        return make_error(Errc::format, m_path + ": " + parsed.error().message);
    }
    return std::optional<SecretFile>(std::move(parsed).value());
}

bool SecretFileEditor::exists() const {
    struct stat st {};
    return ::fstatat(m_dir.get(), m_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Status SecretFileEditor::write(const SecretFile& file) const {
    auto text = serialise_secret_file(file);
    if (!text) {
        return text.error();
    }
    ReplaceOptions options;
    options.mode = 0600;
    options.uid = m_owner;
    options.gid = m_group;
    // Only root may give a file away; anyone else creates it as themselves.
    if (::geteuid() != 0) {
        options.uid = static_cast<uid_t>(-1);
        options.gid = static_cast<gid_t>(-1);
    }
    return atomic_replace_at(m_dir.get(), m_name, m_path, text.value().view(), options);
}

Status SecretFileEditor::remove() const {
    if (::unlinkat(m_dir.get(), m_name.c_str(), 0) != 0) {
        const int err = errno;
        return make_error(err == ENOENT ? Errc::not_found : Errc::io, errno_message(m_path + ": cannot remove", err));
    }
    if (::fsync(m_dir.get()) != 0) {
        const int err = errno;
        return make_error(Errc::not_durable, errno_message(m_path + ": removed, but the directory fsync failed", err));
    }
    return {};
}

}  // namespace pam_totp
