#include "core/util/result.h"

#include <cstring>

namespace pam_totp {

std::string errno_message(const std::string& what, int err) {
    char buf[256];
    // GNU strerror_r returns the message, which may or may not live in buf.
    const char* msg = ::strerror_r(err, buf, sizeof buf);
    return what + ": " + msg;
}

}  // namespace pam_totp
