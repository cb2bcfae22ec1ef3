// Exclusive flock(2) with a bounded wait: a lock holder that is stopped
// (SIGSTOP from the user who started su) or hung must not hang every other
// login of the account; after `wait` the caller gives up with Errc::busy.
#pragma once

#include <chrono>
#include <string>

#include "core/util/result.h"

namespace pam_totp {

// The longest a login waits for another login of the same account.
inline constexpr std::chrono::milliseconds default_lock_wait{5000};

// Locks `fd` (LOCK_EX), polling with a growing pause (1 ms to 25 ms) until
// `wait` has passed. `what` names the file in messages.
Status lock_exclusive(int fd, std::chrono::milliseconds wait, const std::string& what);

}  // namespace pam_totp
