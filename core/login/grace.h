// The grace period (grace_period=, pam_totp(8)): after a code was accepted,
// the same user from the same place is not asked again for a while.
//
// A place is the service, the remote host and the tty (sshd's tty is
// "ssh" for every session, sudo's the terminal it runs on, so sudo keys on
// the terminal), bound to the enrollment as it is: its id and the ids of
// all its tokens, so that re-enrolling, adding or removing a token (a lost
// phone) ends every grace at once.
#pragma once

#include <ctime>
#include <optional>
#include <span>
#include <string_view>

#include "core/otp/recovery.h"
#include "core/otp/token.h"
#include "core/store/records.h"

namespace pam_totp {

inline constexpr long max_grace_period = 7L * 24 * 3600;

// The place of a login; nullopt when it has neither a remote host nor a
// tty (nothing tells one caller from another: no grace).
std::optional<RecoveryTag> grace_place(std::string_view service, std::string_view rhost, std::string_view tty,
                                       std::string_view enrollment_id, std::span<const TokenId> tokens);

// True when `account` holds a grace for `place` granted within the last
// `period` seconds before `now` (a grace from the future, after the clock
// was set back, does not count).
bool grace_holds(const AccountRecord& account, const RecoveryTag& place, std::time_t now, long period) noexcept;

}  // namespace pam_totp
