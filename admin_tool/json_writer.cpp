#include "admin_tool/json_writer.h"

#include <cstdio>

namespace totp_admin {
namespace {

std::string format_utc(std::time_t t, const char* format) {
    struct tm tm {};
    if (::gmtime_r(&t, &tm) == nullptr) {
        return std::to_string(t);
    }
    char buf[64];
    if (std::strftime(buf, sizeof buf, format, &tm) == 0) {
        return std::to_string(t);
    }
    return buf;
}

// The length of the well-formed UTF-8 sequence (RFC 3629 section 4) at
// the start of `s`, 0 when it is not one.
std::size_t utf8_sequence(std::string_view s) {
    const auto byte = [&s](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char b0 = byte(0);
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        n = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        n = 3;
        lo = b0 == 0xe0 ? 0xa0 : 0x80;  // no overlong forms
        hi = b0 == 0xed ? 0x9f : 0xbf;  // no surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        n = 4;
        lo = b0 == 0xf0 ? 0x90 : 0x80;
        hi = b0 == 0xf4 ? 0x8f : 0xbf;  // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < n || byte(1) < lo || byte(1) > hi) {
        return 0;
    }
    for (std::size_t i = 2; i < n; ++i) {
        if (byte(i) < 0x80 || byte(i) > 0xbf) {
            return 0;
        }
    }
    return n;
}

}  // namespace

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            // A name from the account database need not be UTF-8; JSON
            // must be (RFC 8259 section 8.1): a byte that is not becomes
            // U+FFFD, as a decoder would show it.
            const std::size_t n = utf8_sequence(text.substr(i));
            out += n == 0 ? std::string_view("\\ufffd") : text.substr(i, n);
            i += n == 0 ? 1 : n;
            continue;
        }
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            (void)std::snprintf(buf, sizeof buf, "\\u%04x", u);
            out += buf;
        } else {
            out += c;
        }
        ++i;
    }
    return out + "\"";
}

std::string utc_iso(std::time_t t) {
    return format_utc(t, "%Y-%m-%dT%H:%M:%SZ");
}

std::string utc_text(std::time_t t) {
    return format_utc(t, "%Y-%m-%d %H:%M:%S");
}

JsonObject& JsonObject::key(std::string_view name) {
    if (!m_empty) {
        m_text += ',';
    }
    m_empty = false;
    m_text += json_string(name);
    m_text += ':';
    return *this;
}

JsonObject& JsonObject::add(std::string_view name, std::string_view value) {
    key(name).m_text += json_string(value);
    return *this;
}

JsonObject& JsonObject::add(std::string_view name, std::int64_t value) {
    key(name).m_text += std::to_string(value);
    return *this;
}

JsonObject& JsonObject::add(std::string_view name, bool value) {
    key(name).m_text += value ? "true" : "false";
    return *this;
}

JsonObject& JsonObject::add_null(std::string_view name) {
    key(name).m_text += "null";
    return *this;
}

JsonObject& JsonObject::add_raw(std::string_view name, std::string_view json) {
    key(name).m_text += json;
    return *this;
}

JsonObject& JsonObject::add_text(std::string_view name, const std::optional<std::string>& value) {
    return value && !value->empty() ? add(name, std::string_view(*value)) : add_null(name);
}

JsonObject& JsonObject::add_count(std::string_view name, std::optional<std::int64_t> value) {
    return value ? add(name, *value) : add_null(name);
}

JsonObject& JsonObject::add_time(std::string_view name, std::optional<std::time_t> t) {
    const std::string at = std::string(name) + "_at";
    const std::string unix_key = std::string(name) + "_unix";
    if (!t) {
        return add_null(at).add_null(unix_key);
    }
    return add(at, std::string_view(utc_iso(*t))).add(unix_key, static_cast<std::int64_t>(*t));
}

JsonArray& JsonArray::add_raw(std::string_view json) {
    if (!m_empty) {
        m_text += ',';
    }
    m_empty = false;
    m_text += json;
    return *this;
}

}  // namespace totp_admin
