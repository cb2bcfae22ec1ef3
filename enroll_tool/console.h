// Standard input and output for totp-enroll: answers are read with read(2)
// into self-wiping buffers (no stdio buffer keeps a copy).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "core/util/secure_buffer.h"

namespace totp_enroll {

// One line from standard input without its line end, at most 256 bytes
// (the rest of a longer line is read and dropped); nullopt at end of input.
// When standard input is not a terminal nothing echoed the answer, so a
// newline ends the prompt's line on standard output.
std::optional<pam_totp::SecureBuffer> read_answer();

// The same for a secret, at most `max` bytes: on a terminal the typed text
// is not echoed. The terminal is set back as it was before this returns,
// and also when SIGINT, SIGTERM, SIGHUP or SIGQUIT arrives meanwhile (the
// signal is then raised again, as if it had arrived outside).
std::optional<pam_totp::SecureBuffer> read_hidden_answer(std::size_t max);

// Writes all of `text` to standard output (or error), retrying short writes.
void out(std::string_view text);
void err(std::string_view text);

bool stdout_is_terminal();

}  // namespace totp_enroll
