#include "core/util/result.h"

#include <cerrno>
#include <cstring>

namespace pam_totp {

std::string errno_message(const std::string& what, int err) {
    char buf[256];
    // GNU strerror_r returns the message, which may or may not live in buf.
    const char* msg = ::strerror_r(err, buf, sizeof buf);
    return what + ": " + msg;
}

Errc errc_for_errno(int err) noexcept {
    switch (err) {
        case EACCES:
        case EPERM:
            return Errc::permission;
        case ENOENT:
            return Errc::not_found;
        default:
            return Errc::io;
    }
}

Error errno_error(const std::string& what, int err) {
    std::string message = errno_message(what, err);
    if (err == ENOSPC || err == EDQUOT) {
        message += " (the file system or quota is full; free some space and retry)";
    } else if (err == EFBIG) {
        message += " (the file-size limit, RLIMIT_FSIZE, of the calling process is too low)";
    }
    return make_error(errc_for_errno(err), std::move(message));
}

}  // namespace pam_totp
