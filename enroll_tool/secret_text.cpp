#include "enroll_tool/secret_text.h"

#include <string>

#include "core/files/secret_file.h"
#include "core/otp/totp.h"

namespace pam_totp {
namespace {

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

Error secret_error(const std::string& problem) {
    return make_error(Errc::format, "the secret " + problem);
}

}  // namespace

Result<SecureBuffer> hex_decode(std::string_view text) {
    if (text.empty() || text.size() % 2 != 0) {
        return make_error(Errc::format, "not hex: an even number of hex digits is needed");
    }
    SecureBuffer out(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = hex_value(text[i]);
        const int lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return make_error(Errc::format, "not hex: only 0-9 and a-f are hex digits");
        }
        out.data()[i / 2] = static_cast<std::uint8_t>((hi << 4) | lo);
    }
    return out;
}

Result<SecureBuffer> decode_secret_text(std::string_view text) {
    while (!text.empty() && is_space(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_space(text.back())) {
        text.remove_suffix(1);
    }
    if (text.empty()) {
        return secret_error("is empty: give it in base32 or hex, on one line");
    }
    enum class Form { either, base32, hex } form = Form::either;
    if (text.starts_with("base32:")) {
        form = Form::base32;
        text.remove_prefix(7);
    } else if (text.starts_with("hex:")) {
        form = Form::hex;
        text.remove_prefix(4);
    }
    // Groups of four ("JBSW Y3DP ...", as ykman and apps show it); no line
    // breaks, no control bytes.
    SecureBuffer compact;
    for (const char c : text) {
        if (c == '\n' || c == '\r') {
            return secret_error("spans several lines: give it on one line");
        }
        if (c == ' ' || c == '\t') {
            continue;
        }
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) {
            return secret_error("holds a byte that is neither base32 nor hex: give it in base32 or hex");
        }
        compact.append(&c, 1);
    }
    std::string_view digits = compact.view();
    while (!digits.empty() && digits.back() == '=') {
        digits.remove_suffix(1);  // RFC 4648 padding; the decoder wants none
    }
    Result<SecureBuffer> as_hex = form == Form::base32 ? make_error(Errc::format, "not asked for") : hex_decode(digits);
    Result<SecureBuffer> as_base32 =
        form == Form::hex || digits.empty() ? make_error(Errc::format, "not asked for") : base32_decode(digits);
    if (as_hex && as_base32) {
        return secret_error("reads as both hex and base32: write hex: or base32: in front of it to say which");
    }
    if (!as_hex && !as_base32) {
        switch (form) {
            case Form::hex:
                return secret_error("is not hex (an even number of the digits 0-9 and a-f): check what follows hex:");
            case Form::base32:
                return secret_error("is not base32 (the letters A-Z and the digits 2-7): check what follows base32:");
            case Form::either:
                break;
        }
        return secret_error(
            "is neither base32 (A-Z, 2-7) nor hex (0-9, a-f): give it as the tool that programmed "
            "the token printed it");
    }
    SecureBuffer key = as_hex ? std::move(as_hex).value() : std::move(as_base32).value();
    if (key.size() < min_secret_bytes || key.size() > max_secret_bytes) {
        return secret_error("is " + std::to_string(key.size() * 8) + " bits long; pam_totp takes " +
                            std::to_string(min_secret_bytes * 8) + " to " + std::to_string(max_secret_bytes * 8) +
                            " bits: program the token with a longer secret");
    }
    return key;
}

}  // namespace pam_totp
