// A QR code (libqrencode) drawn as terminal text.
#pragma once

#include <optional>
#include <string_view>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

enum class QrStyle {
    utf8,   // half blocks, two modules per character, black on white (ANSI colours)
    ansi,   // colour cells: two spaces per module, black or white background
    ascii,  // '#' for a dark module, ' ' for a light one, two characters per module
    none,
};

std::optional<QrStyle> parse_qr_style(std::string_view name);

// The quiet zone around the symbol, in modules (ISO/IEC 18004 asks for 4).
inline constexpr int qr_quiet_zone = 4;

// Renders `text` (the otpauth URI) in `style`, with the quiet zone, one
// line per text row, each ending in '\n'. The drawing encodes the secret, so
// it is returned in a SecureBuffer. QrStyle::none gives an empty buffer.
Result<SecureBuffer> render_qr(const SecureBuffer& text, QrStyle style);

}  // namespace pam_totp
