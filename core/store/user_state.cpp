#include "core/store/user_state.h"

#include <array>
#include <limits>

#include "core/files/kv_format.h"

namespace pam_totp {
namespace {

constexpr std::string_view what = "state file";
constexpr unsigned format_version = 1;

// Keys that may appear at most once. All are optional when parsing (an
// absent one keeps UserState's default), which keeps parse(serialise(s)) == s
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

std::string apply_value(KeyIndex index, std::string_view value, UserState& state) {
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
std::string apply_repeated(const KvLine& line, UserState& state) {
    if (line.key == failure_key) {
        if (state.failures.size() >= max_failures_kept) {
            return too_many(failure_key, max_failures_kept);
        }
        std::time_t when = 0;
        std::string problem = parse_number(failure_key, line.value, max_time, when);
        if (problem.empty()) {
            state.failures.push_back(when);
        }
        return problem;
    }
    // used
    if (state.used_recovery.size() >= max_used_recovery) {
        return too_many(used_key, max_used_recovery);
    }
    if (!is_yescrypt_string(line.value, 3)) {
        return "'used' is not a yescrypt setting ($y$params$salt)";
    }
    state.used_recovery.emplace_back(line.value);
    return {};
}

void append_line(std::string& out, std::string_view key, std::string_view value) {
    out += key;
    out += ' ';
    out += value;
    out += '\n';
}

}  // namespace

Result<UserState> parse_user_state(std::string_view text) {
    const Result<std::vector<KvLine>> lines = parse_kv_lines(text, what, format_version);
    if (!lines) {
        return lines.error();
    }
    UserState state;
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

// The fields come from the module, which takes the id and the used-code ids
// from a parsed (validated) secret file; nothing here can hold a newline.
std::string serialise_user_state(const UserState& state) {
    std::string out = "version " + std::to_string(format_version) + "\n";
    out += "# pam_totp state: maintained by pam_totp.so, do not edit while logins run.\n";
    if (!state.enrollment_id.empty()) {
        append_line(out, single_keys[k_enrollment_id], state.enrollment_id);
    }
    if (state.last_step) {
        append_line(out, single_keys[k_last_step], std::to_string(*state.last_step));
    }
    append_line(out, single_keys[k_lockouts], std::to_string(state.lockouts));
    append_line(out, single_keys[k_locked_until], std::to_string(state.locked_until));
    for (const std::time_t when : state.failures) {
        append_line(out, failure_key, std::to_string(when));
    }
    for (const std::string& id : state.used_recovery) {
        append_line(out, used_key, id);
    }
    return out;
}

void rebind_user_state(UserState& state, std::string_view enrollment_id) {
    if (state.enrollment_id == enrollment_id) {
        return;
    }
    // A new secret: its recovery codes have nothing to do with the old ones.
    // The last step stays: steps are absolute time, so keeping it costs at
    // most the current step, while dropping it would let a code just used
    // work again after a re-enrollment with the same key (a repeated
    // import). The lockout and the failure tally stay too, so re-enrolling
    // can neither end a lockout nor reset the count towards the next one.
    state.enrollment_id = std::string(enrollment_id);
    state.used_recovery.clear();
}

}  // namespace pam_totp
