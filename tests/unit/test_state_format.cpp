// The text of one account's state, format 2 (core/store/state_format.h):
// round trips of full and minimal states, every parse error with the line
// it names, the fullest state within its bound, prune_token_records,
// sanitise_item, and the keys tokens brought (hotp_next, drift,
// pending_hotp).
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "cmocka.hpp"
#include "core/otp/hotp.h"
#include "core/otp/totp.h"
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
    s.record.charge_weight = pam_totp::max_guess_weight;
    for (std::size_t g = 0; g < pam_totp::max_grace_records; ++g) {
        s.record.grace.push_back(pam_totp::GraceRecord{tag(tag_1), std::numeric_limits<std::time_t>::max()});
    }
    s.record.last_login = LastLogin{std::numeric_limits<std::time_t>::max(), std::string(64, 's'), std::string(64, 'r'),
                                    std::string(64, 't')};
    s.tokens.clear();
    for (unsigned t = 0; t < pam_totp::max_tokens_per_state; ++t) {
        TokenRecord r;
        r.used_until = std::numeric_limits<std::time_t>::max();
        r.pending_until = std::numeric_limits<std::time_t>::max();
        r.pending_recovery = tag(tag_1);
        // The keys tokens brought (an HOTP and a TOTP record never hold
        // both, but the format allows it): each at its longest.
        r.hotp_next = pam_totp::max_hotp_counter;
        r.drift = pam_totp::Drift{-pam_totp::max_clock_offset, -pam_totp::max_clock_offset,
                                  std::numeric_limits<std::time_t>::max()};
        r.pending_hotp = pam_totp::PendingHotp{tag(tag_2), pam_totp::max_hotp_counter};
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

// --- the keys tokens brought: hotp_next, drift, pending_hotp ------------------------------

// full_lines() with an HOTP record and a TOTP record's drift: token a gets
// hotp_next and pending_hotp, token b a drift.
std::vector<std::string> token_lines() {
    std::vector<std::string> lines = full_lines();
    lines.insert(lines.begin() + 16, "hotp_next 42");                                // 17
    lines.insert(lines.begin() + 18, "pending_hotp " + std::string(tag_1) + ":52");  // 19 (after pending_until, 18)
    lines.insert(lines.end() - 1, "drift -90:30:1764290010");                        // 25 (before maybe_used, 26)
    return lines;
}

AccountState token_state() {
    AccountState s = full_state();
    s.tokens[id(tok_a)].hotp_next = 42;
    s.tokens[id(tok_a)].pending_hotp = pam_totp::PendingHotp{tag(tag_1), 52};
    s.tokens[id(tok_b)].drift = pam_totp::Drift{-90, 30, 1764290010};
    return s;
}

std::string token_replacing(std::size_t n, const std::string& line) {
    std::vector<std::string> lines = token_lines();
    lines[n - 1] = line;
    return join(lines);
}

std::string token_inserting(std::size_t n, const std::string& line) {
    std::vector<std::string> lines = token_lines();
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(n - 1), line);
    return join(lines);
}

void parses_and_writes_token_keys(void** /*state*/) {
    const std::vector<std::string> lines = token_lines();
    assert_true(lines[16] == "hotp_next 42");
    assert_true(lines[17] == "pending_until 1764290100");
    assert_true(lines[24] == "drift -90:30:1764290010");
    const auto r = parse_account_state(join(lines));
    if (!r.ok()) {
        fail_msg("%s", r.error().message.c_str());
    }
    assert_true(r.value() == token_state());
    // Written in the order of the format's description.
    std::string expected = lines[0] + "\n";
    expected += "# pam_totp state: written by pam_totp.so (pam_totp(8), FILES); totp-admin shows and resets it.\n";
    for (std::size_t i = 1; i < lines.size(); ++i) {
        expected += lines[i] + "\n";
    }
    const std::string text = serialise_account_state(token_state());
    if (text != expected) {
        fail_msg("got:\n%s", text.c_str());
    }
}

void round_trips_token_keys(void** /*state*/) {
    expect_round_trip(token_state());
    AccountState s;
    s.account = "alice";
    // Counter 0 is a counter (not "none"), and the top of the range.
    for (const std::uint64_t next : {std::uint64_t{0}, std::uint64_t{1}, pam_totp::max_hotp_counter}) {
        TokenRecord r;
        r.hotp_next = next;
        r.pending_hotp = pam_totp::PendingHotp{tag(tag_2), next};
        s.tokens[id(tok_a)] = r;
        expect_round_trip(s);
    }
    // Drifts: negative, zero, the bounds, each against any file offset and
    // confirmed time.
    for (const long offset : {-300L, -299L, -30L, 0L, 30L, 300L}) {
        for (const long file_offset : {-300L, -90L, 0L, 90L, 300L}) {
            for (const std::time_t confirmed :
                 {std::time_t{0}, std::time_t{1764290010}, std::numeric_limits<std::time_t>::max()}) {
                TokenRecord r;
                r.used_until = 1764290040;
                r.drift = pam_totp::Drift{offset, file_offset, confirmed};
                s.tokens[id(tok_b)] = r;
                expect_round_trip(s);
            }
        }
    }
    const auto zero = parse_account_state("version 2\naccount a\ntoken " + std::string(tok_a) + "\ndrift 0:0:0\n");
    assert_true(zero.ok());
    assert_true(zero.value().tokens.at(id(tok_a)).drift == pam_totp::Drift{});
}

// How many wrong codes a charged attempt counts as if it died (the codes
// it was compared with: rate_limit.h, guess_weight). Written only when not
// 1, and only with its charge.
void charge_weight(void** /*state*/) {
    const auto r = parse_account_state(inserting(11, "charge_weight 5"));
    if (!r.ok()) {
        fail_msg("%s", r.error().message.c_str());
    }
    assert_int_equal(r.value().record.charge_weight, 5);
    assert_int_equal(parse_account_state(join(full_lines())).value().record.charge_weight, 1);  // absent: 1
    AccountState s = full_state();
    for (const unsigned weight : {1U, 2U, 5U, pam_totp::max_guess_weight}) {
        s.record.charge_weight = weight;
        expect_round_trip(s);
        assert_true(contains(serialise_account_state(s), "\ncharge_weight ") == (weight != 1));
    }
    expect_line_error(inserting(11, "charge_weight 0"), 11, "'charge_weight' must be 1 to 1000");
    expect_line_error(inserting(11, "charge_weight 1001"), 11, "'charge_weight' must be 1 to 1000");
    expect_line_error(inserting(11, "charge_weight -1"), 11, "'charge_weight' must be 1 to 1000");
    expect_line_error(inserting(11, "charge_weight x"), 11, "'charge_weight' must be 1 to 1000");
    expect_line_error(inserting(11, "charge_weight 2\ncharge_weight 2"), 12,
                      "duplicate 'charge_weight' (first on line 11)");
    expect_error(replacing(10, "charge_weight 3"), "state file: 'charge_weight' without 'charge'");
    expect_line_error(inserting(17, "charge_weight 3"), 17, "unknown key 'charge_weight'");
}

void refuses_bad_token_keys(void** /*state*/) {
    // hotp_next.
    for (const std::string value : {"-1", "+1", "01", "x", "4611686018427387905", "18446744073709551616"}) {
        expect_line_error(token_replacing(17, "hotp_next " + value), 17, "'hotp_next': ");
    }
    expect_line_error(token_replacing(17, "hotp_next 4611686018427387905"), 17, "'hotp_next': out of range");
    expect_line_error(token_inserting(18, "hotp_next 43"), 18, "duplicate 'hotp_next' (first on line 17)");
    // drift.
    const std::string drift_problem =
        "'drift' must be OFFSET:FILE_OFFSET:FILE_CONFIRMED, two offsets of -300 to 300 seconds and a Unix time";
    const std::vector<std::string> bad_drifts = {"90",
                                                 "90:",
                                                 ":0",
                                                 "90:0",
                                                 "90:0:",
                                                 "::",
                                                 "301:0:0",
                                                 "0:301:0",
                                                 "-301:0:0",
                                                 "0:-301:0",
                                                 "-0:0:0",
                                                 "0:-0:0",
                                                 "+90:0:0",
                                                 "90:0:-1",
                                                 "90:0:+1",
                                                 "90:0:01",
                                                 "90:0:9223372036854775808",
                                                 "90:0:0:0",
                                                 "a:b:c",
                                                 "--90:0:0",
                                                 "090:0:0",
                                                 "1000000000000000000000:0:0"};
    for (const std::string& value : bad_drifts) {
        expect_line_error(token_replacing(25, "drift " + value), 25, drift_problem);
    }
    expect_line_error(token_inserting(26, "drift 30:0:0"), 26, "duplicate 'drift' (first on line 25)");
    // pending_hotp.
    const std::string pending_problem = "'pending_hotp' must be 16 lower-case hex digits, ':' and a counter";
    const std::vector<std::string> bad_pending = {std::string(tag_1),
                                                  std::string(tag_1) + ":",
                                                  ":52",
                                                  std::string(tag_1) + ":-1",
                                                  std::string(tag_1) + ":4611686018427387905",
                                                  "0123456789ABCDEF:52",
                                                  "0123456789abcde:52",
                                                  std::string(tag_1) + ":52:1",
                                                  std::string(tag_1) + "52"};
    for (const std::string& value : bad_pending) {
        expect_line_error(token_replacing(19, "pending_hotp " + value), 19, pending_problem);
    }
    expect_line_error(token_inserting(20, "pending_hotp " + std::string(tag_2) + ":1"), 20,
                      "duplicate 'pending_hotp' (first on line 19)");
    // Before any token line they are unknown keys of the account part.
    expect_line_error(inserting(3, "hotp_next 1"), 3, "unknown key 'hotp_next'");
    expect_line_error(inserting(3, "drift 0:0:0"), 3, "unknown key 'drift'");
    expect_line_error(inserting(3, "pending_hotp " + std::string(tag_1) + ":1"), 3, "unknown key 'pending_hotp'");
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
        cmocka_unit_test(parses_and_writes_token_keys),
        cmocka_unit_test(round_trips_token_keys),
        cmocka_unit_test(refuses_bad_token_keys),
        cmocka_unit_test(charge_weight),
    };
    return cmocka_run_group_tests_name("state_format", tests, nullptr, nullptr);
}
