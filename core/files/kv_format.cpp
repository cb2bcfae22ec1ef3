#include "core/files/kv_format.h"

#include <string>

namespace pam_totp {
namespace {

// A key is short and [a-z_] only, so it is safe to quote in a log message.
bool is_key(std::string_view key) noexcept {
    if (key.empty() || key.size() > max_kv_key_length) {
        return false;
    }
    for (const char c : key) {
        if (!((c >= 'a' && c <= 'z') || c == '_')) {
            return false;
        }
    }
    return true;
}

// Every byte of every line must be printable ASCII or a space. Returns the
// problem, or an empty string when the line is clean. The column (1-based)
// helps the administrator find an invisible byte without quoting the line.
std::string byte_problem(std::string_view line) {
    for (std::size_t i = 0; i < line.size(); ++i) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c >= 0x20 && c < 0x7f) {
            continue;
        }
        const std::string column = " at column " + std::to_string(i + 1);
        if (c == 0) {
            return "NUL byte" + column;
        }
        if (c == '\r') {
            return "carriage return" + column + " (DOS line endings are not accepted)";
        }
        if (c == '\t') {
            return "tab character" + column + " (use a single space)";
        }
        if (c >= 0x80) {
            return "non-ASCII byte" + column;
        }
        return "control character" + column;
    }
    return {};
}

// The version on line 1, one of lowest .. highest.
Result<unsigned> check_version_line(std::string_view line, std::string_view what, unsigned lowest, unsigned highest) {
    const std::string expected = "version " + std::to_string(highest);
    constexpr std::string_view prefix = "version ";
    if (line.substr(0, prefix.size()) == prefix) {
        const Result<std::uint64_t> found = parse_decimal(line.substr(prefix.size()), UINT32_MAX);
        if (found && found.value() >= lowest && found.value() <= highest) {
            return static_cast<unsigned>(found.value());
        }
        if (found) {
            const std::string reads = lowest == highest
                                          ? "version " + std::to_string(highest)
                                          : "versions " + std::to_string(lowest) + " to " + std::to_string(highest);
            return line_error(what, 1,
                              "format version " + std::to_string(found.value()) + " found, this build reads " + reads);
        }
    }
    return line_error(what, 1, "expected '" + expected + "'");
}

// Splits one "key value" line; the problem when it is malformed.
Result<KvLine> split_kv_line(std::string_view line, std::size_t line_no, std::string_view what) {
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) {
        return line_error(what, line_no, "expected 'key value', found no space");
    }
    const std::string_view key = line.substr(0, space);
    if (!is_key(key)) {
        return line_error(
            what, line_no,
            "malformed key (expected 1 to " + std::to_string(max_kv_key_length) + " characters a-z or _)");
    }
    const std::string_view value = line.substr(space + 1);
    const std::string quoted = "'" + std::string(key) + "'";
    if (value.empty()) {
        return line_error(what, line_no, "empty value for " + quoted);
    }
    if (value.front() == ' ') {
        return line_error(what, line_no, "more than one space after " + quoted);
    }
    if (value.back() == ' ') {
        return line_error(what, line_no, "trailing space");
    }
    if (value.find(' ') != std::string_view::npos) {
        return line_error(what, line_no, "space inside the value of " + quoted);
    }
    return KvLine{line_no, key, value};
}

}  // namespace

Error line_error(std::string_view what, std::size_t line_no, std::string_view problem) {
    std::string message(what);
    message += " line ";
    message += std::to_string(line_no);
    message += ": ";
    message += problem;
    return make_error(Errc::format, std::move(message));
}

Result<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
    if (text.empty()) {
        return make_error(Errc::format, "not a decimal number");
    }
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return make_error(Errc::format, "not a decimal number");
        }
    }
    // One spelling per number, so that what is written is what is read back.
    if (text.size() > 1 && text.front() == '0') {
        return make_error(Errc::format, "not a decimal number (leading zero)");
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (max - digit) / 10) {
            return make_error(Errc::format, "out of range (at most " + std::to_string(max) + ")");
        }
        value = value * 10 + digit;
    }
    return value;
}

bool is_enrollment_id(std::string_view text) noexcept {
    if (text.size() != 32) {
        return false;
    }
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool is_yescrypt_string(std::string_view text, std::size_t fields) noexcept {
    constexpr std::size_t max_length = 256;
    if (text.size() > max_length || text.substr(0, 3) != "$y$") {
        return false;
    }
    // crypt(3)'s alphabet ("./0-9A-Za-z") plus the '$' separators.
    for (const char c : text) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
                        c == '/' || c == '$';
        if (!ok) {
            return false;
        }
    }
    // After the leading '$': `fields` fields, none empty.
    std::size_t count = 0;
    std::size_t start = 1;
    while (true) {
        const std::size_t end = text.find('$', start);
        const std::size_t stop = end == std::string_view::npos ? text.size() : end;
        if (stop == start) {
            return false;
        }
        ++count;
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    return count == fields;
}

Result<std::vector<KvLine>> parse_kv_lines(std::string_view text, std::string_view what, unsigned version,
                                           std::size_t max_size) {
    Result<KvFile> file = parse_kv_file(text, what, version, version, max_size);
    if (!file) {
        return std::move(file).error();
    }
    return std::move(file).value().lines;
}

Result<KvFile> parse_kv_file(std::string_view text, std::string_view what, unsigned lowest, unsigned highest,
                             std::size_t max_size) {
    const unsigned version = highest;
    if (text.size() > max_size) {
        return make_error(Errc::format, std::string(what) + ": larger than " + std::to_string(max_size) + " bytes");
    }
    if (text.empty()) {
        return make_error(Errc::format, std::string(what) + ": empty file (expected 'version " +
                                            std::to_string(version) + "' on line 1)");
    }
    KvFile file;
    std::vector<KvLine>& lines = file.lines;
    std::size_t pos = 0;
    std::size_t line_no = 0;
    while (pos < text.size()) {
        ++line_no;
        const std::size_t newline = text.find('\n', pos);
        const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;

        if (line.size() > max_line_length) {
            return line_error(what, line_no, "line longer than " + std::to_string(max_line_length) + " bytes");
        }
        const std::string problem = byte_problem(line);
        if (!problem.empty()) {
            return line_error(what, line_no, problem);
        }
        if (line_no == 1) {
            const Result<unsigned> found = check_version_line(line, what, lowest, highest);
            if (!found) {
                return found.error();
            }
            file.version = found.value();
            continue;
        }
        if (line.empty() || line.front() == '#') {
            continue;
        }
        Result<KvLine> kv = split_kv_line(line, line_no, what);
        if (!kv) {
            return std::move(kv).error();
        }
        lines.push_back(kv.value());
    }
    return file;
}

std::string quoted_key(std::string_view key) {
    return "'" + std::string(key) + "'";
}

Result<std::size_t> SingleKeys::claim(const KvLine& line, std::string_view what) {
    std::size_t index = 0;
    while (index < m_keys.size() && m_keys[index] != line.key) {
        ++index;
    }
    if (index == m_keys.size()) {
        return line_error(what, line.line_no, "unknown key " + quoted_key(line.key));
    }
    if (m_seen_on[index] != 0) {
        return line_error(
            what, line.line_no,
            "duplicate " + quoted_key(line.key) + " (first on line " + std::to_string(m_seen_on[index]) + ")");
    }
    m_seen_on[index] = line.line_no;
    return index;
}

}  // namespace pam_totp
