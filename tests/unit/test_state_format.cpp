// The text of one account's state, format 2 (core/store/state_format.h):
// round trips of full and minimal states, every parse error with the line
// it names, the fullest state within its bound, prune_token_records, and
// sanitise_item.
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "cmocka.hpp"
#include "core/store/state_format.h"

namespace {

using pam_totp::AccountState;
using pam_totp::Errc;
using pam_totp::LastLogin;
using pam_totp::parse_account_state;
using pam_totp::RecoveryTag;
using pam_totp::serialise_account_state;
using pam_totp::TokenId;
using pam_totp::TokenRecord;
using pam_totp::UsedRecovery;

constexpr std::string_view tok_a = "0123456789abcdef0123456789abcdef";
constexpr std::string_view tok_b = "fedcba9876543210fedcba9876543210";
constexpr std::string_view tag_1 = "0123456789abcdef";
constexpr std::string_view tag_2 = "a0a1a2a3a4a5a6a7";
constexpr std::string_view setting_1 = "$y$j9T$abcdefghijklmnopqrstu1";
constexpr std::string_view setting_2 = "$y$j9T$F5Jx5fExrKuPp53xLKQ..1";

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

TokenId id(std::string_view hex) {
    return *TokenId::from_hex(hex);
}

RecoveryTag tag(std::string_view hex) {
    return *RecoveryTag::from_hex(hex);
}

TokenId numbered(unsigned n) {
    TokenId t;
    t.bytes[0] = static_cast<std::uint8_t>(n);
    t.bytes[1] = static_cast<std::uint8_t>(n >> 8);
    return t;
}

AccountState full_state() {
    AccountState s;
    s.account = "alice";
    s.record.budget.lockouts = 2;
    s.record.budget.locked_until = 1764290300;
    s.record.budget.debt_until = 1764300000;
    s.record.budget.since_success = 4;
    s.record.budget.recent = {1764290000, 1764290010, 1764290020};
    s.record.charge = 1764290030;
    s.record.last_login = LastLogin{1764280000, "sshd", "192.0.2.1", "ssh"};
    TokenRecord a;
    a.used_until = 1764290040;
    a.pending_until = 1764290100;
    a.pending_recovery = tag(tag_2);
    a.used_recovery = {UsedRecovery{tag(tag_1), std::string(setting_1)},  // tag and setting
                       UsedRecovery{tag(tag_2), {}}};                     // tag only (a dead attempt's)
    s.tokens[id(tok_a)] = a;
    TokenRecord b;
    b.used_until = 1764000000;
    b.maybe_used_recovery = {tag(tag_1)};
    s.tokens[id(tok_b)] = b;
    return s;
}

// The text of full_state(), line by line (line numbers are index + 1).
std::vector<std::string> full_lines() {
    return {
        "version 2",                                                           // 1
        "account alice",                                                       // 2
        "lockouts 2",                                                          // 3
        "locked_until 1764290300",                                             // 4
        "debt_until 1764300000",                                               // 5
        "since_success 4",                                                     // 6
        "failure 1764290000",                                                  // 7
        "failure 1764290010",                                                  // 8
        "failure 1764290020",                                                  // 9
        "charge 1764290030",                                                   // 10
        "last_login 1764280000",                                               // 11
        "last_service sshd",                                                   // 12
        "last_rhost 192.0.2.1",                                                // 13
        "last_tty ssh",                                                        // 14
        "token " + std::string(tok_a),                                         // 15
        "used_until 1764290040",                                               // 16
        "pending_until 1764290100",                                            // 17
        "pending_recovery " + std::string(tag_2),                              // 18
        "recovery_used " + std::string(tag_1) + ":" + std::string(setting_1),  // 19
        "recovery_used " + std::string(tag_2),                                 // 20
        "token " + std::string(tok_b),                                         // 21
        "used_until 1764000000",                                               // 22
        "recovery_maybe_used " + std::string(tag_1),                           // 23
    };
}

std::string join(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        text += line + "\n";
    }
    return text;
}

// full_lines() with line `n` (1-based) replaced by `line` (dropped when empty).
std::string replacing(std::size_t n, const std::string& line) {
    std::vector<std::string> lines = full_lines();
    if (line.empty()) {
        lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(n - 1));
    } else {
        lines[n - 1] = line;
    }
    return join(lines);
}

// full_lines() with `line` inserted to become line `n`.
std::string inserting(std::size_t n, const std::string& line) {
    std::vector<std::string> lines = full_lines();
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(n - 1), line);
    return join(lines);
}

void expect_line_error(const std::string& text, std::size_t line_no, std::string_view problem,
                       std::string_view forbidden = {}) {
    const auto r = parse_account_state(text);
    if (r.ok()) {
        fail_msg("accepted; expected line %zu: %.*s", line_no, static_cast<int>(problem.size()), problem.data());
    }
    const std::string& m = r.error().message;
    const std::string prefix = "state file line " + std::to_string(line_no) + ": ";
    if (m.rfind(prefix, 0) != 0 || !contains(m, problem) || (!forbidden.empty() && contains(m, forbidden))) {
        fail_msg("unexpected message: \"%s\" (expected line %zu: %.*s)", m.c_str(), line_no,
                 static_cast<int>(problem.size()), problem.data());
    }
    assert_int_equal(r.error().code, Errc::format);
}

void expect_error(const std::string& text, std::string_view message) {
    const auto r = parse_account_state(text);
    assert_false(r.ok());
    if (r.error().message != message) {
        fail_msg("unexpected message: \"%s\"", r.error().message.c_str());
    }
    assert_int_equal(r.error().code, Errc::format);
}

void expect_round_trip(const AccountState& s) {
    const std::string text = serialise_account_state(s);
    const auto back = parse_account_state(text);
    if (!back.ok()) {
        fail_msg("%s\n--\n%s", back.error().message.c_str(), text.c_str());
    }
    assert_true(back.value() == s);
    // And the text is stable: written again, the same bytes.
    assert_true(serialise_account_state(back.value()) == text);
}

// --- good states ------------------------------------------------------------------

void parses_a_full_state(void** /*state*/) {
    const auto r = parse_account_state(join(full_lines()));
    if (!r.ok()) {
        fail_msg("%s", r.error().message.c_str());
    }
    assert_true(r.value() == full_state());
}

void writes_what_it_reads(void** /*state*/) {
    const std::string text = serialise_account_state(full_state());
    // The writer's text: full_lines() with a comment after the version.
    std::vector<std::string> lines = full_lines();
    std::string expected = lines[0] + "\n";
    expected += "# pam_totp state: written by pam_totp.so (pam_totp(8), FILES); totp-admin shows and resets it.\n";
    for (std::size_t i = 1; i < lines.size(); ++i) {
        expected += lines[i] + "\n";
    }
    if (text != expected) {
        fail_msg("got:\n%s", text.c_str());
    }
}

void round_trips(void** /*state*/) {
    expect_round_trip(full_state());
    // The least: an account and nothing else.
    AccountState minimal;
    minimal.account = "bob";
    expect_round_trip(minimal);
    const auto parsed = parse_account_state("version 2\naccount bob\n");
    assert_true(parsed.ok());
    assert_true(parsed.value() == minimal);
    // A token with nothing but its record line, a last login without items.
    AccountState s = minimal;
    s.tokens[id(tok_b)] = TokenRecord{};
    s.record.last_login = LastLogin{5, "", "", ""};
    expect_round_trip(s);
    // Extremes.
    AccountState big = full_state();
    big.record.budget.lockouts = std::numeric_limits<unsigned>::max();
    big.record.budget.debt_until = std::numeric_limits<std::time_t>::max();
    big.record.budget.locked_until = std::numeric_limits<std::time_t>::max();
    big.tokens[id(tok_a)].used_until = std::numeric_limits<std::time_t>::max();
    big.record.last_login->service = std::string(64, 'S');
    expect_round_trip(big);
    // A name as long as a user name may be.
    AccountState longname = minimal;
    longname.account = std::string(256, 'n');
    expect_round_trip(longname);
}

// The fullest state the format allows stays within max_state_text (and so
// within the largest slot of a state file) and parses back.
void the_fullest_state_fits(void** /*state*/) {
    AccountState s = full_state();
    s.account = std::string(256, 'n');
    s.record.budget.recent.assign(pam_totp::max_deny, std::numeric_limits<std::time_t>::max());
    s.record.last_login = LastLogin{std::numeric_limits<std::time_t>::max(), std::string(64, 's'), std::string(64, 'r'),
                                    std::string(64, 't')};
    s.tokens.clear();
    for (unsigned t = 0; t < pam_totp::max_tokens_per_state; ++t) {
        TokenRecord r;
        r.used_until = std::numeric_limits<std::time_t>::max();
        r.pending_until = std::numeric_limits<std::time_t>::max();
        r.pending_recovery = tag(tag_1);
        r.used_recovery.assign(pam_totp::max_used_recovery, UsedRecovery{tag(tag_1), std::string(setting_1)});
        r.maybe_used_recovery.assign(pam_totp::max_maybe_used_recovery, tag(tag_2));
        s.tokens[numbered(t)] = r;
    }
    const std::string text = serialise_account_state(s);
    print_message("the fullest state: %zu bytes (bound %zu)\n", text.size(), pam_totp::max_state_text);
    assert_true(text.size() <= pam_totp::max_state_text);
    expect_round_trip(s);
}

// A recovery code used under state format 1 (carried over from pam_totp
// 0.1: its hash's setting, no tag) is written and read back, and so are its
// refusals. The key the writer uses for it must be one the line syntax
// accepts (kv_format: [a-z_]).
void round_trips_a_code_used_under_format_1(void** /*state*/) {
    AccountState s = full_state();
    s.tokens[id(tok_a)].used_recovery.insert(s.tokens[id(tok_a)].used_recovery.begin(),
                                             UsedRecovery{std::nullopt, std::string(setting_2)});
    const std::string text = serialise_account_state(s);
    // The line it is written as.
    const std::size_t at = text.find(std::string(setting_2));
    assert_true(at != std::string::npos);
    const std::size_t start = text.rfind('\n', at) + 1;
    const std::string key = text.substr(start, at - 1 - start);
    const auto back = parse_account_state(text);
    if (!back.ok()) {
        fail_msg("a state holding a code used under format 1 does not parse back (its key '%s'): %s", key.c_str(),
                 back.error().message.c_str());
    }
    assert_true(back.value() == s);
    // Line 18 is then that line: its value must be a setting as totp-enroll writes them.
    for (const std::string& value :
         {std::string(tag_1), std::string("$y$j9T$short"), std::string("$y$jFT$abcdefghijklmnopqrstu1")}) {
        expect_line_error(inserting(19, key + " " + value), 19, "is not a recovery-code setting");
    }
}

// --- every parse error names its line --------------------------------------------------

void refuses_bad_syntax(void** /*state*/) {
    expect_error("", "state file: empty file (expected 'version 2' on line 1)");
    expect_line_error("version 1\naccount alice\n", 1, "format version 1 found, this build reads version 2");
    expect_line_error(replacing(3, "lockouts  2"), 3, "more than one space after 'lockouts'");
    expect_line_error(replacing(3, "lockouts 2 "), 3, "trailing space");
    expect_line_error(replacing(3, "lockouts"), 3, "found no space");
    expect_line_error(replacing(12, "last_service ss\thd"), 12, "tab character");
    expect_line_error(replacing(3, "LOCKOUTS 2"), 3, "malformed key");
    expect_line_error(replacing(16, "used_until " + std::string(2000, '1')), 16, "line longer than 1024 bytes");
    // Larger than any state can be.
    std::string huge = join(full_lines());
    while (huge.size() <= pam_totp::max_state_text) {
        huge += "# padding padding padding padding padding padding padding padding padding\n";
    }
    expect_error(huge, "state file: larger than " + std::to_string(pam_totp::max_state_text) + " bytes");
}

void refuses_unknown_keys(void** /*state*/) {
    expect_line_error(inserting(3, "last_code 123456"), 3, "unknown key 'last_code'", "123456");
    // The keys of format 1 are not those of format 2.
    expect_line_error(inserting(3, "last_step 58794000"), 3, "unknown key 'last_step'");
    expect_line_error(inserting(3, "enrollment_id " + std::string(tok_a)), 3, "unknown key 'enrollment_id'");
    // Token keys before any `token` line: unknown in the account part.
    expect_line_error(inserting(3, "used_until 5"), 3, "unknown key 'used_until'");
    expect_line_error(inserting(3, "recovery_used " + std::string(tag_1)), 3, "unknown key 'recovery_used'");
    expect_line_error(inserting(3, "pending_until 5"), 3, "unknown key 'pending_until'");
    expect_line_error(inserting(3, "recovery_maybe_used " + std::string(tag_1)), 3,
                      "unknown key 'recovery_maybe_used'");
    // Account keys after one: unknown in a token section.
    expect_line_error(inserting(17, "lockouts 0"), 17, "unknown key 'lockouts'");
    expect_line_error(inserting(17, "failure 1764290000"), 17, "unknown key 'failure'");
    expect_line_error(inserting(23, "charge 5"), 23, "unknown key 'charge'");
    expect_line_error(inserting(23, "account bob"), 23, "unknown key 'account'", "bob");
}

void refuses_duplicates(void** /*state*/) {
    expect_line_error(inserting(4, "lockouts 3"), 4, "duplicate 'lockouts' (first on line 3)");
    expect_line_error(inserting(6, "debt_until 3"), 6, "duplicate 'debt_until' (first on line 5)");
    expect_line_error(inserting(4, "account bob"), 4, "duplicate 'account' (first on line 2)", "bob");
    expect_line_error(inserting(15, "last_tty pts/1"), 15, "duplicate 'last_tty' (first on line 14)");
    expect_line_error(inserting(11, "charge 1"), 11, "duplicate 'charge' (first on line 10)");
    // Within a token section...
    expect_line_error(inserting(17, "used_until 1"), 17, "duplicate 'used_until' (first on line 16)");
    expect_line_error(inserting(19, "pending_recovery " + std::string(tag_1)), 19,
                      "duplicate 'pending_recovery' (first on line 18)");
    // ... but each section has its own keys.
    assert_true(parse_account_state(inserting(23, "pending_until 9")).ok());
    // The same token twice.
    expect_line_error(inserting(23, "token " + std::string(tok_a)), 23, "the same 'token' twice");
}

void refuses_bad_values(void** /*state*/) {
    expect_line_error(replacing(2, "account -alice"), 2, "'account': ");
    expect_line_error(replacing(2, "account a..b"), 2, "'account': ");
    expect_line_error(replacing(2, "account " + std::string(257, 'n')), 2, "'account': ");
    expect_line_error(replacing(3, "lockouts -1"), 3, "'lockouts': not a decimal number");
    expect_line_error(replacing(3, "lockouts 4294967296"), 3, "'lockouts': out of range");
    expect_line_error(replacing(4, "locked_until 9223372036854775808"), 4, "'locked_until': out of range");
    expect_line_error(replacing(5, "debt_until 01"), 5, "'debt_until': not a decimal number (leading zero)");
    expect_line_error(replacing(5, "debt_until -1"), 5, "'debt_until': not a decimal number");
    expect_line_error(replacing(7, "failure 1764290000.5"), 7, "'failure': not a decimal number");
    expect_line_error(replacing(10, "charge soon"), 10, "'charge': not a decimal number");
    expect_line_error(replacing(11, "last_login +5"), 11, "'last_login': not a decimal number");
    expect_line_error(replacing(12, "last_service " + std::string(65, 's')), 12,
                      "'last_service': not as pam_totp writes it");
    expect_line_error(replacing(13, "last_rhost host\x7f"), 13, "control character");
    expect_line_error(replacing(15, "token 0123"), 15, "'token' must be 32 lower-case hex digits");
    expect_line_error(replacing(15, "token " + std::string(32, 'A')), 15, "'token' must be 32 lower-case hex digits");
    expect_line_error(replacing(16, "used_until -5"), 16, "'used_until': not a decimal number");
    expect_line_error(replacing(17, "pending_until x"), 17, "'pending_until': not a decimal number");
    expect_line_error(replacing(18, "pending_recovery 0123456789ABCDEF"), 18,
                      "'pending_recovery' must be 16 lower-case hex digits");
    expect_line_error(replacing(18, "pending_recovery 0123"), 18,
                      "'pending_recovery' must be 16 lower-case hex digits");
    const std::string bad_used[] = {
        "0123456789abcde",                                         // 15 digits
        "0123456789abcdeg",                                        // not hex
        std::string(tag_1) + ":",                                  // an empty setting
        std::string(tag_1) + ":$y$j9T$short",                      // a setting too short
        std::string(tag_1) + ":$y$jFT$abcdefghijklmnopqrstu1",     // another cost
        std::string(tag_1) + ":" + std::string(setting_1) + "$x",  // a hash, not a setting
        std::string(setting_1),                                    // a setting without a tag
    };
    for (const std::string& value : bad_used) {
        expect_line_error(replacing(19, "recovery_used " + value), 19, "'recovery_used' must be 16 lower-case hex");
    }
    for (const char* value : {"0123456789abcde", "0123456789ABCDEF", "0123456789abcdef:$y$j9T$x"}) {
        expect_line_error(replacing(23, "recovery_maybe_used " + std::string(value)), 23,
                          "'recovery_maybe_used' must be 16 lower-case hex digits");
    }
}

void refuses_missing_and_orphaned_keys(void** /*state*/) {
    expect_error(replacing(2, ""), "state file: missing 'account'");
    expect_error("version 2\n", "state file: missing 'account'");
    // Where a login came from, without when.
    expect_error(replacing(11, ""), "state file: 'last_service', 'last_rhost' or 'last_tty' without 'last_login'");
    expect_error("version 2\naccount a\nlast_tty tty1\n",
                 "state file: 'last_service', 'last_rhost' or 'last_tty' without 'last_login'");
}

void refuses_too_many_lines(void** /*state*/) {
    // More failure times than the budget ever keeps.
    std::vector<std::string> lines = {"version 2", "account alice"};
    for (unsigned i = 0; i <= pam_totp::max_deny; ++i) {
        lines.push_back("failure 1764290000");
    }
    expect_line_error(join(lines), 3 + pam_totp::max_deny, "more than 100 'failure' lines");
    // More token records than one state holds.
    lines = {"version 2", "account alice"};
    for (unsigned t = 0; t <= pam_totp::max_tokens_per_state; ++t) {
        lines.push_back("token " + numbered(t).hex());
    }
    expect_line_error(join(lines), 3 + pam_totp::max_tokens_per_state, "more than 16 'token' lines");
    // More used recovery codes than one token keeps.
    lines = {"version 2", "account alice", "token " + std::string(tok_a)};
    for (std::size_t i = 0; i <= pam_totp::max_used_recovery; ++i) {
        lines.push_back("recovery_used " + std::string(tag_1));
    }
    expect_line_error(join(lines), 4 + pam_totp::max_used_recovery,
                      "more than " + std::to_string(pam_totp::max_used_recovery) + " 'recovery_used");
    // More codes that dead attempts may have used than one token keeps.
    lines = {"version 2", "account alice", "token " + std::string(tok_a)};
    for (std::size_t i = 0; i <= pam_totp::max_maybe_used_recovery; ++i) {
        lines.push_back("recovery_maybe_used " + std::string(tag_2));
    }
    expect_line_error(join(lines), 4 + pam_totp::max_maybe_used_recovery,
                      "more than " + std::to_string(pam_totp::max_maybe_used_recovery) + " 'recovery_maybe_used'");
}

// --- prune_token_records -------------------------------------------------------------------

void prune_keeps_the_recent_and_those_in_use(void** /*state*/) {
    AccountState s;
    s.account = "alice";
    // 20 tokens; token n's codes were last used at 1000 + n.
    for (unsigned n = 0; n < 20; ++n) {
        TokenRecord r;
        r.used_until = 1000 + n;
        s.tokens[numbered(n)] = r;
    }
    // In use by this login: two of the oldest.
    const std::vector<TokenId> keep = {numbered(0), numbered(2)};
    pam_totp::prune_token_records(s, keep);
    assert_int_equal(s.tokens.size(), pam_totp::max_tokens_per_state);
    // Forgotten: the oldest not in use (1, 3, 4, 5).
    for (const unsigned gone : {1U, 3U, 4U, 5U}) {
        assert_true(s.tokens.count(numbered(gone)) == 0);
    }
    for (const unsigned kept : {0U, 2U, 6U, 19U}) {
        assert_true(s.tokens.count(numbered(kept)) == 1);
    }
    // Within the bound: nothing changes.
    const AccountState before = s;
    pam_totp::prune_token_records(s, {});
    assert_true(s == before);
    // Every record in use: none is forgotten, even beyond the bound.
    AccountState busy;
    busy.account = "bob";
    std::vector<TokenId> all;
    for (unsigned n = 0; n < 18; ++n) {
        busy.tokens[numbered(n)] = TokenRecord{};
        all.push_back(numbered(n));
    }
    pam_totp::prune_token_records(busy, all);
    assert_int_equal(busy.tokens.size(), 18);
    // Partly in use: down to the bound, never below, never one in use.
    pam_totp::prune_token_records(busy, {numbered(17)});
    assert_int_equal(busy.tokens.size(), pam_totp::max_tokens_per_state);
    assert_true(busy.tokens.count(numbered(17)) == 1);
}

// --- sanitise_item -----------------------------------------------------------------------------

void sanitise_item_keeps_it_on_one_word(void** /*state*/) {
    assert_true(pam_totp::sanitise_item("sshd") == "sshd");
    assert_true(pam_totp::sanitise_item("2001:db8::1") == "2001:db8::1");
    assert_true(pam_totp::sanitise_item("a b") == "a?b");
    assert_true(pam_totp::sanitise_item("x\ny\rz\t") == "x?y?z?");
    assert_true(pam_totp::sanitise_item("caf\xc3\xa9") == "caf??");
    assert_true(pam_totp::sanitise_item(std::string_view("a\0b", 3)) == "a?b");
    assert_true(pam_totp::sanitise_item(std::string(100, 'h')) == std::string(64, 'h'));
    assert_true(pam_totp::sanitise_item("").empty());
    // A hostile item cannot add a line to the state.
    AccountState s;
    s.account = "alice";
    s.record.last_login = LastLogin{1, "sshd\nlockouts 0", "host name", std::string(80, 't')};
    const std::string text = serialise_account_state(s);
    const auto back = parse_account_state(text);
    assert_true(back.ok());
    assert_true(back.value().record.last_login->service == "sshd?lockouts?0");
    assert_true(back.value().record.last_login->rhost == "host?name");
    assert_int_equal(back.value().record.last_login->tty.size(), 64);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_a_full_state),
        cmocka_unit_test(writes_what_it_reads),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(the_fullest_state_fits),
        cmocka_unit_test(round_trips_a_code_used_under_format_1),
        cmocka_unit_test(refuses_bad_syntax),
        cmocka_unit_test(refuses_unknown_keys),
        cmocka_unit_test(refuses_duplicates),
        cmocka_unit_test(refuses_bad_values),
        cmocka_unit_test(refuses_missing_and_orphaned_keys),
        cmocka_unit_test(refuses_too_many_lines),
        cmocka_unit_test(prune_keeps_the_recent_and_those_in_use),
        cmocka_unit_test(sanitise_item_keeps_it_on_one_word),
    };
    return cmocka_run_group_tests_name("state_format", tests, nullptr, nullptr);
}
