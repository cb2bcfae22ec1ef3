// The state model, once for every store (pam_totp(8), FILES):
//
//   per account (by user name): the guessing budget, an attempt charged
//     before its answer was checked, the last successful login;
//   per token (by TokenId, whatever path, spelling, account, service or
//     import reached the secret): the replay record: until when codes are
//     used, what an unsettled attempt may have used, the used recovery codes.
//
// An attempt is charged durably before its answer is looked at: the account
// gets `charge`, the tokens it is checked against get `pending_until` (a
// code) or `pending_recovery` (a recovery code). Once the answer is checked
// they are settled into the budget and the replay record. Should the
// process die in between (SIGKILL, a crash, a power loss), the next login
// settles them the strict way: the charge counts as a wrong code, the token
// refuses every code the attempt could have matched, the recovery code is
// used. So no answer is ever looked at unless its failure is, or will be,
// counted, and no code works twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/otp/rate_limit.h"
#include "core/otp/recovery.h"

namespace pam_totp {

// Used recovery codes remembered per token (oldest forgotten first). A
// file holds at most 100 codes; the rest covers replaced sets. Codes an
// unsettled attempt may have used are kept apart, so that no number of
// such attempts can push a code known to be used out of the record.
inline constexpr std::size_t max_used_recovery = 128;
inline constexpr std::size_t max_maybe_used_recovery = 64;

struct LastLogin {
    std::time_t when = 0;
    std::string service;  // printable, no spaces (sanitised by the writer), may be empty
    std::string rhost;
    std::string tty;

    bool operator==(const LastLogin&) const = default;
};

// A grace record (grace_period=, pam_totp(8)): a code was accepted at
// `granted` for this place (a hash of service, remote host, tty and
// the enrollment: core/login/grace.h), so a login from the same place is
// not asked again while the period lasts.
struct GraceRecord {
    RecoveryTag place;  // 8 bytes, 16 hex digits in the state
    std::time_t granted = 0;

    bool operator==(const GraceRecord&) const = default;
};

// Grace records kept per account; beyond it the oldest are forgotten.
inline constexpr std::size_t max_grace_records = 32;

struct AccountRecord {
    Budget budget;
    std::optional<std::time_t> charge;  // an attempt charged at this time and not settled
    unsigned charge_weight = 1;         // and its guess_weight (rate_limit.h), counted if it died
    std::optional<LastLogin> last_login;
    std::vector<GraceRecord> grace;  // oldest first

    bool operator==(const AccountRecord&) const = default;
};

// A used recovery code: its tag (the same for every hash of the code, so
// it stays used when the code is written again with a new salt) and the
// setting of the hash it matched (to count the codes left in the file).
// A code used under state format 1 has only its setting; one an unsettled
// attempt may have used, only its tag.
struct UsedRecovery {
    std::optional<RecoveryTag> tag;
    std::string setting;  // "$y$j9T$salt", or empty

    bool operator==(const UsedRecovery&) const = default;
};

// An unsettled attempt at an HOTP token: the tag of the code it typed
// (core/otp/hotp.h) and the last counter it could have matched. Settling
// it strictly needs the token's key, so the login does it (hotp_find_tagged):
// the counter moves past the one the code matched, if any.
struct PendingHotp {
    RecoveryTag tag;
    std::uint64_t last = 0;

    bool operator==(const PendingHotp&) const = default;
};

// A TOTP token's observed clock offset: the seconds its clock is ahead,
// recorded when a code is accepted off-centre, and the secret file's
// `offset` and `confirmed` of the token it was measured against: it holds
// only while both are unchanged, so a resync (which always moves
// `confirmed` on) or an edited offset starts anew.
struct Drift {
    long offset = 0;
    long file_offset = 0;
    std::time_t file_confirmed = 0;

    bool operator==(const Drift&) const = default;
};

struct TokenRecord {
    std::time_t used_until = 0;                    // TOTP: codes of time steps starting before this are used
                                                   // (0 for a secret used as HOTP: one kind per secret)
    std::optional<std::uint64_t> hotp_next;        // HOTP: the next counter that may be accepted
    std::optional<Drift> drift;                    // TOTP: where the window is centred
    std::optional<std::time_t> pending_until;      // an unsettled attempt could have used codes up to this
    std::optional<PendingHotp> pending_hotp;       // an unsettled attempt at an HOTP token
    std::optional<RecoveryTag> pending_recovery;   // an unsettled attempt's recovery code
    std::vector<UsedRecovery> used_recovery;       // used, oldest first
    std::vector<RecoveryTag> maybe_used_recovery;  // tried by attempts that died unsettled, oldest first

    bool operator==(const TokenRecord&) const = default;
};

// Settles what a dead attempt left, the strict way (see above). Each
// returns true when there was something to settle. settle_stale_pending
// leaves pending_hotp (the login settles it with the key, first).
bool settle_stale_charge(AccountRecord& account, const RateLimitConfig& config);
bool settle_stale_pending(TokenRecord& token);

// Records a grace for `place` granted at `when` (replacing an older one
// for the same place), forgetting the oldest beyond max_grace_records.
void remember_grace(AccountRecord& account, const RecoveryTag& place, std::time_t when);

// Adds a used recovery code, forgetting the oldest beyond the bound.
void remember_used_recovery(TokenRecord& token, const UsedRecovery& used);

// Adds a recovery code an attempt that died unsettled may have used.
void remember_maybe_used_recovery(TokenRecord& token, const RecoveryTag& tag);

// True when a code with `tag` was used, or may have been.
bool recovery_used(const TokenRecord& token, const RecoveryTag& tag) noexcept;

// The settings of the hashes of used codes (to skip them, and to count
// the codes of a file that are left).
std::vector<std::string> used_settings(const TokenRecord& token);

// Folds what `from` records into `into`, the strict way: the later lockout
// and debt, every wrong code (of the wrong codes at one second, as many as
// the side with more has: folding the same record in twice counts none
// twice), every used code (a host's state joining a shared store,
// pam_totp(8), FLEET). Both must be settled (no charge or pending attempt
// left).
void merge_into(AccountRecord& into, const AccountRecord& from);
void merge_into(TokenRecord& into, const TokenRecord& from);

// How many of `hashes` are not used.
std::size_t recovery_codes_left(const TokenRecord& token, const std::vector<std::string>& hashes);

}  // namespace pam_totp
