// Standard input and output for totp-enroll: answers are read with read(2)
// into self-wiping buffers (no stdio buffer keeps a copy).
#pragma once

#include <optional>
#include <string_view>

#include "core/util/secure_buffer.h"

namespace totp_enroll {

// One line from standard input without its line end, at most 256 bytes
// (the rest of a longer line is read and dropped); nullopt at end of input.
// When standard input is not a terminal nothing echoed the answer, so a
// newline ends the prompt's line on standard output.
std::optional<pam_totp::SecureBuffer> read_answer();

// Writes all of `text` to standard output (or error), retrying short writes.
void out(std::string_view text);
void err(std::string_view text);

bool stdout_is_terminal();

}  // namespace totp_enroll
