#include "core/files/secret_file.h"

#include <array>
#include <limits>
#include <string>

#include "core/files/kv_format.h"
#include "core/otp/hotp.h"
#include "core/otp/recovery.h"

namespace pam_totp {
namespace {

constexpr std::string_view what = "secret file";
constexpr unsigned lowest_version = 1;
constexpr unsigned highest_version = 2;
constexpr std::string_view header_comment =
    "# pam_totp secret file: see pam_totp-secret(5). Keep it private (mode 0600).\n";

constexpr auto max_time = static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max());

// Format 1: one table of keys that may appear at most once.
enum V1Key : std::size_t {
    v1_secret,
    v1_algorithm,
    v1_digits,
    v1_period,
    v1_window,
    v1_enrolled,
    v1_enrollment_id,
    v1_confirmed,
    v1_count
};
constexpr std::array<std::string_view, v1_count> v1_keys = {"secret", "algorithm", "digits",        "period",
                                                            "window", "enrolled",  "enrollment_id", "confirmed"};
constexpr std::array<bool, v1_count> v1_required = {true, true, true, true, false, true, true, false};

// Format 2: the file's keys, then each token's.
enum FileKey : std::size_t { f_enrolled, f_enrollment_id, f_window, f_recovery_anchor, f_count };
constexpr std::array<std::string_view, f_count> file_keys = {"enrolled", "enrollment_id", "window", "recovery_anchor"};
constexpr std::array<bool, f_count> file_required = {true, true, false, false};

enum TokenKey : std::size_t {
    t_type,
    t_secret,
    t_algorithm,
    t_digits,
    t_period,
    t_offset,
    t_counter,
    t_added,
    t_confirmed,
    t_count
};
constexpr std::array<std::string_view, t_count> token_keys = {"type",   "secret",  "algorithm", "digits",   "period",
                                                              "offset", "counter", "added",     "confirmed"};

constexpr std::string_view recovery_key_name = "recovery";
constexpr std::string_view token_key_name = "token";

// "'digits' must be 6 or 8" etc.; the value itself is never quoted.
std::string keyed(std::string_view key, const std::string& problem) {
    return problem.empty() ? problem : quoted_key(key) + ": " + problem;
}

// Each check returns the problem, empty when the value is good. They are
// shared by the parser and the serialiser so that what is written always
// parses back.
std::string key_problem(std::string_view key, std::size_t size) {
    if (size < min_secret_bytes) {
        return quoted_key(key) + " is shorter than " + std::to_string(min_secret_bytes * 8) + " bits";
    }
    if (size > max_secret_bytes) {
        return quoted_key(key) + " is longer than " + std::to_string(max_secret_bytes * 8) + " bits";
    }
    return {};
}

std::string id_problem(std::string_view id) {
    return is_enrollment_id(id) ? std::string() : std::string("'enrollment_id' must be 32 lower-case hex digits");
}

std::string hash_problem(std::string_view hash) {
    return is_recovery_hash(hash) ? std::string()
                                  : "'recovery' is not a recovery-code hash as totp-enroll writes it (" +
                                        std::string(recovery_hash_prefix) + "salt$hash)";
}

std::string count_problem(std::size_t count) {
    return count <= max_recovery_codes ? std::string()
                                       : "more than " + std::to_string(max_recovery_codes) + " 'recovery' lines";
}

std::string offset_problem(long offset) {
    return offset >= -max_clock_offset && offset <= max_clock_offset
               ? std::string()
               : "'offset' must be -" + std::to_string(max_clock_offset) + " to " + std::to_string(max_clock_offset) +
                     " seconds";
}

std::string counter_problem(std::uint64_t counter) {
    return counter <= max_file_hotp_counter ? std::string() : std::string("'counter' is out of range");
}

// HMAC (RFC 2104 section 2) pads a key shorter than its block with zero
// bytes, so K and K followed by zeros give the same codes: two tokens are
// one secret when their keys are equal but for trailing zeros. (Keys longer
// than a block are hashed first; format 2 keeps keys within one block,
// format2_key_bytes, so that this comparison is the whole story.)
std::string_view hmac_form(const SecureBuffer& key) {
    std::string_view k = key.view();
    while (!k.empty() && k.back() == '\0') {
        k.remove_suffix(1);
    }
    return k;
}

bool same_secret(const SecureBuffer& a, const SecureBuffer& b) {
    return constant_time_equal(hmac_form(a), hmac_form(b));
}

// The longest key of a format 2 token: SHA-1's and SHA-256's block.
constexpr std::size_t format2_key_bytes = 64;

Result<SecureBuffer> decode_key(std::string_view key, std::string_view value) {
    Result<SecureBuffer> decoded = base32_decode(value);
    if (!decoded) {
        // liboath's message is not passed on: it might describe the input.
        return make_error(Errc::format, quoted_key(key) + " is not valid base32 (RFC 4648)");
    }
    if (std::string problem = key_problem(key, decoded.value().size()); !problem.empty()) {
        return make_error(Errc::format, problem);
    }
    return decoded;
}

// A number for `key`, at most `max`; the problem, if any, into `problem`.
std::uint64_t number(std::string_view key, std::string_view value, std::uint64_t max, std::string& problem) {
    const Result<std::uint64_t> n = parse_decimal(value, max);
    if (!n) {
        problem = quoted_key(key) + ": " + n.error().message;
        return 0;
    }
    return n.value();
}

// A signed number: an optional '-' before parse_decimal's syntax.
long signed_number(std::string_view key, std::string_view value, std::string& problem) {
    const bool negative = !value.empty() && value.front() == '-';
    const std::uint64_t magnitude = number(key, negative ? value.substr(1) : value, 1000000, problem);
    if (negative && magnitude == 0 && problem.empty()) {
        problem = quoted_key(key) + ": not a decimal number";
    }
    return negative ? -static_cast<long>(magnitude) : static_cast<long>(magnitude);
}

std::string algorithm_value(std::string_view value, Algorithm& out) {
    const std::optional<Algorithm> alg = parse_algorithm(value);
    if (!alg) {
        return "'algorithm' must be sha1, sha256 or sha512";
    }
    out = *alg;
    return {};
}

void add_recovery(const KvLine& line, SecretFile& file, std::string& problem) {
    problem = hash_problem(line.value);
    if (problem.empty()) {
        problem = count_problem(file.recovery_hashes.size() + 1);
    }
    if (problem.empty()) {
        file.recovery_hashes.emplace_back(line.value);
    }
}

// --- format 1 ---------------------------------------------------------------

Result<SecretFile> parse_v1(const std::vector<KvLine>& lines) {
    SecretFile file;
    file.version = 1;
    TokenEntry token;
    token.name = std::string(default_token_name);
    SingleKeys seen(v1_keys);
    for (const KvLine& line : lines) {
        std::string problem;
        if (line.key == recovery_key_name) {
            add_recovery(line, file, problem);
            if (!problem.empty()) {
                return line_error(what, line.line_no, problem);
            }
            continue;
        }
        auto index = seen.claim(line, what);
        if (!index) {
            return index.error();
        }
        const std::string_view key = v1_keys[index.value()];
        switch (static_cast<V1Key>(index.value())) {
            case v1_secret: {
                Result<SecureBuffer> decoded = decode_key(key, line.value);
                if (!decoded) {
                    problem = decoded.error().message;
                } else {
                    token.key = std::move(decoded).value();
                }
                break;
            }
            case v1_algorithm:
                problem = algorithm_value(line.value, token.params.algorithm);
                break;
            case v1_digits:
                token.params.digits =
                    static_cast<unsigned>(number(key, line.value, std::numeric_limits<unsigned>::max(), problem));
                problem = problem.empty() ? keyed(key, digits_problem(token.params.digits)) : problem;
                break;
            case v1_period:
                token.params.period =
                    static_cast<unsigned>(number(key, line.value, std::numeric_limits<unsigned>::max(), problem));
                problem = problem.empty() ? keyed(key, period_problem(token.params.period)) : problem;
                break;
            case v1_window: {
                const auto w =
                    static_cast<unsigned>(number(key, line.value, std::numeric_limits<unsigned>::max(), problem));
                problem = problem.empty() ? keyed(key, window_problem(w)) : problem;
                file.window = w;
                break;
            }
            case v1_enrolled:
                file.enrolled = static_cast<std::time_t>(number(key, line.value, max_time, problem));
                break;
            case v1_enrollment_id:
                problem = id_problem(line.value);
                file.enrollment_id = std::string(line.value);
                break;
            case v1_confirmed:
                token.confirmed_until = static_cast<std::time_t>(number(key, line.value, max_time, problem));
                break;
            case v1_count:
                break;
        }
        if (!problem.empty()) {
            return line_error(what, line.line_no, problem);
        }
    }
    for (std::size_t i = 0; i < v1_count; ++i) {
        if (v1_required[i] && !seen.seen(i)) {
            return make_error(Errc::format, std::string(what) + ": missing " + quoted_key(v1_keys[i]));
        }
    }
    token.added = file.enrolled;
    file.tokens.push_back(std::move(token));
    return file;
}

// --- format 2 ---------------------------------------------------------------

// One token's section as it is read: its keys, and the line that opened it.
struct Section {
    TokenEntry token;
    std::size_t line_no = 0;
    SingleKeys seen{token_keys};
};

// The problem with a complete section (a key its type needs or must not
// have), for the message naming its `token` line.
std::string section_problem(const Section& s) {
    const auto need = [&](TokenKey k) {
        return s.seen.seen(k) ? std::string() : "missing " + quoted_key(token_keys[k]);
    };
    const auto refuse = [&](TokenKey k) {
        return s.seen.seen(k)
                   ? quoted_key(token_keys[k]) + " is not for " + std::string(token_type_name(s.token.type)) + " tokens"
                   : std::string();
    };
    for (const TokenKey k : {t_type, t_secret, t_algorithm, t_digits, t_added}) {
        if (std::string p = need(k); !p.empty()) {
            return p;
        }
    }
    if (s.token.type == TokenType::totp) {
        for (std::string p : {need(t_period), refuse(t_counter)}) {
            if (!p.empty()) {
                return p;
            }
        }
        return {};
    }
    for (std::string p : {need(t_counter), refuse(t_period), refuse(t_offset), refuse(t_confirmed)}) {
        if (!p.empty()) {
            return p;
        }
    }
    if (s.token.params.algorithm != Algorithm::sha1) {
        return "'algorithm' of an hotp token must be sha1 (RFC 4226)";
    }
    return {};
}

std::string apply_token_value(TokenKey index, std::string_view value, TokenEntry& token) {
    const std::string_view key = token_keys[index];
    std::string problem;
    switch (index) {
        case t_type:
            if (value == "totp") {
                token.type = TokenType::totp;
            } else if (value == "hotp") {
                token.type = TokenType::hotp;
            } else {
                problem = "'type' must be totp or hotp";
            }
            break;
        case t_secret: {
            Result<SecureBuffer> decoded = decode_key(key, value);
            if (!decoded) {
                return decoded.error().message;
            }
            token.key = std::move(decoded).value();
            break;
        }
        case t_algorithm:
            problem = algorithm_value(value, token.params.algorithm);
            break;
        case t_digits:
            token.params.digits =
                static_cast<unsigned>(number(key, value, std::numeric_limits<unsigned>::max(), problem));
            problem = problem.empty() ? keyed(key, digits_problem(token.params.digits)) : problem;
            break;
        case t_period:
            token.params.period =
                static_cast<unsigned>(number(key, value, std::numeric_limits<unsigned>::max(), problem));
            problem = problem.empty() ? keyed(key, period_problem(token.params.period)) : problem;
            break;
        case t_offset:
            token.offset = signed_number(key, value, problem);
            problem = problem.empty() ? offset_problem(token.offset) : problem;
            break;
        case t_counter:
            token.counter = number(key, value, max_file_hotp_counter, problem);
            break;
        case t_added:
            token.added = static_cast<std::time_t>(number(key, value, max_time, problem));
            break;
        case t_confirmed:
            token.confirmed_until = static_cast<std::time_t>(number(key, value, max_time, problem));
            break;
        case t_count:
            break;
    }
    return problem;
}

class V2Parser {
  public:
    Result<SecretFile> parse(const std::vector<KvLine>& lines) {
        m_file.version = 2;
        for (const KvLine& line : lines) {
            // A token's section is complete when the next one opens: its
            // problems name its own `token` line.
            if (line.key == token_key_name) {
                if (Status st = close_section(); !st) {
                    return st.error();
                }
            }
            const std::string problem = take(line);
            if (!problem.empty()) {
                return line_error(what, line.line_no, problem);
            }
        }
        if (Status st = close_section(); !st) {
            return st.error();
        }
        for (std::size_t i = 0; i < f_count; ++i) {
            if (file_required[i] && !m_file_seen.seen(i)) {
                return make_error(Errc::format, std::string(what) + ": missing " + quoted_key(file_keys[i]));
            }
        }
        if (m_file.tokens.empty()) {
            return make_error(Errc::format, std::string(what) + ": no 'token' (at least one is needed)");
        }
        if (!m_file.recovery_hashes.empty() && !m_file.recovery_anchor) {
            // Else the codes' record would move with the first token.
            return make_error(Errc::format, std::string(what) + ": 'recovery' lines without 'recovery_anchor'");
        }
        return std::move(m_file);
    }

  private:
    std::string take(const KvLine& line) {
        if (line.key == token_key_name) {
            return open_section(line);
        }
        if (!m_section) {
            return take_file_key(line);
        }
        auto index = m_section->seen.claim(line, what);
        if (!index) {
            // A key of the file's part inside a token's section says so.
            for (const std::string_view k : file_keys) {
                if (k == line.key) {
                    return quoted_key(line.key) + " belongs before the first 'token' line";
                }
            }
            if (line.key == recovery_key_name) {
                return "'recovery' belongs before the first 'token' line";
            }
            return strip_prefix(index.error().message);
        }
        return apply_token_value(static_cast<TokenKey>(index.value()), line.value, m_section->token);
    }

    std::string take_file_key(const KvLine& line) {
        std::string problem;
        if (line.key == recovery_key_name) {
            add_recovery(line, m_file, problem);
            return problem;
        }
        auto index = m_file_seen.claim(line, what);
        if (!index) {
            return strip_prefix(index.error().message);
        }
        const std::string_view key = file_keys[index.value()];
        switch (static_cast<FileKey>(index.value())) {
            case f_enrolled:
                m_file.enrolled = static_cast<std::time_t>(number(key, line.value, max_time, problem));
                break;
            case f_enrollment_id:
                problem = id_problem(line.value);
                m_file.enrollment_id = std::string(line.value);
                break;
            case f_window: {
                const auto w =
                    static_cast<unsigned>(number(key, line.value, std::numeric_limits<unsigned>::max(), problem));
                problem = problem.empty() ? keyed(key, window_problem(w)) : problem;
                m_file.window = w;
                break;
            }
            case f_recovery_anchor: {
                Result<SecureBuffer> decoded = decode_key(key, line.value);
                if (!decoded) {
                    return decoded.error().message;
                }
                m_file.recovery_anchor = std::move(decoded).value();
                break;
            }
            case f_count:
                break;
        }
        return problem;
    }

    // After close_section().
    std::string open_section(const KvLine& line) {
        if (std::string problem = token_name_problem(line.value); !problem.empty()) {
            return problem;
        }
        if (m_file.find(line.value) != nullptr) {
            return "a second token named like an earlier one";
        }
        if (m_file.tokens.size() >= max_tokens_per_file) {
            return "more than " + std::to_string(max_tokens_per_file) + " tokens";
        }
        m_section.emplace();
        m_section->token.name = std::string(line.value);
        m_section->line_no = line.line_no;
        return {};
    }

    Status close_section() {
        if (!m_section) {
            return {};
        }
        if (std::string problem = section_problem(*m_section); !problem.empty()) {
            return line_error(what, m_section->line_no, "token: " + problem);
        }
        if (m_section->token.key.size() > format2_key_bytes) {
            return line_error(
                what, m_section->line_no,
                "token: 'secret' is longer than " + std::to_string(format2_key_bytes * 8) + " bits (format 2)");
        }
        for (const TokenEntry& other : m_file.tokens) {
            if (same_secret(other.key, m_section->token.key)) {
                return line_error(what, m_section->line_no, "token: the same 'secret' as an earlier token");
            }
        }
        m_file.tokens.push_back(std::move(m_section->token));
        m_section.reset();
        return {};
    }

    // SingleKeys' messages carry "secret file line N: "; take() adds it again.
    static std::string strip_prefix(const std::string& message) {
        const std::size_t colon = message.find(": ");
        return colon == std::string::npos ? message : message.substr(colon + 2);
    }

    SecretFile m_file;
    SingleKeys m_file_seen{file_keys};
    std::optional<Section> m_section;
};

// --- writing ----------------------------------------------------------------

Error write_error(std::string_view problem) {
    return make_error(Errc::invalid_argument, "cannot write secret file: " + std::string(problem));
}

void append_line(SecureBuffer& out, std::string_view key, std::string_view value) {
    out.append(key);
    out.append(" ");
    out.append(value);
    out.append("\n");
}

std::string token_write_problem(const TokenEntry& t) {
    std::string problem = token_name_problem(t.name);
    if (problem.empty()) {
        problem = key_problem("secret", t.key.size());
    }
    if (problem.empty()) {
        problem = keyed("digits", digits_problem(t.params.digits));
    }
    if (problem.empty() && t.type == TokenType::totp) {
        problem = keyed("period", period_problem(t.params.period));
    }
    if (problem.empty() && t.type == TokenType::totp) {
        problem = offset_problem(t.offset);
    }
    if (problem.empty() && t.type == TokenType::hotp) {
        problem = counter_problem(t.counter);
        if (problem.empty() && t.params.algorithm != Algorithm::sha1) {
            problem = "'algorithm' of an hotp token must be sha1 (RFC 4226)";
        }
    }
    if (problem.empty() && (t.added < 0 || t.confirmed_until < 0)) {
        problem = "'added' or 'confirmed' is negative";
    }
    return problem;
}

std::string file_write_problem(const SecretFile& file) {
    if (file.tokens.empty() || file.tokens.size() > max_tokens_per_file) {
        return "a secret file holds 1 to " + std::to_string(max_tokens_per_file) + " tokens";
    }
    for (std::size_t i = 0; i < file.tokens.size(); ++i) {
        if (std::string p = token_write_problem(file.tokens[i]); !p.empty()) {
            return p;
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (file.tokens[j].name == file.tokens[i].name) {
                return "two tokens named " + file.tokens[i].name;
            }
            if (same_secret(file.tokens[j].key, file.tokens[i].key)) {
                return "two tokens with the same secret";
            }
        }
    }
    std::string problem;
    if (file.window) {
        problem = keyed("window", window_problem(*file.window));
    }
    if (problem.empty() && file.enrolled < 0) {
        problem = "'enrolled' is negative";
    }
    if (problem.empty()) {
        problem = id_problem(file.enrollment_id);
    }
    if (problem.empty() && file.recovery_anchor) {
        problem = key_problem("recovery_anchor", file.recovery_anchor->size());
    }
    if (problem.empty()) {
        problem = count_problem(file.recovery_hashes.size());
    }
    for (const std::string& hash : file.recovery_hashes) {
        if (problem.empty()) {
            problem = hash_problem(hash);
        }
    }
    return problem;
}

bool fits_v1(const SecretFile& file) {
    const TokenEntry& t = file.tokens.front();
    return file.tokens.size() == 1 && t.type == TokenType::totp && t.name == default_token_name && t.offset == 0 &&
           t.added == file.enrolled && !file.recovery_anchor;
}

Status append_secret(SecureBuffer& out, std::string_view key, const SecureBuffer& value) {
    Result<SecureBuffer> text = base32_encode(value);
    if (!text) {
        return std::move(text).error();
    }
    append_line(out, key, text.value().view());
    return {};
}

Result<SecureBuffer> write_v1(const SecretFile& file) {
    const TokenEntry& t = file.tokens.front();
    SecureBuffer out;
    out.append("version 1\n");
    out.append(header_comment);
    if (Status st = append_secret(out, "secret", t.key); !st) {
        return st.error();
    }
    append_line(out, "algorithm", algorithm_name(t.params.algorithm));
    append_line(out, "digits", std::to_string(t.params.digits));
    append_line(out, "period", std::to_string(t.params.period));
    if (file.window) {
        append_line(out, "window", std::to_string(*file.window));
    }
    append_line(out, "enrolled", std::to_string(file.enrolled));
    append_line(out, "enrollment_id", file.enrollment_id);
    if (t.confirmed_until > 0) {
        append_line(out, "confirmed", std::to_string(t.confirmed_until));
    }
    for (const std::string& hash : file.recovery_hashes) {
        append_line(out, recovery_key_name, hash);
    }
    return out;
}

Result<SecureBuffer> write_v2(const SecretFile& file) {
    SecureBuffer out;
    out.append("version 2\n");
    out.append(header_comment);
    append_line(out, file_keys[f_enrolled], std::to_string(file.enrolled));
    append_line(out, file_keys[f_enrollment_id], file.enrollment_id);
    if (file.window) {
        append_line(out, file_keys[f_window], std::to_string(*file.window));
    }
    // With recovery codes the anchor is always written: their record then
    // stays where it is whatever happens to the token list (reordered,
    // added to, the first removed), so no used code works again.
    if (file.recovery_anchor || !file.recovery_hashes.empty()) {
        if (Status st = append_secret(out, file_keys[f_recovery_anchor], file.recovery_key()); !st) {
            return st.error();
        }
    }
    for (const std::string& hash : file.recovery_hashes) {
        append_line(out, recovery_key_name, hash);
    }
    for (const TokenEntry& t : file.tokens) {
        append_line(out, token_key_name, t.name);
        append_line(out, token_keys[t_type], token_type_name(t.type));
        if (Status st = append_secret(out, token_keys[t_secret], t.key); !st) {
            return st.error();
        }
        append_line(out, token_keys[t_algorithm], algorithm_name(t.params.algorithm));
        append_line(out, token_keys[t_digits], std::to_string(t.params.digits));
        if (t.type == TokenType::totp) {
            append_line(out, token_keys[t_period], std::to_string(t.params.period));
            if (t.offset != 0) {
                append_line(out, token_keys[t_offset], std::to_string(t.offset));
            }
        } else {
            append_line(out, token_keys[t_counter], std::to_string(t.counter));
        }
        append_line(out, token_keys[t_added], std::to_string(t.added));
        if (t.type == TokenType::totp && t.confirmed_until > 0) {
            append_line(out, token_keys[t_confirmed], std::to_string(t.confirmed_until));
        }
    }
    return out;
}

}  // namespace

std::string_view token_type_name(TokenType type) noexcept {
    return type == TokenType::hotp ? "hotp" : "totp";
}

std::string token_name_problem(std::string_view name) {
    const auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (name.empty() || name.size() > max_token_name) {
        return "a token name is 1 to " + std::to_string(max_token_name) + " characters";
    }
    if (!alnum(name.front())) {
        return "a token name starts with a letter or digit";
    }
    for (const char c : name) {
        if (!alnum(c) && c != '.' && c != '_' && c != '-') {
            return "a token name holds only letters, digits, '.', '_' and '-'";
        }
    }
    return {};
}

TokenEntry TokenEntry::clone() const {
    TokenEntry t;
    t.name = name;
    t.type = type;
    t.key = key.clone();
    t.params = params;
    t.offset = offset;
    t.counter = counter;
    t.added = added;
    t.confirmed_until = confirmed_until;
    return t;
}

const TokenEntry* SecretFile::find(std::string_view name) const {
    for (const TokenEntry& t : tokens) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

SecretFile SecretFile::clone() const {
    SecretFile f;
    f.version = version;
    for (const TokenEntry& t : tokens) {
        f.tokens.push_back(t.clone());
    }
    f.window = window;
    f.enrolled = enrolled;
    f.enrollment_id = enrollment_id;
    if (recovery_anchor) {
        f.recovery_anchor = recovery_anchor->clone();
    }
    f.recovery_hashes = recovery_hashes;
    return f;
}

Result<SecretFile> parse_secret_file(std::string_view text) {
    Result<KvFile> parsed = parse_kv_file(text, what, lowest_version, highest_version);
    if (!parsed) {
        return std::move(parsed).error();
    }
    if (parsed.value().version == 1) {
        return parse_v1(parsed.value().lines);
    }
    V2Parser v2;
    return v2.parse(parsed.value().lines);
}

Result<SecureBuffer> serialise_secret_file(const SecretFile& file) {
    // Refuse what would not parse back: a bad value, or worse, a newline in a
    // hash that would inject a line of its own.
    if (std::string problem = file_write_problem(file); !problem.empty()) {
        return write_error(problem);
    }
    if (fits_v1(file)) {
        return write_v1(file);
    }
    for (const TokenEntry& t : file.tokens) {
        if (t.key.size() > format2_key_bytes) {
            return write_error("the secret of token " + t.name + " is longer than " +
                               std::to_string(format2_key_bytes * 8) +
                               " bits, the most a file of several tokens holds");
        }
    }
    return write_v2(file);
}

}  // namespace pam_totp
