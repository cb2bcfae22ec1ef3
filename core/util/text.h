// Small text helpers shared by every layer (one of each: paths, modes,
// digits, hex).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pam_totp {

// "0600" for messages about permissions.
std::string mode_string(mode_t mode);

// "dir/name", with exactly one slash between them.
std::string join_path(std::string_view dir, std::string_view name);

// True when `s` is non-empty ASCII decimal digits only.
bool all_digits(std::string_view s) noexcept;

// True when every byte of `s` is printable ASCII (0x20..0x7e).
bool printable_ascii(std::string_view s) noexcept;

// Lower-case hex of `bytes`.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Fills `out` from exactly 2 * out.size() lower-case hex digits (the form
// to_hex writes, and no other); false for anything else.
bool from_hex(std::string_view text, std::span<std::uint8_t> out) noexcept;

// `s` with its ASCII letters' case swapped ("Alice" -> "aLICE").
std::string swap_ascii_case(std::string_view s);

}  // namespace pam_totp
