#include "core/store/state_format.h"

#include <algorithm>
#include <array>
#include <limits>
#include <vector>

#include "core/files/kv_format.h"
#include "core/files/path_template.h"
#include "core/otp/hotp.h"
#include "core/otp/totp.h"

namespace pam_totp {
namespace {

constexpr std::string_view what = "state file";
constexpr unsigned format_version = 2;
constexpr std::size_t max_item = 64;

// The keys of the account part and of a token section, each once; `failure`,
// `recovery_used` and `recovery_used_old` repeat.
enum AccountKey : std::size_t {
    a_account,
    a_lockouts,
    a_locked_until,
    a_debt_until,
    a_since_success,
    a_charge,
    a_last_login,
    a_last_service,
    a_last_rhost,
    a_last_tty,
    a_charge_weight,
    a_count
};
constexpr std::array<std::string_view, a_count> account_keys = {
    "account",    "lockouts",     "locked_until", "debt_until", "since_success", "charge",
    "last_login", "last_service", "last_rhost",   "last_tty",   "charge_weight"};
enum TokenKey : std::size_t {
    t_used_until,
    t_hotp_next,
    t_drift,
    t_pending_until,
    t_pending_hotp,
    t_pending_recovery,
    t_count
};
constexpr std::array<std::string_view, t_count> token_keys = {"used_until",    "hotp_next",    "drift",
                                                              "pending_until", "pending_hotp", "pending_recovery"};
constexpr std::string_view failure_key = "failure";
constexpr std::string_view grace_key = "grace";
constexpr std::string_view token_key = "token";
constexpr std::string_view used_key = "recovery_used";
constexpr std::string_view used_old_key = "recovery_used_old";
constexpr std::string_view maybe_used_key = "recovery_maybe_used";

constexpr auto max_time = static_cast<std::uint64_t>(std::numeric_limits<std::time_t>::max());

Result<std::time_t> time_value(std::string_view key, std::string_view value) {
    const Result<std::uint64_t> n = parse_decimal(value, max_time);
    if (!n) {
        return make_error(Errc::format, quoted_key(key) + ": " + n.error().message);
    }
    return static_cast<std::time_t>(n.value());
}

// The problem with one account line's value, empty when it is applied.
std::string apply_account(AccountKey key, std::string_view value, AccountState& state) {
    const std::string_view name = account_keys[key];
    const auto last = [&state]() -> LastLogin& {
        return state.record.last_login ? *state.record.last_login : state.record.last_login.emplace();
    };
    switch (key) {
        case a_account:
            if (Status st = validate_user_name(value); !st) {
                return "'account': " + st.error().message;
            }
            state.account = std::string(value);
            return {};
        case a_charge_weight: {
            const Result<std::uint64_t> n = parse_decimal(value, max_guess_weight);
            if (!n || n.value() == 0) {
                return "'charge_weight' must be 1 to " + std::to_string(max_guess_weight);
            }
            state.record.charge_weight = static_cast<unsigned>(n.value());
            return {};
        }
        case a_lockouts:
        case a_since_success: {
            const Result<std::uint64_t> n = parse_decimal(value, std::numeric_limits<unsigned>::max());
            if (!n) {
                return quoted_key(name) + ": " + n.error().message;
            }
            (key == a_lockouts ? state.record.budget.lockouts : state.record.budget.since_success) =
                static_cast<unsigned>(n.value());
            return {};
        }
        case a_debt_until:
        case a_locked_until:
        case a_charge:
        case a_last_login: {
            auto t = time_value(name, value);
            if (!t) {
                return t.error().message;
            }
            if (key == a_locked_until) {
                state.record.budget.locked_until = t.value();
            } else if (key == a_debt_until) {
                state.record.budget.debt_until = t.value();
            } else if (key == a_charge) {
                state.record.charge = t.value();
            } else {
                last().when = t.value();
            }
            return {};
        }
        case a_last_service:
        case a_last_rhost:
        case a_last_tty:
            if (value.size() > max_item || sanitise_item(value) != value) {
                return quoted_key(name) + ": not as pam_totp writes it";
            }
            (key == a_last_service ? last().service
             : key == a_last_rhost ? last().rhost
                                   : last().tty) = std::string(value);
            return {};
        case a_count:
            break;
    }
    return "internal error: unexpected key";
}

// A signed number of seconds within the clock offset bound.
std::optional<long> offset_value(std::string_view text) {
    const bool negative = !text.empty() && text.front() == '-';
    const Result<std::uint64_t> n =
        parse_decimal(negative ? text.substr(1) : text, static_cast<std::uint64_t>(max_clock_offset));
    if (!n || (negative && n.value() == 0)) {
        return std::nullopt;
    }
    return negative ? -static_cast<long>(n.value()) : static_cast<long>(n.value());
}

// "A:B", split at the first ':'.
std::pair<std::string_view, std::string_view> split_pair(std::string_view value) {
    const std::size_t colon = value.find(':');
    if (colon == std::string_view::npos) {
        return {value, {}};
    }
    return {value.substr(0, colon), value.substr(colon + 1)};
}

std::string apply_token(TokenKey key, std::string_view value, TokenRecord& token) {
    const std::string_view name = token_keys[key];
    if (key == t_hotp_next) {
        const Result<std::uint64_t> n = parse_decimal(value, max_hotp_counter);
        if (!n) {
            return "'hotp_next': " + n.error().message;
        }
        token.hotp_next = n.value();
        return {};
    }
    if (key == t_drift) {
        const auto [offset, rest] = split_pair(value);
        const auto [base, confirmed] = split_pair(rest);
        const auto o = offset_value(offset);
        const auto b = offset_value(base);
        const Result<std::uint64_t> c = parse_decimal(confirmed, max_time);
        if (!o || !b || !c) {
            return "'drift' must be OFFSET:FILE_OFFSET:FILE_CONFIRMED, two offsets of -" +
                   std::to_string(max_clock_offset) + " to " + std::to_string(max_clock_offset) +
                   " seconds and a Unix time";
        }
        token.drift = Drift{*o, *b, static_cast<std::time_t>(c.value())};
        return {};
    }
    if (key == t_pending_hotp) {
        const auto [tag_text, last_text] = split_pair(value);
        const auto tag = RecoveryTag::from_hex(tag_text);
        const Result<std::uint64_t> last = parse_decimal(last_text, max_hotp_counter);
        if (!tag || !last) {
            return "'pending_hotp' must be 16 lower-case hex digits, ':' and a counter";
        }
        token.pending_hotp = PendingHotp{*tag, last.value()};
        return {};
    }
    if (key == t_pending_recovery) {
        const auto tag = RecoveryTag::from_hex(value);
        if (!tag) {
            return "'pending_recovery' must be 16 lower-case hex digits";
        }
        token.pending_recovery = *tag;
        return {};
    }
    auto t = time_value(name, value);
    if (!t) {
        return t.error().message;
    }
    (key == t_used_until ? token.used_until : token.pending_until.emplace()) = t.value();
    return {};
}

// "TAG" or "TAG:SETTING".
Result<UsedRecovery> parse_used(std::string_view value) {
    const std::size_t colon = value.find(':');
    const auto tag = RecoveryTag::from_hex(value.substr(0, colon));
    const std::string_view setting = colon == std::string_view::npos ? std::string_view{} : value.substr(colon + 1);
    if (!tag || (colon != std::string_view::npos && !is_recovery_setting(setting))) {
        return make_error(Errc::format,
                          "'recovery_used' must be 16 lower-case hex digits, then optionally ':' and a "
                          "recovery-code setting ($y$j9T$salt)");
    }
    return UsedRecovery{*tag, std::string(setting)};
}

Result<UsedRecovery> parse_used_old(std::string_view value) {
    if (!is_recovery_setting(value)) {
        return make_error(Errc::format, "'recovery_used_old' is not a recovery-code setting ($y$j9T$salt)");
    }
    return UsedRecovery{std::nullopt, std::string(value)};
}

std::string too_many(std::string_view key, std::size_t max) {
    return "more than " + std::to_string(max) + " " + quoted_key(key) + " lines";
}

void append_line(std::string& out, std::string_view key, std::string_view value) {
    out += key;
    out += ' ';
    out += value;
    out += '\n';
}

// The parser's position: the account part, or the section of one token.
class Reader {
  public:
    Status line(const KvLine& kv) {
        const std::string problem = dispatch(kv);
        if (!problem.empty()) {
            return line_error(what, kv.line_no, problem);
        }
        return {};
    }
    Result<AccountState> finish() {
        if (!m_account_keys.seen(a_account)) {
            return make_error(Errc::format, std::string(what) + ": missing 'account'");
        }
        const bool any_last =
            m_account_keys.seen(a_last_service) || m_account_keys.seen(a_last_rhost) || m_account_keys.seen(a_last_tty);
        if (m_account_keys.seen(a_charge_weight) && !m_account_keys.seen(a_charge)) {
            return make_error(Errc::format, std::string(what) + ": 'charge_weight' without 'charge'");
        }
        if (any_last && !m_account_keys.seen(a_last_login)) {
            return make_error(Errc::format, std::string(what) +
                                                ": 'last_service', 'last_rhost' or 'last_tty' "
                                                "without 'last_login'");
        }
        return std::move(m_state);
    }

  private:
    std::string dispatch(const KvLine& kv) {
        if (kv.key == token_key) {
            return start_token(kv.value);
        }
        if (m_token == nullptr) {
            if (kv.key == failure_key) {
                if (m_state.record.budget.recent.size() >= max_deny) {
                    return too_many(failure_key, max_deny);
                }
                auto t = time_value(failure_key, kv.value);
                if (!t) {
                    return t.error().message;
                }
                m_state.record.budget.recent.push_back(t.value());
                return {};
            }
            if (kv.key == grace_key) {
                if (m_state.record.grace.size() >= max_grace_records) {
                    return too_many(grace_key, max_grace_records);
                }
                const auto [place, granted] = split_pair(kv.value);
                const auto tag = RecoveryTag::from_hex(place);
                const Result<std::uint64_t> t = parse_decimal(granted, max_time);
                if (!tag || !t) {
                    return "'grace' must be 16 lower-case hex digits, ':' and a Unix time";
                }
                m_state.record.grace.push_back(GraceRecord{*tag, static_cast<std::time_t>(t.value())});
                return {};
            }
            auto index = m_account_keys.claim(kv, what);
            if (!index) {
                return strip(index.error().message);
            }
            return apply_account(static_cast<AccountKey>(index.value()), kv.value, m_state);
        }
        if (kv.key == maybe_used_key) {
            const auto tag = RecoveryTag::from_hex(kv.value);
            if (!tag) {
                return "'recovery_maybe_used' must be 16 lower-case hex digits";
            }
            if (m_token->maybe_used_recovery.size() >= max_maybe_used_recovery) {
                return too_many(kv.key, max_maybe_used_recovery);
            }
            m_token->maybe_used_recovery.push_back(*tag);
            return {};
        }
        if (kv.key == used_key || kv.key == used_old_key) {
            if (m_token->used_recovery.size() >= max_used_recovery) {
                return too_many(kv.key, max_used_recovery);
            }
            auto used = kv.key == used_key ? parse_used(kv.value) : parse_used_old(kv.value);
            if (!used) {
                return used.error().message;
            }
            m_token->used_recovery.push_back(std::move(used).value());
            return {};
        }
        auto index = m_token_keys.claim(kv, what);
        if (!index) {
            return strip(index.error().message);
        }
        return apply_token(static_cast<TokenKey>(index.value()), kv.value, *m_token);
    }

    std::string start_token(std::string_view value) {
        const auto id = TokenId::from_hex(value);
        if (!id) {
            return "'token' must be 32 lower-case hex digits";
        }
        if (m_state.tokens.size() >= max_tokens_per_state) {
            return too_many(token_key, max_tokens_per_state);
        }
        auto [it, inserted] = m_state.tokens.emplace(*id, TokenRecord{});
        if (!inserted) {
            return "the same 'token' twice";
        }
        m_token = &it->second;
        m_token_keys = SingleKeys(token_keys);
        return {};
    }

    // SingleKeys' messages carry "state file line N: " already.
    static std::string strip(const std::string& message) {
        const std::size_t colon = message.find(": ");
        return colon == std::string::npos ? message : message.substr(colon + 2);
    }

    AccountState m_state;
    SingleKeys m_account_keys{account_keys};
    SingleKeys m_token_keys{token_keys};
    TokenRecord* m_token = nullptr;
};

}  // namespace

std::string sanitise_item(std::string_view text) {
    std::string out(text.substr(0, max_item));
    for (char& c : out) {
        if (c <= 0x20 || c >= 0x7f) {
            c = '?';
        }
    }
    return out;
}

Result<AccountState> parse_account_state(std::string_view text) {
    const Result<std::vector<KvLine>> lines = parse_kv_lines(text, what, format_version, max_state_text);
    if (!lines) {
        return lines.error();
    }
    Reader reader;
    for (const KvLine& kv : lines.value()) {
        if (Status st = reader.line(kv); !st) {
            return st.error();
        }
    }
    return reader.finish();
}

std::string serialise_account_state(const AccountState& state) {
    std::string out = "version " + std::to_string(format_version) + "\n";
    out += "# pam_totp state: written by pam_totp.so (pam_totp(8), FILES); totp-admin shows and resets it.\n";
    append_line(out, account_keys[a_account], state.account);
    const AccountRecord& r = state.record;
    append_line(out, account_keys[a_lockouts], std::to_string(r.budget.lockouts));
    append_line(out, account_keys[a_locked_until], std::to_string(r.budget.locked_until));
    append_line(out, account_keys[a_debt_until], std::to_string(r.budget.debt_until));
    append_line(out, account_keys[a_since_success], std::to_string(r.budget.since_success));
    for (const std::time_t when : r.budget.recent) {
        append_line(out, failure_key, std::to_string(when));
    }
    if (r.charge) {
        append_line(out, account_keys[a_charge], std::to_string(*r.charge));
        if (r.charge_weight != 1) {
            append_line(out, account_keys[a_charge_weight], std::to_string(r.charge_weight));
        }
    }
    for (const GraceRecord& g : r.grace) {
        append_line(out, grace_key, g.place.hex() + ":" + std::to_string(g.granted));
    }
    if (r.last_login) {
        append_line(out, account_keys[a_last_login], std::to_string(r.last_login->when));
        const std::pair<AccountKey, const std::string*> items[] = {{a_last_service, &r.last_login->service},
                                                                   {a_last_rhost, &r.last_login->rhost},
                                                                   {a_last_tty, &r.last_login->tty}};
        for (const auto& [key, value] : items) {
            if (!value->empty()) {
                append_line(out, account_keys[key], sanitise_item(*value));
            }
        }
    }
    for (const auto& [id, token] : state.tokens) {
        append_line(out, token_key, id.hex());
        append_line(out, token_keys[t_used_until], std::to_string(token.used_until));
        if (token.hotp_next) {
            append_line(out, token_keys[t_hotp_next], std::to_string(*token.hotp_next));
        }
        if (token.drift) {
            append_line(out, token_keys[t_drift],
                        std::to_string(token.drift->offset) + ":" + std::to_string(token.drift->file_offset) + ":" +
                            std::to_string(token.drift->file_confirmed));
        }
        if (token.pending_until) {
            append_line(out, token_keys[t_pending_until], std::to_string(*token.pending_until));
        }
        if (token.pending_hotp) {
            append_line(out, token_keys[t_pending_hotp],
                        token.pending_hotp->tag.hex() + ":" + std::to_string(token.pending_hotp->last));
        }
        if (token.pending_recovery) {
            append_line(out, token_keys[t_pending_recovery], token.pending_recovery->hex());
        }
        for (const UsedRecovery& used : token.used_recovery) {
            if (used.tag) {
                append_line(out, used_key, used.tag->hex() + (used.setting.empty() ? "" : ":" + used.setting));
            } else {
                append_line(out, used_old_key, used.setting);
            }
        }
        for (const RecoveryTag& tag : token.maybe_used_recovery) {
            append_line(out, maybe_used_key, tag.hex());
        }
    }
    return out;
}

namespace {
// Which record to forget first: a TOTP record before any HOTP one (an HOTP
// code never expires: forgetting its counter would let used codes work
// again if the token came back), and among each, the one used longest ago.
bool older(const TokenRecord& a, const TokenRecord& b) {
    if (a.hotp_next.has_value() != b.hotp_next.has_value()) {
        return !a.hotp_next.has_value();
    }
    if (a.hotp_next) {
        return *a.hotp_next < *b.hotp_next;
    }
    return a.used_until < b.used_until;
}
}  // namespace

std::vector<TokenId> prune_token_records(AccountState& state, const std::vector<TokenId>& keep) {
    std::vector<TokenId> forgotten;
    while (state.tokens.size() > max_tokens_per_state) {
        auto oldest = state.tokens.end();
        for (auto it = state.tokens.begin(); it != state.tokens.end(); ++it) {
            const bool kept = std::find(keep.begin(), keep.end(), it->first) != keep.end();
            if (!kept && (oldest == state.tokens.end() || older(it->second, oldest->second))) {
                oldest = it;
            }
        }
        if (oldest == state.tokens.end()) {
            break;  // every record is in use by this login
        }
        forgotten.push_back(oldest->first);
        state.tokens.erase(oldest);
    }
    return forgotten;
}

}  // namespace pam_totp
