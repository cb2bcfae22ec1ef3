// The text of one account's state, format version 2 (pam_totp(8), FILES),
// as the file store keeps it in each slot of a state file:
//
//   version 2
//   account alice                 the account (user name) the file is for
//   lockouts 0                    short-limit lockouts since the last success
//   locked_until 0                Unix time; code entry is locked before it
//   debt_until 0                  the long limit: when the wrong codes' debt is paid back
//   since_success 0               wrong codes since the last successful login
//   failure 1764290000            wrong codes since the last lockout or success
//                                 (at most 100; repeatable)
//   charge 1764290000             an attempt charged and not settled (optional)
//   charge_weight 3               how many wrong codes it counts as (rate_limit.h:
//                                 guess_weight; optional, 1 when absent)
//   grace 0123456789abcdef:1764290000   a grace (grace_period=): the place's
//                                 hash and when its code was accepted
//                                 (repeatable, at most 32)
//   last_login 1764290000         the last successful login (optional), and
//   last_service sshd               where it came from (each optional)
//   last_rhost 192.0.2.1
//   last_tty ssh
//   token 0123456789abcdef0123456789abcdef    a token whose replay record is here
//   used_until 1764290030         codes of steps starting before this are used
//   hotp_next 42                  HOTP: the next counter that may be accepted (optional)
//   drift 90:0:1764290010         TOTP: the observed clock offset, and the secret
//                                 file's offset and confirmed it was measured
//                                 against (optional)
//   pending_until 1764290090      an unsettled attempt (optional)
//   pending_hotp 0123456789abcdef:52   an unsettled attempt at an HOTP token: the
//                                 tag of its code and the last counter it could
//                                 match (optional)
//   pending_recovery 0123456789abcdef         an unsettled recovery code (optional)
//   recovery_used 0123456789abcdef:$y$j9T$salt   a used recovery code: its tag,
//                                 and the setting of the hash it matched when
//                                 known (repeatable)
//   recovery_used_old $y$j9T$salt  a code used under format 1 (repeatable)
//   recovery_maybe_used 0123456789abcdef       a code an attempt that died
//                                 unsettled may have used (repeatable)
//
// The account lines come first; each `token` line starts a section for
// that token. Parsing is strict, with kv_format's rules and messages.
// hotp_next, drift and pending_hotp came with tokens (pam_totp 0.3) in the
// same format version: an older module refuses a state holding them, so
// a downgrade fails closed rather than forgetting an HOTP counter.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "core/otp/token.h"
#include "core/store/records.h"
#include "core/util/result.h"

namespace pam_totp {

// At most this many tokens' records live in one account's state; beyond
// it the least recently used are forgotten (state_format.cpp says which).
inline constexpr std::size_t max_tokens_per_state = 16;
// The longest text a state can serialise to, with every list full.
inline constexpr std::size_t max_state_text = std::size_t{224} * 1024;

struct AccountState {
    std::string account;
    AccountRecord record;
    std::map<TokenId, TokenRecord> tokens;

    bool operator==(const AccountState&) const = default;
};

Result<AccountState> parse_account_state(std::string_view text);
std::string serialise_account_state(const AccountState& state);

// Keeps at most max_tokens_per_state token records, forgetting first those
// whose codes have been used the longest ago and that are not in `keep`.
// Returns the ids forgotten.
std::vector<TokenId> prune_token_records(AccountState& state, const std::vector<TokenId>& keep);

// A PAM item (service, remote host, tty) as the state and the log keep it:
// printable ASCII without spaces, at most 64 bytes; anything else becomes '?'.
std::string sanitise_item(std::string_view text);

}  // namespace pam_totp
