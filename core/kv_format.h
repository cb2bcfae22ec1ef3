// The line syntax shared by the secret file and the state file:
//
//   version 1          (first line, exactly)
//   # comment          (whole-line comments and blank lines are allowed)
//   key value          (one space between key and value; no trailing space)
//
// Parsing is strict and bounded; every error names the line.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "result.h"

namespace pam_totp {

inline constexpr std::size_t max_file_size = 64 * 1024;
inline constexpr std::size_t max_line_length = 1024;  // without the newline

struct KvLine {
    std::size_t line_no;     // 1-based
    std::string_view key;    // [a-z_]+
    std::string_view value;  // printable ASCII, non-empty, no leading or trailing space
};

// Splits `text` (which must outlive the result) into key/value lines after
// checking the version line. `what` names the file kind in messages
// ("secret file", "state file"). Errors: file too large, NUL or non-ASCII or
// control byte (a CR too), line too long, bad version line,
// malformed line (no space, empty key or value, bad key characters). A
// missing newline at the end of the last line is accepted.
Result<std::vector<KvLine>> parse_kv_lines(std::string_view text, std::string_view what, unsigned version);

}  // namespace pam_totp
