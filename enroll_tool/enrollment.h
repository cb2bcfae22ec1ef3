// What totp-enroll does to a secret file: make a new enrollment, add
// recovery codes, and read, replace or remove the file under a lock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/files/secret_file.h"
#include "core/otp/totp.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

inline constexpr std::size_t new_key_bytes = 20;  // 160 bits, as RFC 4226 section 4 recommends
inline constexpr std::size_t default_recovery_codes = 10;
// The largest HOTP counter totp-enroll starts a token at (--counter, the
// imports): far below max_hotp_counter, so that the look-ahead and a
// resync never run past the end of the range.
inline constexpr std::uint64_t max_start_counter = 999999999999999999ULL;

// A fresh enrollment: a random key, a random enrollment id, `now`.
Result<SecretFile> new_enrollment(const TotpParams& params, std::time_t now);

// A new file holding `tokens` (1..max_tokens_per_file; the first one's key
// anchors the recovery codes): a random enrollment id, `now`.
Result<SecretFile> enrollment_of(std::vector<TokenEntry> tokens, std::time_t now);

// Replaces the file's recovery hashes with those of `n` new codes and
// returns the codes (to be shown once, never stored).
Result<std::vector<SecureBuffer>> replace_recovery_codes(SecretFile& file, std::size_t n);

// Hashes existing codes (imported scratch codes) into the file.
Status add_recovery_hashes(SecretFile& file, const std::vector<SecureBuffer>& canonical_codes);

// One secret file, its directory checked (every directory on the way owned
// by root or `owner`, none writable by others), and locked with flock on
// ".NAME.lock" beside it, a stable file that is never renamed over and that
// only its creator (root, or the user in the home) can open, so that
// concurrent totp-enroll runs for the same file take turns and nobody else
// can hold them up.
class SecretFileEditor {
  public:
    enum class Access {
        read,  // look only: no lock (the file is only ever replaced whole, by rename)
        edit,  // take the lock first
    };

    // Errc::not_found when the directory does not exist; Errc::busy when
    // another totp-enroll keeps the lock for more than 10 seconds. A
    // `central` file (outside the owner's home, handled as root) must sit in
    // root-owned directories and may be owned by root; a home file must be
    // the owner's, and the caller handles it with the owner's file-system
    // identity (FsIdentity) when it is root.
    static Result<SecretFileEditor> open(const std::string& path, uid_t owner, gid_t group, bool central,
                                         Access access = Access::edit);

    // nullopt when there is no file; an unsafe or malformed file is an error.
    Result<std::optional<SecretFile>> read() const;
    // True when there is any entry at the path (file, symlink, anything).
    bool exists() const;
    // Durable atomic replace, mode 0600, owned by owner:group.
    Status write(const SecretFile& file) const;
    // Unlinks the file and syncs the directory.
    Status remove() const;

    const std::string& path() const noexcept { return m_path; }

  private:
    SecretFileEditor(UniqueFd dir, UniqueFd lock, std::string path, std::string name, uid_t owner, gid_t group,
                     bool central)
        : m_dir(std::move(dir)),
          m_lock(std::move(lock)),
          m_path(std::move(path)),
          m_name(std::move(name)),
          m_owner(owner),
          m_group(group),
          m_central(central) {}

    UniqueFd m_dir;   // O_RDONLY
    UniqueFd m_lock;  // .NAME.lock, flock held
    std::string m_path;
    std::string m_name;
    uid_t m_owner;
    gid_t m_group;
    bool m_central;
};

}  // namespace pam_totp
