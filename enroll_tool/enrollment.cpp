#include "enroll_tool/enrollment.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/files/kv_format.h"
#include "core/util/random.h"
#include "core/otp/recovery.h"
#include "core/files/safe_file.h"

namespace pam_totp {

Result<SecretFile> new_enrollment(const TotpParams& params, std::time_t now) {
    if (Status st = validate_params(params); !st) {
        return st.error();
    }
    auto key = random_bytes(new_key_bytes);
    if (!key) {
        return key.error();
    }
    auto id = random_hex(16);
    if (!id) {
        return id.error();
    }
    SecretFile file;
    file.key = std::move(key).value();
    file.params = params;
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

Result<SecretFileEditor> SecretFileEditor::open(const std::string& path, uid_t owner, gid_t group, bool central) {
    auto parts = split_path(path);
    if (!parts) {
        return parts.error();
    }
    auto [dir, name] = std::move(parts).value();
    auto checked = open_checked_directory(path, dir, central ? 0 : owner);
    if (!checked) {
        return checked.error();
    }
    // O_PATH cannot be locked or fsynced: reopen the checked directory itself.
    UniqueFd dirfd(::openat(checked.value().get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirfd.valid()) {
        const int err = errno;
        return make_error(err == EACCES ? Errc::permission : Errc::io, errno_message(path + ": directory " + dir, err));
    }
    // Bounded: the directory may be a user's home, and a user must not be
    // able to keep root's totp-enroll waiting forever by holding the lock.
    constexpr int lock_tries = 100;  // 10 seconds
    for (int i = 0; ::flock(dirfd.get(), LOCK_EX | LOCK_NB) != 0; ++i) {
        const int err = errno;
        if (err != EWOULDBLOCK && err != EINTR) {
            return make_error(Errc::io, errno_message(path + ": cannot lock directory " + dir, err));
        }
        if (i == lock_tries) {
            return make_error(Errc::busy, path + ": directory " + dir +
                                              " stays locked by another process (another totp-enroll?); try again");
        }
        ::usleep(100 * 1000);
    }
    return SecretFileEditor(std::move(dirfd), path, std::move(name), owner, group, central);
}

Result<std::optional<SecretFile>> SecretFileEditor::read() const {
    FileRules rules{m_owner, m_central || m_owner == 0, max_file_size};
    rules.root_owned_dirs = m_central;
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
