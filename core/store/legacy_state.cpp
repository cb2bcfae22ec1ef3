#include "core/store/legacy_state.h"

#include <array>
#include <limits>

#include "core/files/kv_format.h"

namespace pam_totp {
namespace {

constexpr std::string_view what = "state file";
constexpr unsigned format_version = 1;

// Keys that may appear at most once. All are optional when parsing (an
// absent one keeps LegacyState's default), which keeps parse(serialise(s)) == s
// for every state, including one not yet bound to an enrollment.
enum KeyIndex : std::size_t { k_enrollment_id, k_last_step, k_lockouts, k_locked_until, k_count };
constexpr std::array<std::string_view, k_count> single_keys = {"enrollment_id", "last_step", "lockouts",
                                                               "locked_until"};
constexpr std::string_view failure_key = "failure";
constexpr std::string_view used_key = "used";

constexpr auto max_time = static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max());

// Parses a bounded decimal into `out`; the problem, empty on success.
template <typename T>
std::string parse_number(std::string_view key, std::string_view value, std::uint64_t max, T& out) {
    const Result<std::uint64_t> n = parse_decimal(value, max);
    if (!n) {
        return quoted_key(key) + ": " + n.error().message;
    }
    out = static_cast<T>(n.value());
    return {};
}

std::string apply_value(KeyIndex index, std::string_view value, LegacyState& state) {
    const std::string_view key = single_keys[index];
    switch (index) {
        case k_enrollment_id:
            if (!is_enrollment_id(value)) {
                return "'enrollment_id' must be 32 lower-case hex digits";
            }
            state.enrollment_id = std::string(value);
            return {};
        case k_last_step: {
            std::uint64_t step = 0;
            std::string problem = parse_number(key, value, std::numeric_limits<std::uint64_t>::max(), step);
            if (problem.empty()) {
                state.last_step = step;
            }
            return problem;
        }
        case k_lockouts:
            return parse_number(key, value, std::numeric_limits<unsigned>::max(), state.lockouts);
        case k_locked_until:
            return parse_number(key, value, max_time, state.locked_until);
        case k_count:
            break;
    }
    return "internal error: unexpected key";
}

std::string too_many(std::string_view key, std::size_t max) {
    return "more than " + std::to_string(max) + " " + quoted_key(key) + " lines";
}

// The repeatable keys; the problem, empty on success.
std::string apply_repeated(const KvLine& line, LegacyState& state) {
    if (line.key == failure_key) {
        if (state.failures.size() >= max_legacy_failures) {
            return too_many(failure_key, max_legacy_failures);
        }
        std::time_t when = 0;
        std::string problem = parse_number(failure_key, line.value, max_time, when);
        if (problem.empty()) {
            state.failures.push_back(when);
        }
        return problem;
    }
    // used
    if (state.used_recovery.size() >= max_legacy_used_recovery) {
        return too_many(used_key, max_legacy_used_recovery);
    }
    if (!is_yescrypt_string(line.value, 3)) {
        return "'used' is not a yescrypt setting ($y$params$salt)";
    }
    state.used_recovery.emplace_back(line.value);
    return {};
}

}  // namespace

Result<LegacyState> parse_legacy_state(std::string_view text) {
    const Result<std::vector<KvLine>> lines = parse_kv_lines(text, what, format_version);
    if (!lines) {
        return lines.error();
    }
    LegacyState state;
    SingleKeys seen(single_keys);
    for (const KvLine& line : lines.value()) {
        if (line.key == failure_key || line.key == used_key) {
            const std::string problem = apply_repeated(line, state);
            if (!problem.empty()) {
                return line_error(what, line.line_no, problem);
            }
            continue;
        }
        auto index = seen.claim(line, what);
        if (!index) {
            return index.error();
        }
        const std::string problem = apply_value(static_cast<KeyIndex>(index.value()), line.value, state);
        if (!problem.empty()) {
            return line_error(what, line.line_no, problem);
        }
    }
    return state;
}

}  // namespace pam_totp
