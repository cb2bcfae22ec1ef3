// The line syntax shared by the secret file and the state file:
//
//   version 1          (first line, exactly)
//   # comment          (whole-line comments and blank lines are allowed)
//   key value          (one space between key and value; no trailing space)
//
// Parsing is strict and bounded; every error names the line.
//
// Precisely: a key is 1..max_kv_key_length characters of [a-z_]; a value is one
// or more printable ASCII characters 0x21..0x7e. Values never contain a space
// (no value of either format needs one), so a second space anywhere on a
// key/value line is an error. Every line, comments included, may hold only
// printable ASCII and spaces: NUL, CR, TAB, other control bytes and bytes
// >= 0x80 are errors. Messages have the form "<what> line <n>: <problem>";
// they may quote a key (it is [a-z_] only and short) but never a value, which
// may be a secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"

namespace pam_totp {

inline constexpr std::size_t max_file_size = std::size_t{64} * 1024;
inline constexpr std::size_t max_line_length = 1024;  // without the newline
inline constexpr std::size_t max_kv_key_length = 32;

struct KvLine {
    std::size_t line_no;     // 1-based
    std::string_view key;    // [a-z_]+
    std::string_view value;  // printable ASCII, non-empty, no leading or trailing space
};

// Splits `text` (which must outlive the result, at most `max_size` bytes)
// into key/value lines after checking the version line. `what` names the file kind in messages
// ("secret file", "state file"). Errors: file too large, NUL or non-ASCII or
// control byte (a CR too), line too long, bad version line,
// malformed line (no space, empty key or value, bad key characters). A
// missing newline at the end of the last line is accepted.
Result<std::vector<KvLine>> parse_kv_lines(std::string_view text, std::string_view what, unsigned version,
                                           std::size_t max_size = max_file_size);

// The same for a format with several versions: any of `lowest` ..
// `highest` on line 1, which is returned with the lines.
struct KvFile {
    unsigned version = 0;
    std::vector<KvLine> lines;
};
Result<KvFile> parse_kv_file(std::string_view text, std::string_view what, unsigned lowest, unsigned highest,
                             std::size_t max_size = max_file_size);

// --- value syntax shared by both formats ----------------------------------

// A strict unsigned decimal: ASCII digits only (no sign, no space, no leading
// zero unless the number is 0), at most `max`. The error message is only the
// problem ("not a decimal number", "out of range") and never quotes the text;
// the caller adds the file and line.
Result<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max);

// Exactly 32 lower-case hex digits.
bool is_enrollment_id(std::string_view text) noexcept;

// A crypt(3) string of the yescrypt family: "$y$" first, only [./0-9A-Za-z$],
// at most 256 characters, and exactly `fields` non-empty '$'-separated fields
// after the leading empty one ("y" counts as the first): 4 for a hash
// ("$y$params$salt$hash"), 3 for a setting ("$y$params$salt").
bool is_yescrypt_string(std::string_view text, std::size_t fields) noexcept;

// Error{Errc::format, "<what> line <line_no>: <problem>"}.
Error line_error(std::string_view what, std::size_t line_no, std::string_view problem);

// "'key'", for messages (keys are [a-z_], safe to echo).
std::string quoted_key(std::string_view key);

// The keys of a format that may each appear once, and where each was seen.
class SingleKeys {
  public:
    explicit SingleKeys(std::span<const std::string_view> keys) : m_keys(keys), m_seen_on(keys.size(), 0) {}

    // The index of line.key in the keys; an unknown key, or one already
    // seen (the message names the first line), is an Errc::format error.
    Result<std::size_t> claim(const KvLine& line, std::string_view what);
    [[nodiscard]] bool seen(std::size_t index) const { return m_seen_on.at(index) != 0; }

  private:
    std::span<const std::string_view> m_keys;
    std::vector<std::size_t> m_seen_on;  // line of the first occurrence; 0 = not yet
};

}  // namespace pam_totp
