#include "core/login/passwd_entry.h"

#include <unistd.h>

#include <cerrno>

namespace pam_totp {
namespace {

// A passwd entry is a few hundred bytes; a buffer this large is a loop.
constexpr long max_pw_buffer = 1L << 20;

}  // namespace

template <typename Lookup>
Result<std::optional<PasswdEntry>> PasswdEntry::look_up(const char* what, Lookup lookup) {
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    if (size <= 0) {
        size = 16384;
    }
    PasswdEntry entry;
    for (;;) {
        entry.m_buf.assign(static_cast<std::size_t>(size), '\0');
        struct passwd* found = nullptr;
        const int rc = lookup(&entry.m_pwd, entry.m_buf.data(), entry.m_buf.size(), &found);
        if (rc == ERANGE && size < max_pw_buffer) {
            size *= 2;
            continue;
        }
        if (rc != 0) {
            return make_error(Errc::io, errno_message(what, rc));
        }
        if (found == nullptr) {
            return std::optional<PasswdEntry>();
        }
        return std::optional<PasswdEntry>(std::move(entry));
    }
}

Result<std::optional<PasswdEntry>> PasswdEntry::by_name(const std::string& name) {
    return look_up("getpwnam_r", [&name](struct passwd* pwd, char* buf, std::size_t len, struct passwd** found) {
        return ::getpwnam_r(name.c_str(), pwd, buf, len, found);
    });
}

Result<std::optional<PasswdEntry>> PasswdEntry::by_uid(uid_t uid) {
    return look_up("getpwuid_r", [uid](struct passwd* pwd, char* buf, std::size_t len, struct passwd** found) {
        return ::getpwuid_r(uid, pwd, buf, len, found);
    });
}

}  // namespace pam_totp
