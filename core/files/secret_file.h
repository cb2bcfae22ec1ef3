// The secret file (pam_totp-secret(5)): the user's enrollment, one or more
// named tokens and the recovery codes. It is configuration: written by
// totp-enroll, only ever read by the module.
//
// Format 1, one TOTP token (still read; still written for a file that holds
// nothing else, so that an older pam_totp reads it after a downgrade):
//
//   version 1
//   secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP    base32 (RFC 4648), 80..1024 bits
//   algorithm sha1                             sha1 | sha256 | sha512
//   digits 6                                   6 | 8
//   period 30                                  15..120
//   window 1                                   optional, 0..10
//   enrolled 1764290000                        Unix time of enrollment
//   enrollment_id 0123456789abcdef0123456789abcdef   32 lower-case hex digits
//   confirmed 1764290010                       optional: the end of the time step
//                                              whose code confirmed the enrollment
//   recovery $y$j9T$...                        zero or more yescrypt hashes
//
// Format 2, a list of tokens: the file's lines first, then one section per
// token, each opened by its `token` line:
//
//   version 2
//   enrolled 1764290000                        as in format 1
//   enrollment_id 0123456789abcdef0123456789abcdef
//   window 1                                   optional, for every TOTP token
//   recovery_anchor JBSWY3DP...                required with recovery lines, else optional
//                                              (see recovery_key below)
//   recovery $y$j9T$...                        zero or more
//   token phone                                a name: 1..32 of A-Z a-z 0-9 . _ -,
//                                              a letter or digit first; unique
//   type totp                                  totp | hotp
//   secret JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP    unique within the file
//   algorithm sha1                             (hotp: sha1 only, RFC 4226)
//   digits 6
//   period 30                                  totp only, required
//   offset -90                                 totp only, optional: seconds the token's
//                                              clock is ahead, -300..300 (--resync)
//   counter 0                                  hotp only, required: the first counter
//                                              the module may accept (--resync moves it)
//   added 1764290000                           when the token was enrolled
//   confirmed 1764290010                       totp only, optional (as in format 1)
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/otp/totp.h"
#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

inline constexpr std::size_t min_secret_bytes = 10;   // 80 bits: google-authenticator's default
inline constexpr std::size_t max_secret_bytes = 128;  // 1024 bits
inline constexpr std::size_t max_recovery_codes = 100;
// Eight tokens, and room in the state (max_tokens_per_state) for their
// records, the recovery anchor's and those of replaced enrollments.
inline constexpr std::size_t max_tokens_per_file = 8;
inline constexpr std::size_t max_token_name = 32;
// The name of the token of a format 1 file, and of the first token
// totp-enroll writes when no --name is given.
inline constexpr std::string_view default_token_name = "default";

enum class TokenType { totp, hotp };

std::string_view token_type_name(TokenType type) noexcept;  // "totp", "hotp"

// Empty when `name` is a valid token name, else the problem in words.
std::string token_name_problem(std::string_view name);

struct TokenEntry {
    std::string name;
    TokenType type = TokenType::totp;
    SecureBuffer key;           // the decoded secret
    TotpParams params;          // hotp: algorithm sha1, digits; the period is unused
    long offset = 0;            // totp: seconds the token's clock is ahead
    std::uint64_t counter = 0;  // hotp: the first counter value the module may accept
    std::time_t added = 0;
    std::time_t confirmed_until = 0;  // totp: codes of steps starting before this were shown already

    [[nodiscard]] TokenEntry clone() const;
};

struct SecretFile {
    unsigned version = 1;            // as read; the serialiser picks its own
    std::vector<TokenEntry> tokens;  // 1..max_tokens_per_file, names and keys unique
    std::optional<unsigned> window;  // the user's own TOTP window, if the file sets one
    std::time_t enrolled = 0;
    std::string enrollment_id;  // 32 lower-case hex digits
    // The key the recovery codes' replay record and tags hang on
    // (core/store/records.h) when it is not the first token's: a file
    // whose first token was removed keeps its key here, so that a used
    // recovery code stays used.
    std::optional<SecureBuffer> recovery_anchor;
    std::vector<std::string> recovery_hashes;  // yescrypt strings ("$y$...")

    [[nodiscard]] const SecureBuffer& recovery_key() const {
        return recovery_anchor ? *recovery_anchor : tokens.front().key;
    }
    // The token called `name`; nullptr when there is none.
    [[nodiscard]] const TokenEntry* find(std::string_view name) const;
    [[nodiscard]] SecretFile clone() const;
};

// Parses a format 1 or 2 secret file. Every single-valued key must appear
// exactly once where it is required (optional ones at most once); unknown
// keys, duplicates, keys in the wrong part, bad values, two tokens with one
// name or one secret, and overlong input are errors (Errc::format) whose
// message names the line, never the secret.
Result<SecretFile> parse_secret_file(std::string_view text);

// Serialises (with a comment header), in a self-wiping buffer because it
// holds the secrets: format 1 when the file is one TOTP token named
// default_token_name with no offset, added at enrollment and no recovery
// anchor, else format 2. parse(serialise(x)) == x but for `version`.
Result<SecureBuffer> serialise_secret_file(const SecretFile& file);

}  // namespace pam_totp
