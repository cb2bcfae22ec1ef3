#include "core/files/fs_identity.h"

#include <grp.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace pam_totp {
namespace {

// setfsuid(2) reports no error: read the value back to know it took.
bool fsuid_is(uid_t uid) {
    return static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1))) == uid;
}
bool fsgid_is(gid_t gid) {
    return static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1))) == gid;
}

}  // namespace

Result<FsIdentity> FsIdentity::assume(uid_t uid, gid_t gid) {
    const int n = ::getgroups(0, nullptr);
    if (n < 0) {
        return make_error(Errc::io, errno_message("getgroups", errno));
    }
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    if (n > 0 && ::getgroups(n, groups.data()) != n) {
        return make_error(Errc::io, errno_message("getgroups", errno));
    }
    const auto old_uid = static_cast<uid_t>(::setfsuid(static_cast<uid_t>(-1)));
    const auto old_gid = static_cast<gid_t>(::setfsgid(static_cast<gid_t>(-1)));
    // Groups first (that needs root's capabilities), then group, then user.
    if (::setgroups(1, &gid) != 0) {
        return make_error(Errc::permission, errno_message("setgroups", errno));
    }
    FsIdentity identity(old_uid, old_gid, std::move(groups));
    ::setfsgid(gid);
    ::setfsuid(uid);
    if (!fsgid_is(gid) || !fsuid_is(uid)) {
        return make_error(Errc::permission, "cannot take on the file-system identity of uid " + std::to_string(uid));
    }
    return identity;
}

FsIdentity::FsIdentity(FsIdentity&& other) noexcept
    : m_old_uid(other.m_old_uid),
      m_old_gid(other.m_old_gid),
      m_old_groups(std::move(other.m_old_groups)),
      m_active(other.m_active) {
    other.m_active = false;
}

Status FsIdentity::restore() {
    if (!m_active) {
        return {};
    }
    m_active = false;
    ::setfsuid(m_old_uid);
    ::setfsgid(m_old_gid);
    const bool groups_back = ::setgroups(m_old_groups.size(), m_old_groups.data()) == 0;
    if (!fsuid_is(m_old_uid) || !fsgid_is(m_old_gid) || !groups_back) {
        return make_error(Errc::permission, "cannot give the file-system identity back");
    }
    return {};
}

FsIdentity::~FsIdentity() {
    // Carrying on with another identity's rights could read or write where
    // nobody meant to: stop instead.
    if (m_active && !restore()) {
        std::abort();
    }
}

Result<SecureBuffer> read_file_as(uid_t uid, gid_t gid, const std::string& path, const FileRules& rules) {
    auto identity = FsIdentity::assume(uid, gid);
    if (!identity) {
        return make_error(Errc::permission,
                          "cannot switch to the user's file-system identity: " + identity.error().message);
    }
    auto result = safe_read_file(path, rules);
    if (Status back = identity.value().restore(); !back) {
        return back.error();
    }
    return result;
}

}  // namespace pam_totp
