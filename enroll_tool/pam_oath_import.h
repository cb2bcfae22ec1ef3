// Reading pam_oath's usersfile (liboath's usersfile.c; usually
// /etc/users.oath) for `totp-enroll --import-pam-oath`. One token per
// line, its fields separated by spaces or tabs:
//
//   TYPE        USER   PIN  SECRET                                    [COUNTER [LAST-OTP [TIME]]]
//   HOTP        alice  -    3132333435363738393031323334353637383930  5  254676  2026-11-28T10:00:00L
//   HOTP/T30/8  alice  -    ...
//
// TYPE is HOTP, HOTP/E or HOTP/E/6|7|8 for counter-based tokens (RFC 4226),
// HOTP/T30[/6|7|8] or HOTP/T60[/6|7|8] for time-based ones (RFC 6238, a
// 30 or 60 second period); the last number is the digits (default 6). PIN
// is "-" (none), "+" (checked by another module) or a password typed before
// the code. SECRET is hex. pam_oath writes the last three fields after each
// login: the counter of the code it accepted, that code, and when (local
// time). liboath skips lines whose type it does not know; '#' lines are
// such lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/files/secret_file.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

// A usersfile holds every user's lines: larger than a secret file may be.
inline constexpr std::size_t max_usersfile_size = std::size_t{1024} * 1024;

struct PamOathToken {
    std::size_t line_no = 0;
    TokenType type = TokenType::hotp;
    SecureBuffer key;
    unsigned digits = 6;
    unsigned period = 30;       // totp: 30 or 60
    std::uint64_t counter = 0;  // hotp: the first counter pam_oath would accept next
    // The last code pam_oath accepted (totp: so that it is refused after
    // the import too); nullopt when the line has none.
    std::optional<SecureBuffer> last_otp;
    bool pin_elsewhere = false;  // PIN "+": the password is checked by another module
};

struct PamOathImport {
    std::vector<PamOathToken> tokens;  // the user's lines, in file order
    std::size_t other_lines = 0;       // lines of other users (not looked at beyond the name)
};

// The fields of one usersfile line, split as liboath splits them (at
// spaces, tabs and CRs; lines end at '\n').
std::vector<std::string_view> usersfile_fields(std::string_view line);

// The lines of `user` in `text`. Every line of the user must be a token
// pam_totp can take: a known type with 6 or 8 digits, PIN "-" or "+", a
// hex secret of 80 to 1024 bits (unique among the user's lines), a
// counter, a last code of the token's digits and a time as pam_oath writes
// them. Lines of other users are skipped whatever they hold, as are blank
// lines and those whose first field starts with '#'. Errors are
// Errc::format, "usersfile line N: ..." saying what to do; no line for the
// user is Errc::not_found. No message quotes a secret, a PIN or a code.
Result<PamOathImport> parse_pam_oath_usersfile(std::string_view text, std::string_view user);

}  // namespace pam_totp
