#include "enroll_tool/pam_oath_import.h"

#include <array>
#include <string>

#include "core/otp/totp.h"
#include "core/util/text.h"
#include "enroll_tool/enrollment.h"
#include "enroll_tool/secret_text.h"

namespace pam_totp {
namespace {

// TYPE USER PIN SECRET COUNTER LAST-OTP TIME
constexpr std::size_t max_fields = 7;

Error line_err(std::size_t line, const std::string& problem) {
    return make_error(Errc::format, "usersfile line " + std::to_string(line) + ": " + problem);
}

// A line pam_oath would not have written: the way out.
Error bad_line(std::size_t line, const std::string& problem) {
    return line_err(line, problem + "; correct the line in a copy of the file and import the copy");
}

struct Kind {
    TokenType type = TokenType::hotp;
    unsigned digits = 6;
    unsigned period = 0;
};

// liboath's parse_type: the same names, nothing else.
std::optional<Kind> parse_kind(std::string_view s) {
    if (s == "HOTP" || s == "HOTP/E" || s == "HOTP/E/6") {
        return Kind{TokenType::hotp, 6, 0};
    }
    if (s == "HOTP/E/7" || s == "HOTP/E/8") {
        return Kind{TokenType::hotp, s.back() == '7' ? 7U : 8U, 0};
    }
    for (const unsigned period : {30U, 60U}) {
        const std::string base = "HOTP/T" + std::to_string(period);
        if (s == base || s == base + "/6") {
            return Kind{TokenType::totp, 6, period};
        }
        if (s == base + "/7" || s == base + "/8") {
            return Kind{TokenType::totp, s.back() == '7' ? 7U : 8U, period};
        }
    }
    return std::nullopt;
}

// A decimal counter as liboath reads it (strtoull: leading zeros allowed),
// but bounded: at most max_start_counter.
std::optional<std::uint64_t> parse_counter(std::string_view s) {
    if (s.empty() || s.size() > 40 || !all_digits(s)) {
        return std::nullopt;
    }
    std::uint64_t n = 0;
    for (const char c : s) {
        if (n > (max_start_counter - static_cast<std::uint64_t>(c - '0')) / 10) {
            return std::nullopt;
        }
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

// "%Y-%m-%dT%H:%M:%SL", the form liboath writes (TIME_FORMAT_STRING).
bool is_pam_oath_time(std::string_view s) {
    constexpr std::string_view shape = "dddd-dd-ddTdd:dd:ddL";
    if (s.size() != shape.size()) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) {
            return false;
        }
    }
    const auto num = [&](std::size_t at) { return (s[at] - '0') * 10 + (s[at + 1] - '0'); };
    const int month = num(5);
    const int day = num(8);
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && num(11) <= 23 && num(14) <= 59 && num(17) <= 60;
}

// One of the user's lines, fields[1] being the user.
Result<PamOathToken> parse_token(std::size_t line_no, const std::vector<std::string_view>& fields) {
    const std::optional<Kind> kind = parse_kind(fields[0]);
    if (!kind) {
        return line_err(line_no,
                        "not a token type pam_oath knows (HOTP, HOTP/E, HOTP/E/6, HOTP/E/8, HOTP/T30, HOTP/T30/6, "
                        "HOTP/T30/8, HOTP/T60, HOTP/T60/6, HOTP/T60/8); correct it in a copy of the file and "
                        "import the copy");
    }
    if (kind->digits == 7) {
        return line_err(line_no,
                        "a 7-digit token; pam_totp takes 6 or 8 digits: program the token anew (ykman, "
                        "ykpersonalize) and enroll it with totp-enroll --add --secret-from");
    }
    if (fields.size() < 3) {
        return bad_line(line_no, "no PIN field after the user name (- for none)");
    }
    if (fields.size() < 4) {
        return bad_line(line_no, "no secret after the PIN field (TYPE USER PIN SECRET is the least a line holds)");
    }
    if (fields.size() > max_fields) {
        return bad_line(line_no,
                        "more than the 7 fields of a pam_oath line (TYPE USER PIN SECRET COUNTER LAST-OTP TIME)");
    }
    PamOathToken token;
    token.line_no = line_no;
    token.type = kind->type;
    token.digits = kind->digits;
    if (kind->type == TokenType::totp) {
        token.period = kind->period;
    }
    const std::string_view pin = fields[2];
    if (pin == "+") {
        token.pin_elsewhere = true;
    } else if (pin != "-") {
        return line_err(line_no,
                        "the token has a PIN (a password typed before the code), and pam_totp has no PINs: "
                        "keep the password with pam_unix, put - in the PIN field of a copy of the file, and "
                        "import the copy");
    }
    Result<SecureBuffer> key = hex_decode(fields[3]);
    if (!key) {
        return bad_line(line_no, "the secret (field 4) is " + key.error().message + "; pam_oath writes it in hex");
    }
    if (key.value().size() < min_secret_bytes || key.value().size() > max_secret_bytes) {
        return line_err(line_no, "the secret is " + std::to_string(key.value().size() * 8) +
                                     " bits long; pam_totp takes " + std::to_string(min_secret_bytes * 8) + " to " +
                                     std::to_string(max_secret_bytes * 8) +
                                     " bits: program the token with a new secret and enroll it with "
                                     "totp-enroll --add --secret-from");
    }
    token.key = std::move(key).value();
    std::uint64_t counter = 0;
    if (fields.size() > 4) {
        const std::optional<std::uint64_t> n = parse_counter(fields[4]);
        if (!n) {
            return bad_line(
                line_no, "the counter (field 5) is not a whole number from 0 to " + std::to_string(max_start_counter));
        }
        counter = *n;
    }
    if (fields.size() > 5) {
        const std::string_view otp = fields[5];
        if (otp.size() != token.digits || !all_digits(otp)) {
            return bad_line(line_no, "the last code (field 6) is not a " + std::to_string(token.digits) +
                                         "-digit code as pam_oath writes it");
        }
        token.last_otp = SecureBuffer(otp);
    }
    if (fields.size() > 6 && !is_pam_oath_time(fields[6])) {
        return bad_line(line_no, "the time (field 7) is not as pam_oath writes it (like 2026-11-28T10:00:00L)");
    }
    if (token.type == TokenType::hotp) {
        // pam_oath stores the counter of the code it accepted with that
        // code, and refuses the code again as replayed: the next counter it
        // accepts is one up. Without a last code the counter itself is next
        // (a line as the administrator wrote it).
        if (token.last_otp && counter == max_start_counter) {
            return bad_line(line_no, "the counter (field 5) is out of range");
        }
        token.counter = token.last_otp ? counter + 1 : counter;
    }
    return token;
}

}  // namespace

// liboath splits on " \t\r\n" (strtok_r); lines end at '\n'.
std::vector<std::string_view> usersfile_fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (i < line.size()) {
        while (i < line.size() && blank(line[i])) {
            ++i;
        }
        const std::size_t start = i;
        while (i < line.size() && !blank(line[i])) {
            ++i;
        }
        if (i > start) {
            out.push_back(line.substr(start, i - start));
        }
    }
    return out;
}

Result<PamOathImport> parse_pam_oath_usersfile(std::string_view text, std::string_view user) {
    if (text.size() > max_usersfile_size) {
        return make_error(Errc::format, "usersfile: larger than 1 MiB; not a pam_oath usersfile");
    }
    if (user.empty()) {
        return make_error(Errc::invalid_argument, "usersfile: no user name to look for");
    }
    PamOathImport out;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        const std::vector<std::string_view> fields = usersfile_fields(line);
        if (fields.empty() || fields[0].front() == '#') {
            continue;
        }
        if (fields.size() < 2 || fields[1] != user) {
            ++out.other_lines;
            continue;
        }
        Result<PamOathToken> token = parse_token(line_no, fields);
        if (!token) {
            return std::move(token).error();
        }
        for (const PamOathToken& earlier : out.tokens) {
            if (constant_time_equal(earlier.key.view(), token.value().key.view())) {
                return line_err(line_no, "the same secret as line " + std::to_string(earlier.line_no) +
                                             "; delete one of the two lines from a copy of the file and import "
                                             "the copy");
            }
        }
        if (out.tokens.size() == max_tokens_per_file) {
            return line_err(line_no, "more than " + std::to_string(max_tokens_per_file) + " lines for " +
                                         std::string(user) + "; pam_totp keeps at most " +
                                         std::to_string(max_tokens_per_file) +
                                         " tokens per user: import a copy of the file with the lines to keep");
        }
        out.tokens.push_back(std::move(token).value());
    }
    if (out.tokens.empty()) {
        const std::string others = std::to_string(out.other_lines) + (out.other_lines == 1 ? " line" : " lines");
        return make_error(Errc::not_found, "usersfile: no line for user " + std::string(user) + " (" + others +
                                               " for other users); check the name, or give it with --user");
    }
    return out;
}

}  // namespace pam_totp
