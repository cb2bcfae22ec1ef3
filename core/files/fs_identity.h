// Taking on a user's file-system identity (setfsuid/setfsgid, and the
// user's group as the only supplementary group) for a scope, so that root
// touches a user's files with exactly the user's rights: a symlink or hard
// link the user planted can lead nowhere the user could not go.
// For totp-enroll; the module uses pam_modutil_drop_priv, which does the same.
#pragma once

#include <sys/types.h>

#include <vector>

#include "core/util/result.h"

namespace pam_totp {

class FsIdentity {
  public:
    // Switches (only root can); restored when the object goes.
    static Result<FsIdentity> assume(uid_t uid, gid_t gid);
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

}  // namespace pam_totp
