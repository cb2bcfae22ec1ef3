#include "core/files/file_lock.h"

#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace pam_totp {

Status lock_exclusive(int fd, std::chrono::milliseconds wait, const std::string& what) {
    // A non-blocking attempt and a pause, rather than a blocking flock under
    // an alarm: a library must not touch the process's signal handlers.
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::chrono::milliseconds pause{1};
    for (;;) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            return {};
        }
        const int err = errno;
        if (err != EWOULDBLOCK && err != EINTR) {
            return errno_error("cannot lock " + what, err);
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            return make_error(Errc::busy, what + " stays locked by another process for more than " +
                                              std::to_string(wait.count()) + " ms (a stopped or hung login?)");
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        const auto nap = std::min(pause, std::max(left, std::chrono::milliseconds{1}));
        const timespec ts{0, static_cast<long>(nap.count()) * 1000000L};
        ::nanosleep(&ts, nullptr);
        pause = std::min(pause * 2, std::chrono::milliseconds{25});
    }
}

}  // namespace pam_totp
