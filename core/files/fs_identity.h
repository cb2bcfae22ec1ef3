// Taking on a user's file-system identity (setfsuid/setfsgid, and the
// user's group as the only supplementary group) for a scope, so that root
// touches a user's files with exactly the user's rights: a symlink or hard
// link the user planted can lead nowhere the user could not go. What
// pam_modutil_drop_priv does, without a PAM handle: the module and
// totp-enroll use this one class.
#pragma once

#include <sys/types.h>

#include <vector>

#include "core/files/safe_file.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

class FsIdentity {
  public:
    // Switches (only root can); Errc::permission when it does not take.
    static Result<FsIdentity> assume(uid_t uid, gid_t gid);

    // Gives the identity back now; an error when that failed (the process
    // must then not go on as if it had root's file access, nor the user's).
    Status restore();

    // Gives it back if restore() was not called; a process that cannot is
    // stopped (std::abort) rather than left with the wrong rights.
    ~FsIdentity();

    FsIdentity(FsIdentity&& other) noexcept;
    FsIdentity& operator=(FsIdentity&&) = delete;
    FsIdentity(const FsIdentity&) = delete;
    FsIdentity& operator=(const FsIdentity&) = delete;

  private:
    FsIdentity(uid_t old_uid, gid_t old_gid, std::vector<gid_t> old_groups)
        : m_old_uid(old_uid), m_old_gid(old_gid), m_old_groups(std::move(old_groups)) {}

    uid_t m_old_uid;
    gid_t m_old_gid;
    std::vector<gid_t> m_old_groups;
    bool m_active = true;
};

// safe_read_file under the identity of (uid, gid), given back before it
// returns: how root reads a file in a user's home. An identity that cannot
// be given back is an error, whatever was read.
Result<SecureBuffer> read_file_as(uid_t uid, gid_t gid, const std::string& path, const FileRules& rules);

}  // namespace pam_totp
