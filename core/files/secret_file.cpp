#include "core/files/secret_file.h"

#include <array>
#include <limits>
#include <string>

#include "core/files/kv_format.h"
#include "core/otp/recovery.h"

namespace pam_totp {
namespace {

constexpr std::string_view what = "secret file";
constexpr unsigned format_version = 1;
constexpr std::string_view header_comment =
    "# pam_totp secret file: see pam_totp-secret(5). Keep it private (mode 0600).\n";

// The keys that may appear at most once, in the order they are written:
// one table, indexed by KeyIndex (its order is checked below).
enum KeyIndex : std::size_t {
    k_secret,
    k_algorithm,
    k_digits,
    k_period,
    k_window,
    k_enrolled,
    k_enrollment_id,
    k_confirmed,
    k_count
};
struct KeySpec {
    KeyIndex index;
    std::string_view name;
    bool required;
};
constexpr std::array<KeySpec, k_count> key_specs = {{
    {k_secret, "secret", true},
    {k_algorithm, "algorithm", true},
    {k_digits, "digits", true},
    {k_period, "period", true},
    {k_window, "window", false},
    {k_enrolled, "enrolled", true},
    {k_enrollment_id, "enrollment_id", true},
    {k_confirmed, "confirmed", false},
}};
constexpr bool in_index_order() {
    for (std::size_t i = 0; i < key_specs.size(); ++i) {
        if (key_specs[i].index != i) {
            return false;
        }
    }
    return true;
}
static_assert(in_index_order(), "key_specs must list the keys in KeyIndex order");
// The names alone, for SingleKeys.
constexpr std::array<std::string_view, k_count> single_keys = [] {
    std::array<std::string_view, k_count> names{};
    for (std::size_t i = 0; i < k_count; ++i) {
        names[i] = key_specs[i].name;
    }
    return names;
}();
constexpr std::string_view recovery_key = "recovery";

constexpr auto max_time = static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max());

// "'digits' must be 6 or 8" etc.; the value itself is never quoted.
std::string number_problem(std::string_view key, const Error& error) {
    return quoted_key(key) + ": " + error.message;
}

// Each check returns the problem, empty when the value is good. They are
// shared by the parser and the serialiser so that what is written always
// parses back.
std::string key_problem(std::size_t size) {
    if (size < min_secret_bytes) {
        return "'secret' is shorter than " + std::to_string(min_secret_bytes * 8) + " bits";
    }
    if (size > max_secret_bytes) {
        return "'secret' is longer than " + std::to_string(max_secret_bytes * 8) + " bits";
    }
    return {};
}

// totp.h's validator, with the key quoted as the file names it.
std::string keyed(std::string_view key, const std::string& problem) {
    return problem.empty() ? problem : quoted_key(key) + ": " + problem;
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

// Applies one single-occurrence key's value to `file`; the problem, if any.
std::string apply_value(KeyIndex index, std::string_view value, SecretFile& file) {
    const std::string_view key = single_keys[index];
    switch (index) {
        case k_secret: {
            Result<SecureBuffer> decoded = base32_decode(value);
            if (!decoded) {
                // liboath's message is not passed on: it might describe the input.
                return "'secret' is not valid base32 (RFC 4648)";
            }
            std::string problem = key_problem(decoded.value().size());
            if (problem.empty()) {
                file.key = std::move(decoded).value();
            }
            return problem;
        }
        case k_algorithm: {
            const std::optional<Algorithm> alg = parse_algorithm(value);
            if (!alg) {
                return "'algorithm' must be sha1, sha256 or sha512";
            }
            file.params.algorithm = *alg;
            return {};
        }
        case k_digits:
        case k_period:
        case k_window: {
            const Result<std::uint64_t> n = parse_decimal(value, std::numeric_limits<unsigned>::max());
            if (!n) {
                return number_problem(key, n.error());
            }
            const auto u = static_cast<unsigned>(n.value());
            if (index == k_digits) {
                file.params.digits = u;
                return keyed(key, digits_problem(u));
            }
            if (index == k_period) {
                file.params.period = u;
                return keyed(key, period_problem(u));
            }
            file.window = u;
            return keyed(key, window_problem(u));
        }
        case k_enrolled:
        case k_confirmed: {
            const Result<std::uint64_t> n = parse_decimal(value, max_time);
            if (!n) {
                return number_problem(key, n.error());
            }
            (index == k_enrolled ? file.enrolled : file.confirmed_until) = static_cast<std::time_t>(n.value());
            return {};
        }
        case k_enrollment_id: {
            std::string problem = id_problem(value);
            if (problem.empty()) {
                file.enrollment_id = std::string(value);
            }
            return problem;
        }
        case k_count:
            break;
    }
    return "internal error: unexpected key";
}

Error write_error(std::string_view problem) {
    return make_error(Errc::invalid_argument, "cannot write secret file: " + std::string(problem));
}

void append_line(SecureBuffer& out, std::string_view key, std::string_view value) {
    out.append(key);
    out.append(" ");
    out.append(value);
    out.append("\n");
}

}  // namespace

Result<SecretFile> parse_secret_file(std::string_view text) {
    const Result<std::vector<KvLine>> lines = parse_kv_lines(text, what, format_version);
    if (!lines) {
        return lines.error();
    }
    SecretFile file;
    SingleKeys seen(single_keys);
    for (const KvLine& line : lines.value()) {
        if (line.key == recovery_key) {
            const std::string problem = hash_problem(line.value);
            if (!problem.empty()) {
                return line_error(what, line.line_no, problem);
            }
            const std::string too_many = count_problem(file.recovery_hashes.size() + 1);
            if (!too_many.empty()) {
                return line_error(what, line.line_no, too_many);
            }
            file.recovery_hashes.emplace_back(line.value);
            continue;
        }
        auto index = seen.claim(line, what);
        if (!index) {
            return index.error();
        }
        const std::string problem = apply_value(static_cast<KeyIndex>(index.value()), line.value, file);
        if (!problem.empty()) {
            return line_error(what, line.line_no, problem);
        }
    }
    for (std::size_t i = 0; i < k_count; ++i) {
        if (key_specs[i].required && !seen.seen(i)) {
            return make_error(Errc::format, std::string(what) + ": missing " + quoted_key(single_keys[i]));
        }
    }
    return file;
}

Result<SecureBuffer> serialise_secret_file(const SecretFile& file) {
    // Refuse what would not parse back: a bad value, or worse, a newline in a
    // hash that would inject a line of its own.
    std::string problem = key_problem(file.key.size());
    if (problem.empty()) {
        problem = keyed(single_keys[k_digits], digits_problem(file.params.digits));
    }
    if (problem.empty()) {
        problem = keyed(single_keys[k_period], period_problem(file.params.period));
    }
    if (problem.empty() && file.window) {
        problem = keyed(single_keys[k_window], window_problem(*file.window));
    }
    if (problem.empty() && (file.enrolled < 0 || file.confirmed_until < 0)) {
        problem = "'enrolled' or 'confirmed' is negative";
    }
    if (problem.empty()) {
        problem = id_problem(file.enrollment_id);
    }
    if (problem.empty()) {
        problem = count_problem(file.recovery_hashes.size());
    }
    for (const std::string& hash : file.recovery_hashes) {
        if (problem.empty()) {
            problem = hash_problem(hash);
        }
    }
    if (!problem.empty()) {
        return write_error(problem);
    }
    Result<SecureBuffer> secret = base32_encode(file.key);
    if (!secret) {
        return std::move(secret).error();
    }

    SecureBuffer out;
    out.append("version " + std::to_string(format_version) + "\n");
    out.append(header_comment);
    append_line(out, single_keys[k_secret], secret.value().view());
    append_line(out, single_keys[k_algorithm], algorithm_name(file.params.algorithm));
    append_line(out, single_keys[k_digits], std::to_string(file.params.digits));
    append_line(out, single_keys[k_period], std::to_string(file.params.period));
    if (file.window) {
        append_line(out, single_keys[k_window], std::to_string(*file.window));
    }
    append_line(out, single_keys[k_enrolled], std::to_string(file.enrolled));
    append_line(out, single_keys[k_enrollment_id], file.enrollment_id);
    if (file.confirmed_until > 0) {
        append_line(out, single_keys[k_confirmed], std::to_string(file.confirmed_until));
    }
    for (const std::string& hash : file.recovery_hashes) {
        append_line(out, recovery_key, hash);
    }
    return out;
}

}  // namespace pam_totp
