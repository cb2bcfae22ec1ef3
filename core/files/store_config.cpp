#include "core/files/store_config.h"

#include <array>

#include "core/files/kv_format.h"
#include "core/files/safe_file.h"

namespace pam_totp {

namespace {

constexpr std::string_view what = "store configuration";
constexpr std::size_t max_line = 4096;
constexpr long max_timeout = 60;

Error bad_line(std::size_t line_no, const std::string& problem) {
    return line_error(what, line_no, problem);
}

bool printable_or_space(std::string_view s) noexcept {
    for (const char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

}  // namespace

Result<StoreConfig> parse_store_config(std::string_view text, std::string_view default_backend) {
    StoreConfig config;
    config.backend = std::string(default_backend);
    std::array<std::size_t, 3> seen_on{};  // conninfo, timeout, backend
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        ++line_no;
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.size() > max_line) {
            return bad_line(line_no, "line longer than " + std::to_string(max_line) + " bytes");
        }
        if (!printable_or_space(line)) {
            return bad_line(line_no, "a control or non-ASCII byte (tabs and DOS line ends included)");
        }
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const std::size_t space = line.find(' ');
        const std::string_view key = line.substr(0, space);
        const std::string_view value = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
        std::size_t index = 0;
        if (key == "conninfo") {
            index = 0;
        } else if (key == "timeout") {
            index = 1;
        } else if (key == "backend") {
            index = 2;
        } else {
            // Keys are named only when they look like keys: a pasted
            // connection string may hold a password.
            const bool key_like = !key.empty() && key.size() <= 32 &&
                                  key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
            return bad_line(line_no, key_like ? "unknown key '" + std::string(key) + "'" : "not 'key value'");
        }
        if (value.empty() || value.front() == ' ' || value.back() == ' ') {
            return bad_line(line_no, "'" + std::string(key) + "' needs a value, after exactly one space");
        }
        if (seen_on[index] != 0) {
            return bad_line(line_no, "'" + std::string(key) + "' given twice (first on line " +
                                         std::to_string(seen_on[index]) + ")");
        }
        seen_on[index] = line_no;
        if (index == 0) {
            config.conninfo = SecureBuffer(value);
        } else if (index == 1) {
            auto n = parse_decimal(value, max_timeout);
            if (!n || n.value() < 1) {
                return bad_line(line_no, "'timeout' must be 1 to " + std::to_string(max_timeout) + " seconds");
            }
            config.timeout = std::chrono::seconds(static_cast<long>(n.value()));
        } else {
            if (value.front() != '/') {
                return bad_line(line_no, "'backend' must be an absolute path");
            }
            config.backend = std::string(value);
        }
    }
    if (seen_on[0] == 0) {
        return make_error(Errc::format, std::string(what) + ": no 'conninfo' line (the database to connect to)");
    }
    return config;
}

Result<StoreConfig> read_store_config(const std::string& path, std::string_view default_backend) {
    const FileRules rules{.owner = 0, .root_may_own = true, .max_size = max_file_size, .root_owned_dirs = true};
    auto text = safe_read_file(path, rules);
    if (!text) {
        return std::move(text).error();
    }
    auto config = parse_store_config(text.value().view(), default_backend);
    if (!config) {
        return make_error(Errc::format, path + ": " + config.error().message);
    }
    return config;
}

}  // namespace pam_totp
