#include "core/login/login_flow.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/files/kv_format.h"
#include "core/files/path_template.h"
#include "core/files/secret_file.h"
#include "core/login/answer.h"
#include "core/login/grace.h"
#include "core/otp/hotp.h"
#include "core/otp/rate_limit.h"
#include "core/otp/recovery.h"
#include "core/otp/token.h"
#include "core/otp/totp.h"
#include "core/store/state_format.h"
#include "core/util/critical_section.h"

namespace pam_totp {
namespace {

// Rounds of "lock, read the secret file again, find its tokens changed"
// before giving up: each means the file was replaced during the login.
constexpr int secret_change_rounds = 3;
constexpr std::string_view forward_prompt = "Password & verification code: ";

std::string plural(std::size_t n, const char* word) {
    return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string duration_words(std::time_t secs) {
    secs = std::min<std::time_t>(secs, std::time_t{100} * 365 * 24 * 3600);  // no overflow below
    if (secs < 120) {
        return plural(static_cast<std::size_t>(std::max<std::time_t>(secs, 1)), "second");
    }
    if (secs < std::time_t{2} * 3600) {
        return plural(static_cast<std::size_t>((secs + 59) / 60), "minute");
    }
    return plural(static_cast<std::size_t>((secs + 3599) / 3600), "hour");
}

// A secret file the module may read without looking the account up: one
// that only root controls (owned by root, mode 0600 or stricter, in
// directories only root owns and can write), in a directory that tells
// names apart by case, so no other spelling of a name reaches the file
// with a guessing budget of its own.
FileRules root_controlled_rules() {
    return FileRules{.owner = 0,
                     .root_may_own = true,
                     .max_size = max_file_size,
                     .root_owned_dirs = true,
                     .case_sensitive_dir = true};
}

// One token of the secret file: its id (the replay record's key) and its
// entry (name, type, key, parameters).
struct TokenRef {
    TokenId id;
    const TokenEntry* entry;
};

// Where a TOTP token's window is centred: the drift the state observed, as
// long as it was measured against the file's token as it is now (a resync
// starts anew: records.h), else the file's offset (pam_totp(8), TOKENS).
long clock_offset(const TokenEntry& token, const TokenRecord& record) {
    if (record.drift && record.drift->file_offset == token.offset &&
        record.drift->file_confirmed == token.confirmed_until) {
        return record.drift->offset;
    }
    return token.offset;
}

// The next counter an HOTP token may be accepted at: the file's (raised by
// totp-enroll --resync) or the state's, whichever is further on, so that
// neither an edited file nor a re-import moves it back.
std::uint64_t hotp_start(const TokenEntry& token, const TokenRecord& record) {
    return std::max(token.counter, record.hotp_next.value_or(0));
}

std::time_t shifted(std::time_t now, long offset) {
    return now + static_cast<std::time_t>(offset);
}

enum class SecretLookup {
    found,    // m_secret is set
    missing,  // no file: nullok may forgive it
    refused,  // a file that must not be used (logged): denied after the prompt
};

enum class Verdict { accepted, rejected, locked, error, unavailable };

// Before the prompt: ask for a code, stop (locked out, or the store cannot
// be used), or let the user in on a grace (grace_period=).
enum class BeforePrompt { ask, stop, grace };

// What the charge recorded about an answer, before it is looked at.
struct Attempt {
    AnswerShape shape = AnswerShape::other;
    unsigned window = default_window;
    unsigned hotp_window = default_hotp_window;
    unsigned weight = 1;                    // guess_weight of the codes the answer is compared with
    std::optional<SecureBuffer> canonical;  // a recovery code, normalised
    std::optional<RecoveryTag> tag;         // and its tag
};

// What a charge wrote on one token's record (check()'s first round): in a
// second round it is this login's own, cleared rather than settled as an
// earlier login's.
struct OwnPending {
    TokenId id;
    std::optional<std::time_t> until;
    std::optional<PendingHotp> hotp;
    std::optional<RecoveryTag> recovery;
};

// What checking the answer found.
struct Outcome {
    bool accepted = false;
    std::string what = "wrong code";  // for the log
    std::string audit = "wrong";      // the audit line's outcome=
    std::string hint;                 // for the user, on failure
    std::optional<TokenId> token;     // the token that matched
    std::string token_name;           // and its name, for the log
    std::time_t used_until = 0;       // TOTP: the end of the matched step
    std::optional<Drift> drift;       // TOTP: accepted off-centre: the new centre
    std::uint64_t counter = 0;        // HOTP: the matched counter
    bool recovery = false;
    std::string setting;  // recovery: the matched hash's setting
};

// What the settling found for the report.
struct Settled {
    bool locked_now = false;
    unsigned wrong_before = 0;  // on success: wrong codes since the last successful login
};

class Login {
  public:
    Login(LoginIo& io, const ModuleOptions& opts, StateStore& store) : m_io(io), m_opts(opts), m_store(store) {}

    LoginOutcome run();

  private:
    LoginOutcome run_steps();
    // Before the prompt.
    SecretLookup locate_secret();
    SecretLookup read_root_controlled();
    SecretLookup read_via_account();
    SecretLookup load(const std::string& path, const FileRules& rules, bool as_user);
    SecretLookup adopt(const SecureBuffer& text);
    bool look_up_account();
    BeforePrompt before_prompt();
    [[nodiscard]] std::optional<RecoveryTag> place() const;
    void audit_line(LoginOutcome result);
    void set_audit(std::string_view outcome) { m_audit = std::string(outcome); }
    LoginOutcome collect_for_later(bool enrolled);
    // The answer.
    std::optional<Answer> authtok_answer();
    std::optional<Answer> ask_answer();
    bool accept(const Answer& answer);
    // Under the lock.
    Verdict check(const SecureBuffer& code);
    std::unique_ptr<StateTransaction> lock_state();
    bool carry_over_legacy(StateTransaction& tx);
    void carry_over_legacy_codes(StateTransaction& tx);
    bool refuse_if_locked(StateTransaction& tx, std::time_t now);
    // `may_retry`: a claim conflict is not logged (check() begins again).
    bool charge(StateTransaction& tx, const SecureBuffer& code, std::time_t now, Attempt& attempt, bool may_retry);
    Outcome evaluate(StateTransaction& tx, const Attempt& attempt, const SecureBuffer& code, std::time_t now);
    Outcome evaluate_code(StateTransaction& tx, const Attempt& attempt, const SecureBuffer& code, std::time_t now);
    bool settle_stale_hotp(StateTransaction& tx);
    [[nodiscard]] unsigned code_digits() const { return m_secret->tokens.front().params.digits; }
    [[nodiscard]] std::vector<TokenId> locked_ids() const;
    Outcome evaluate_recovery(StateTransaction& tx, const Attempt& attempt);
    Settled settle(StateTransaction& tx, const Attempt& attempt, const Outcome& outcome, std::time_t now);
    void report(StateTransaction& tx, const Outcome& outcome, const Settled& settled, std::time_t now);

    [[nodiscard]] unsigned window() const;
    // The account the state is kept for: the account database's spelling of
    // the name when it was looked up to find the file, else the name the
    // root-controlled file was found by. Fixed once the file is found.
    [[nodiscard]] const std::string& state_key() const { return m_key; }
    [[nodiscard]] std::string store_name() const {
        return m_opts.store == StoreKind::file ? m_opts.state_dir : std::string("the shared store");
    }
    void log(LogLevel level, const std::string& msg) {
        const std::string who = m_acct ? m_acct->name : m_user.value_or("(unknown)");
        m_io.log(level, "user " + who + ": " + msg);
    }
    void debug(const std::string& msg) {
        if (m_opts.debug) {
            log(LogLevel::debug, msg);
        }
    }

    LoginIo& m_io;
    const ModuleOptions& m_opts;
    StateStore& m_store;
    std::optional<std::string> m_user;
    std::optional<Account> m_acct;  // looked up only when needed
    bool m_looked_up = false;
    std::optional<SecretFile> m_secret;
    std::vector<TokenRef> m_tokens;  // of m_secret
    TokenId m_recovery_id;           // the record the recovery codes' use is kept in
    std::string m_path;              // where m_secret was read, and how
    FileRules m_rules;
    bool m_as_user = false;
    std::string m_unlooked_refusal;           // why the lookup-free read refused a file, if it did
    std::string m_key;                        // state_key()
    bool m_store_unavailable = false;         // the last store error was Errc::unavailable
    bool m_claim_conflict = false;            // the last charge lost a claim race (Errc::conflict)
    std::optional<std::time_t> m_own_charge;  // the charge this login wrote (check()'s first round)
    std::vector<OwnPending> m_own_pending;    // and what it wrote on the tokens
    std::optional<LegacyState> m_carried;     // what carry_over_legacy found
    // The audit line (pam_totp(8), LOGGING): what the login came to.
    std::string m_audit = "error";
    std::string m_audit_token;
    std::optional<unsigned> m_audit_failures;  // wrong codes since the last successful login
};

// Reads and parses the secret file. `missing` only when there is no file
// (which nullok forgives); every other problem is `refused`, and the login
// is denied after the prompt, so nothing in the reply tells enrolled users
// apart.
SecretLookup Login::locate_secret() {
    m_user = m_io.user();
    if (!m_user) {
        set_audit("unknown_user");
        m_io.log(LogLevel::notice, "no valid user name; denying");
        return SecretLookup::refused;
    }
    if (template_uses_user(m_opts.secret) && !template_uses_home(m_opts.secret)) {
        const SecretLookup fast = read_root_controlled();
        if (fast != SecretLookup::missing) {
            return fast;
        }
    }
    return read_via_account();
}

// The name's own central file, when only root controls it, read without
// looking the account up (with files NSS that scans /etc/passwd: the
// dearest part of a login). `missing` when there is no such file by this
// spelling, or it is not root's alone: the account's way then looks.
SecretLookup Login::read_root_controlled() {
    const auto path = expand_path_template(m_opts.secret, *m_user, "");
    if (!path) {
        return SecretLookup::missing;
    }
    const auto text = m_io.read_secret(path.value(), root_controlled_rules(), false);
    if (!text) {
        if (text.error().code != Errc::not_found) {
            m_unlooked_refusal = text.error().message;  // said if the account's way finds no account
        }
        return SecretLookup::missing;
    }
    m_rules = root_controlled_rules();
    m_as_user = false;
    m_path = path.value();
    m_key = *m_user;
    return adopt(text.value());
}

// With the account: the home for ~ and %h, the database's spelling of the
// name for %u, and the uid to check the owner by.
SecretLookup Login::read_via_account() {
    if (!look_up_account()) {
        return SecretLookup::refused;
    }
    if (!m_acct) {
        set_audit("unknown_user");
        log(LogLevel::notice, "no such account" +
                                  (m_unlooked_refusal.empty() ? std::string() : " (and " + m_unlooked_refusal + ")") +
                                  "; denying");
        return SecretLookup::refused;
    }
    auto path = expand_path_template(m_opts.secret, m_acct->name, m_acct->home);
    if (!path) {
        set_audit("refused_file");
        log(LogLevel::err, "cannot build the secret file path: " + path.error().message);
        return SecretLookup::refused;
    }
    // A file in the home is the user's: read with the user's identity and
    // owned by the user. Any other is central: read as root, owned by the
    // user or root, in directories only root controls.
    m_key = m_acct->name;
    const bool home_file = is_home_file(m_opts.secret, path.value(), m_acct->home);
    const FileRules rules{.owner = m_acct->uid,
                          .root_may_own = !home_file || m_acct->uid == 0,
                          .max_size = max_file_size,
                          .root_owned_dirs = !home_file};
    return load(path.value(), rules, home_file);
}

SecretLookup Login::load(const std::string& path, const FileRules& rules, bool as_user) {
    m_path = path;
    m_rules = rules;
    m_as_user = as_user;
    auto text = m_io.read_secret(path, rules, as_user);
    if (!text) {
        if (text.error().code == Errc::not_found) {
            return SecretLookup::missing;
        }
        set_audit("refused_file");
        log(LogLevel::err, "refusing secret file: " + text.error().message);
        return SecretLookup::refused;
    }
    return adopt(text.value());
}

// Parses the text read from m_path into m_secret and its tokens.
SecretLookup Login::adopt(const SecureBuffer& text) {
    auto parsed = parse_secret_file(text.view());
    if (!parsed) {
        set_audit("refused_file");
        log(LogLevel::err, "malformed secret file " + m_path + ": " + parsed.error().message);
        return SecretLookup::refused;
    }
    m_secret = std::move(parsed).value();
    m_tokens.clear();
    for (const TokenEntry& t : m_secret->tokens) {
        m_tokens.push_back(TokenRef{token_id_of(t.key), &t});
    }
    m_recovery_id = token_id_of(m_secret->recovery_key());
    debug("secret file " + m_path + " read");
    return SecretLookup::found;
}

unsigned Login::window() const {
    return m_opts.window.value_or(m_secret->window.value_or(default_window));
}

// Looks the account up once (m_acct stays empty when there is none). False
// (logged) when the lookup itself failed: the login is denied, since "no
// such account" must never be a guess.
bool Login::look_up_account() {
    if (m_looked_up) {
        return true;
    }
    auto acct = m_io.account();
    if (!acct) {
        log(LogLevel::err, "cannot look the account up: " + acct.error().message + "; denying");
        return false;
    }
    m_acct = std::move(acct).value();
    m_looked_up = true;
    return true;
}

// The place of this login for the grace period (core/login/grace.h).
std::optional<RecoveryTag> Login::place() const {
    const LoginContext where = m_io.context();
    std::vector<TokenId> ids;
    for (const TokenRef& t : m_tokens) {
        ids.push_back(t.id);
    }
    return grace_place(where.service, where.rhost, where.tty, m_secret->enrollment_id, ids);
}

// Before prompting, a locked-out user is told so and not asked for a code;
// a user a code was accepted from this place within grace_period is not
// asked either (unless locked out: a lockout means someone is guessing).
// A quick look without the lock: check() decides under it. Stops the login
// also when a shared store cannot be used, since the answer could not be
// checked either (and asking would only make the user wait for a denial;
// pam_totp(8), FLEET).
BeforePrompt Login::before_prompt() {
    auto record = m_store.peek(state_key());
    if (!record && record.error().code == Errc::unavailable) {
        m_store_unavailable = true;
        set_audit("store_unavailable");
        log(LogLevel::err, "cannot read the state in " + store_name() +
                               " before the prompt: " + record.error().message + "; denying without asking for a code");
        return BeforePrompt::stop;
    }
    if (!record || !record.value()) {
        return BeforePrompt::ask;  // no record, or unreadable: check() will say why
    }
    const Budget& budget = record.value()->budget;
    const std::time_t now = m_io.now();
    if (!is_locked(budget, now)) {
        if (m_opts.grace_period > 0) {
            const auto here = place();
            if (here && grace_holds(*record.value(), *here, now, m_opts.grace_period)) {
                set_audit("grace");
                log(LogLevel::info, "not asked for a code: one was accepted from this place within grace_period=" +
                                        std::to_string(m_opts.grace_period) + " s");
                return BeforePrompt::grace;
            }
        }
        return BeforePrompt::ask;
    }
    const std::time_t left = lock_remaining(budget, now);
    set_audit("locked");
    m_audit_failures = budget.since_success;
    log(LogLevel::notice, "code entry locked for " + std::to_string(left) + " more seconds; denying");
    m_io.tell("Too many wrong codes. Code entry is locked for " + duration_words(left) + "; try again later.", true);
    return BeforePrompt::stop;
}

// forward_pass defer: one prompt for password and code; the password goes
// on to the password module (PAM_AUTHTOK), the code is kept for the
// pam_totp line after it, which checks it once the password is known to be
// right. Nothing is checked or counted here. A user with no secret file
// (nullok) types the password alone: all of it goes on, nothing is kept.
LoginOutcome Login::collect_for_later(bool enrolled) {
    const unsigned digits = m_secret ? code_digits() : 6;
    auto typed = m_io.ask(forward_prompt, false);
    if (!typed) {
        log(LogLevel::err, "conversation failed: " + typed.error().message + "; denying");
        return LoginOutcome::denied;
    }
    if (typed.value().size() > max_answer) {
        log(LogLevel::notice, "answer longer than " + std::to_string(max_answer) + " bytes; denying");
        return LoginOutcome::denied;
    }
    auto answer = enrolled ? split_answer(typed.value(), digits, !m_opts.no_recovery) : std::nullopt;
    // No code at the end: all of it is the password, and the check line
    // finds an empty code (a wrong one).
    const SecureBuffer password = answer && answer->password ? answer->password->clone() : typed.value().clone();
    const SecureBuffer code = answer ? answer->code.clone() : SecureBuffer();
    if (Status st = m_io.set_authtok(password); !st) {
        log(LogLevel::err, "cannot pass the password on: " + st.error().message + "; denying");
        return LoginOutcome::denied;
    }
    if (!enrolled) {
        return LoginOutcome::ignore;
    }
    if (Status st = m_io.keep_deferred_code(code); !st) {
        log(LogLevel::err, "cannot keep the code for the check line: " + st.error().message + "; denying");
        return LoginOutcome::denied;
    }
    debug("forward_pass defer: password handed on, code kept for the pam_totp line after the password");
    return LoginOutcome::ignore;
}

// The code in PAM_AUTHTOK (try_first_pass, use_first_pass): at the end of
// the password an earlier module collected; nullopt when there is none.
std::optional<Answer> Login::authtok_answer() {
    const unsigned digits = m_secret ? code_digits() : 6;
    if (auto tok = m_io.authtok(); tok && !tok->empty() && tok->size() <= max_answer) {
        return split_answer(*tok, digits, !m_opts.no_recovery);
    }
    return std::nullopt;
}

// Asks for the code (with forward_pass: the password and the code).
std::optional<Answer> Login::ask_answer() {
    const std::string prompt = m_opts.forward_pass ? std::string(forward_prompt) : m_opts.prompt;
    auto typed = m_io.ask(prompt, m_opts.echo_code && !m_opts.forward_pass);
    if (!typed) {
        log(LogLevel::err, "conversation failed: " + typed.error().message + "; denying");
        return std::nullopt;
    }
    if (typed.value().size() > max_answer) {
        log(LogLevel::notice, "answer longer than " + std::to_string(max_answer) + " bytes; denying");
        return std::nullopt;
    }
    if (m_opts.forward_pass) {
        const unsigned digits = m_secret ? code_digits() : 6;
        if (auto answer = split_answer(typed.value(), digits, !m_opts.no_recovery)) {
            return answer;
        }
    }
    return Answer{std::move(typed).value(), std::nullopt};  // checked (and counted) as it is
}

// Locks the state of the account and of the secret file's tokens, then
// reads the secret file again: the answer is checked against what is on
// disk now (a recovery code revoked, or an enrollment replaced, while the
// prompt was open no longer works). Null (logged) when the state cannot be
// used or the file is no longer good.
std::unique_ptr<StateTransaction> Login::lock_state() {
    for (int round = 0; round < secret_change_rounds; ++round) {
        const std::vector<TokenId> ids = locked_ids();
        auto tx = m_store.begin(state_key(), ids);
        if (!tx) {
            m_store_unavailable = tx.error().code == Errc::unavailable;
            set_audit(m_store_unavailable ? "store_unavailable" : "error");
            log(LogLevel::err, "cannot use the state in " + store_name() + ": " + tx.error().message +
                                   "; denying (replay protection and the guessing budget cannot be skipped)");
            return nullptr;
        }
        const std::string path = m_path;
        const FileRules rules = m_rules;
        if (load(path, rules, m_as_user) != SecretLookup::found) {
            if (m_secret) {
                m_secret.reset();
                set_audit("not_enrolled");
                log(LogLevel::notice, "secret file " + path + " cannot be used since the prompt; denying");
            }
            return nullptr;
        }
        if (locked_ids() == ids) {
            return std::move(tx).value();
        }
        debug("secret file " + path + " replaced since the prompt; locking its new tokens");
    }
    log(LogLevel::err, "secret file " + m_path + " keeps changing during the login; denying");
    return nullptr;
}

// The records a login locks: every token's, and the recovery codes'.
std::vector<TokenId> Login::locked_ids() const {
    std::vector<TokenId> ids;
    for (const TokenRef& t : m_tokens) {
        ids.push_back(t.id);
    }
    if (std::find(ids.begin(), ids.end(), m_recovery_id) == ids.end()) {
        ids.push_back(m_recovery_id);
    }
    return ids;
}

// The account's first login with this state: what pam_totp 0.1 recorded
// (by name, or by uid, for which the account is looked up once) carries
// over, so that an upgrade makes no used code or recovery code work again
// and spends no guess anew. False (logged) when it cannot be read.
bool Login::carry_over_legacy(StateTransaction& tx) {
    if (!look_up_account()) {
        return false;
    }
    const std::optional<uid_t> uid = m_acct ? std::optional<uid_t>(m_acct->uid) : std::nullopt;
    auto legacy = m_store.legacy_state(state_key(), uid);
    if (!legacy) {
        log(LogLevel::err,
            "cannot read the state of an earlier pam_totp to carry it over: " + legacy.error().message + "; denying");
        return false;
    }
    if (!legacy.value()) {
        return true;
    }
    m_carried = *legacy.value();
    const LegacyState& old = *m_carried;
    Budget& budget = tx.account().budget;
    budget.lockouts = std::max(budget.lockouts, old.lockouts);
    budget.locked_until = std::max(budget.locked_until, old.locked_until);
    // Its wrong codes count again, at the times they were made.
    std::vector<std::time_t> failures = old.failures;
    std::sort(failures.begin(), failures.end());
    for (const std::time_t when : failures) {
        (void)record_failure(budget, m_opts.rate, when);
    }
    carry_over_legacy_codes(tx);
    debug("carried over the state an earlier pam_totp kept");
    return true;
}

// The used codes of what carry_over_legacy found, into the token's record
// (again in check()'s second round: the record the first round wrote them
// to was not the one another account's login claimed for the secret).
// Idempotent. Its last step and used codes are of the enrollment it was
// bound to, in that enrollment's period: they apply only to the same one.
void Login::carry_over_legacy_codes(StateTransaction& tx) {
    if (!m_carried || m_carried->enrollment_id != m_secret->enrollment_id) {
        return;
    }
    // 0.1 knew one TOTP token, the file's first.
    const TokenRef& first = m_tokens.front();
    if (m_carried->last_step && first.entry->type == TokenType::totp) {
        TokenRecord& token = tx.token(first.id);
        token.used_until = std::max(token.used_until, step_end(*m_carried->last_step, first.entry->params.period));
    }
    TokenRecord& recovery = tx.token(m_recovery_id);
    for (const std::string& setting : m_carried->used_recovery) {
        if (is_recovery_setting(setting)) {
            remember_used_recovery(recovery, UsedRecovery{std::nullopt, setting});
        }
    }
}

// True (and the user told, unless forward_pass: the password is not known
// to be right yet) while code entry is locked.
bool Login::refuse_if_locked(StateTransaction& tx, std::time_t now) {
    const Budget& budget = tx.account().budget;
    if (!is_locked(budget, now)) {
        return false;
    }
    const std::time_t left = lock_remaining(budget, now);
    set_audit("locked");
    m_audit_failures = budget.since_success;
    log(LogLevel::notice, "code entry locked for " + std::to_string(left) + " more seconds; denying");
    if (!m_opts.forward_pass) {
        m_io.tell("Too many wrong codes. Code entry is locked for " + duration_words(left) + "; try again later.",
                  true);
    }
    return true;
}

// Charges the attempt durably before the answer is looked at (records.h):
// the account's charge, and on the tokens what the answer could use. False
// (logged) when that cannot be written: the answer is then never checked.
bool Login::charge(StateTransaction& tx, const SecureBuffer& code, std::time_t now, Attempt& attempt, bool may_retry) {
    attempt.window = window();
    attempt.hotp_window = m_opts.hotp_window;
    // A code of any token's length is a code; the first token's length
    // only decides the split of password+code (answer.h).
    attempt.shape = shape_of(code, code_digits(), !m_opts.no_recovery);
    for (const TokenRef& t : m_tokens) {
        if (attempt.shape != AnswerShape::totp && shape_of(code, t.entry->params.digits, false) == AnswerShape::totp) {
            attempt.shape = AnswerShape::totp;
        }
    }
    tx.account().charge = now;
    m_own_charge = now;
    unsigned codes = 0;
    if (attempt.shape == AnswerShape::totp) {
        for (const TokenRef& t : m_tokens) {
            if (code.size() != t.entry->params.digits) {
                continue;  // this token cannot match: nothing to block
            }
            TokenRecord& record = tx.token(t.id);
            if (t.entry->type == TokenType::hotp) {
                codes += attempt.hotp_window + 1;
                const std::uint64_t start = hotp_start(*t.entry, record);
                const std::uint64_t last = std::min(start + attempt.hotp_window, max_hotp_counter);
                record.pending_hotp = PendingHotp{hotp_code_tag(t.entry->key, code.view()), last};
                continue;
            }
            codes += 2 * attempt.window + 1;
            const std::time_t centre = shifted(now, clock_offset(*t.entry, record));
            const std::time_t until = window_end(centre, t.entry->params.period, attempt.window);
            record.pending_until = std::max(record.pending_until.value_or(0), until);
        }
    } else if (attempt.shape == AnswerShape::recovery) {
        auto canonical = normalise_recovery_code(code.view());
        if (canonical) {
            attempt.tag = recovery_tag(m_secret->recovery_key(), canonical.value());
            attempt.canonical = std::move(canonical).value();
            tx.token(m_recovery_id).pending_recovery = attempt.tag;
        }
    }
    // Each code compared is a chance to hit: the long limit counts them
    // (rate_limit.h), also for an attempt that dies before its settling.
    attempt.weight = guess_weight(codes);
    tx.account().charge_weight = attempt.weight;
    m_own_pending.clear();
    for (const TokenId& id : locked_ids()) {
        const TokenRecord& record = tx.token(id);
        m_own_pending.push_back(OwnPending{id, record.pending_until, record.pending_hotp, record.pending_recovery});
    }
    if (Status st = tx.save(Durability::durable); !st) {
        m_store_unavailable = st.error().code == Errc::unavailable;
        m_claim_conflict = st.error().code == Errc::conflict;
        if (m_claim_conflict && may_retry) {
            debug("charging again: " + st.error().message);
            return false;
        }
        set_audit(m_store_unavailable ? "store_unavailable" : "error");
        log(LogLevel::err, "cannot record the attempt in " + store_name() +
                               " before checking it: " + st.error().message + "; denying (the answer was not checked)");
        return false;
    }
    return true;
}

Outcome Login::evaluate(StateTransaction& tx, const Attempt& attempt, const SecureBuffer& code, std::time_t now) {
    switch (attempt.shape) {
        case AnswerShape::totp:
            return evaluate_code(tx, attempt, code, now);
        case AnswerShape::recovery:
            return evaluate_recovery(tx, attempt);
        case AnswerShape::other:
            break;
    }
    Outcome out;
    if (m_opts.no_recovery && looks_like_recovery_code(code.view())) {
        out.what = "recovery code refused (no_recovery)";
    }
    return out;
}

// A code-shaped answer only ever reaches the HMAC, never the slow hash. Each
// token is tried in the file's order; the first that matches takes it.
Outcome Login::evaluate_code(StateTransaction& tx, const Attempt& attempt, const SecureBuffer& code, std::time_t now) {
    Outcome out;
    for (const TokenRef& t : m_tokens) {
        const TokenEntry& entry = *t.entry;
        const TokenRecord& record = tx.token(t.id);
        if (code.size() != entry.params.digits) {
            continue;
        }
        // One secret, one kind: a TOTP code of step T is the HOTP code of
        // counter T, so a record used one way refuses the other (a secret
        // turned from TOTP into HOTP would otherwise accept its used codes).
        if (entry.type == TokenType::hotp ? record.used_until > 0 : record.hotp_next.has_value()) {
            log(LogLevel::err, "the secret of token " + entry.name + " was used as a " +
                                   (entry.type == TokenType::hotp ? "TOTP" : "HOTP") +
                                   " token before; refusing its codes (enroll a new key for it)");
            continue;
        }
        if (entry.type == TokenType::hotp) {
            auto verdict = hotp_verify(entry.key, entry.params.digits, code.view(), hotp_start(entry, record),
                                       attempt.hotp_window);
            if (!verdict) {
                // Counted as a wrong code: no error may be a free guess.
                log(LogLevel::err, "cannot verify the code of token " + entry.name + ": " + verdict.error().message);
                continue;
            }
            if (verdict.value().outcome == HotpOutcome::accepted) {
                out.accepted = true;
                out.what = "code accepted";
                out.audit = "accepted";
                out.token = t.id;
                out.token_name = entry.name;
                out.counter = verdict.value().counter;
                return out;
            }
            if (verdict.value().outcome == HotpOutcome::replayed) {
                out.what = "code already used (replay refused)";
                out.audit = "replayed";
                out.token_name = entry.name;
                out.hint = "That code was already used. Press the token's button for a new one.";
            }
            continue;
        }
        const long offset = clock_offset(entry, record);
        const std::time_t used_until = std::max(record.used_until, entry.confirmed_until);
        auto verdict =
            totp_verify(entry.key, entry.params, code.view(), shifted(now, offset), attempt.window, used_until);
        if (!verdict) {
            log(LogLevel::err, "cannot verify the code of token " + entry.name + ": " + verdict.error().message);
            continue;
        }
        if (verdict.value().outcome == TotpOutcome::accepted) {
            out.accepted = true;
            out.what = "code accepted";
            out.audit = "accepted";
            out.token = t.id;
            out.token_name = entry.name;
            out.used_until = step_end(verdict.value().step, entry.params.period);
            // Off-centre: the next window is centred where this code was
            // (bounded, and no wider: core/otp/totp.h).
            const std::uint64_t centre = time_step(shifted(now, offset), entry.params.period);
            if (verdict.value().step != centre) {
                out.drift = Drift{recentred_offset(offset, verdict.value().step, centre, entry.params.period),
                                  entry.offset, entry.confirmed_until};
            }
            return out;
        }
        if (verdict.value().outcome == TotpOutcome::replayed) {
            out.what = "code already used (replay refused)";
            out.audit = "replayed";
            out.token_name = entry.name;
            out.hint = "That code was already used. Wait for the next code from your app.";
        }
    }
    return out;
}

Outcome Login::evaluate_recovery(StateTransaction& tx, const Attempt& attempt) {
    Outcome out;
    out.what = "wrong or used recovery code";
    if (!attempt.canonical || !attempt.tag) {
        return out;
    }
    const TokenRecord& record = tx.token(m_recovery_id);
    if (recovery_used(record, *attempt.tag)) {
        return out;  // no hashing for a code already used
    }
    auto index = find_recovery_code(*attempt.canonical, m_secret->recovery_hashes, used_settings(record));
    if (!index) {
        // Counted as a wrong code: no error may be a free guess.
        log(LogLevel::err, "cannot check the recovery code: " + index.error().message);
        return out;
    }
    if (index.value() >= 0) {
        out.accepted = true;
        out.recovery = true;
        out.what = "recovery code accepted";
        out.audit = "recovery";
        out.token = m_recovery_id;
        out.setting = recovery_code_setting(m_secret->recovery_hashes[static_cast<std::size_t>(index.value())]);
    }
    return out;
}

// Turns the charge into the outcome: the token's record moves on, or the
// wrong code is counted. Written without waiting for the disk: should it be
// lost, the durable charge counts as a wrong code and the pending record
// blocks what the answer could have used (strict, never loose).
Settled Login::settle(StateTransaction& tx, const Attempt& attempt, const Outcome& outcome, std::time_t now) {
    for (const TokenId& id : locked_ids()) {
        TokenRecord& record = tx.token(id);
        record.pending_until.reset();
        record.pending_hotp.reset();
        record.pending_recovery.reset();
    }
    AccountRecord& account = tx.account();
    account.charge.reset();
    account.charge_weight = 1;
    Settled settled;
    if (outcome.accepted) {
        settled.wrong_before = account.budget.since_success;
        TokenRecord& record = tx.token(*outcome.token);
        const auto matched =
            std::find_if(m_tokens.begin(), m_tokens.end(), [&](const TokenRef& t) { return t.id == *outcome.token; });
        if (outcome.recovery) {
            remember_used_recovery(record, UsedRecovery{attempt.tag, outcome.setting});
        } else if (matched != m_tokens.end() && matched->entry->type == TokenType::hotp) {
            // RFC 4226 section 7.2: past the accepted value only.
            record.hotp_next = std::max(record.hotp_next.value_or(0), outcome.counter + 1);
        } else {
            record.used_until = std::max(record.used_until, outcome.used_until);
            if (outcome.drift) {
                record.drift = outcome.drift;
            }
        }
        record_success(account.budget);
        const LoginContext where = m_io.context();
        account.last_login = LastLogin{now, where.service, where.rhost, where.tty};
        if (m_opts.grace_period > 0) {
            if (const auto here = place()) {
                remember_grace(account, *here, now);
            }
        }
    } else {
        settled.locked_now = record_failure(account.budget, m_opts.rate, now, attempt.weight);
    }
    if (Status st = tx.save(Durability::relaxed); !st) {
        log(LogLevel::warning, "cannot settle the attempt in " + store_name() + ": " + st.error().message +
                                   " (it stays charged: the next login counts it)");
    }
    return settled;
}

// An HOTP attempt that died unsettled: the counter moves past the one its
// code matched, found by the code's tag (records.h), exactly as settling
// it would have; a code that matched none used nothing. False when there
// was nothing to settle.
bool Login::settle_stale_hotp(StateTransaction& tx) {
    bool any = false;
    for (const TokenRef& t : m_tokens) {
        TokenRecord& record = tx.token(t.id);
        if (!record.pending_hotp || t.entry->type != TokenType::hotp) {
            continue;
        }
        any = true;
        const std::uint64_t start = hotp_start(*t.entry, record);
        const PendingHotp pending = *record.pending_hotp;
        record.pending_hotp.reset();
        if (pending.last < start) {
            continue;  // every counter it could match is behind already
        }
        auto found = hotp_find_tagged(t.entry->key, t.entry->params.digits, pending.tag, start,
                                      std::min(pending.last, start + max_hotp_resync));
        if (!found) {
            // Strict: every counter it could have matched is used.
            log(LogLevel::err, "cannot settle an HOTP attempt of token " + t.entry->name + ": " +
                                   found.error().message + "; skipping the counters it could have used");
            record.hotp_next = std::min(pending.last + 1, max_hotp_counter);
        } else if (found.value()) {
            record.hotp_next = std::min(*found.value() + 1, max_hotp_counter);
        }
    }
    return any;
}

// The log line and what the user is told.
void Login::report(StateTransaction& tx, const Outcome& outcome, const Settled& settled, std::time_t now) {
    set_audit(outcome.audit);  // "locked" is for a login refused unchecked
    m_audit_token = outcome.token_name;
    m_audit_failures = tx.account().budget.since_success;
    const std::string token = outcome.token_name.empty() ? std::string() : " (token " + outcome.token_name + ")";
    if (outcome.accepted) {
        log(LogLevel::info, outcome.what + token);
        // As pam_faillock does: wrong codes the user did not type are the
        // sign of someone holding the password.
        if (settled.wrong_before > 0) {
            m_io.tell("There " + std::string(settled.wrong_before == 1 ? "was " : "were ") +
                          plural(settled.wrong_before, "wrong code") + " since your last successful login.",
                      false);
        }
        if (outcome.recovery) {
            const std::size_t left = recovery_codes_left(tx.token(m_recovery_id), m_secret->recovery_hashes);
            std::string msg = "Recovery code accepted; " + plural(left, "recovery code") + " left.";
            if (left <= 3) {
                msg += " Run totp-enroll --new-recovery-codes to get new ones.";
            }
            m_io.tell(msg, false);
        }
        return;
    }
    const Budget& budget = tx.account().budget;
    if (settled.locked_now) {
        const std::time_t left = lock_remaining(budget, now);
        log(LogLevel::warning, outcome.what + token + "; too many wrong codes: code entry locked for " +
                                   std::to_string(left) + " seconds (lockout " + std::to_string(budget.lockouts) +
                                   " in a row)");
        if (!m_opts.forward_pass) {
            m_io.tell("Too many wrong codes. Code entry is locked for " + duration_words(left) + ".", true);
        }
        return;
    }
    log(LogLevel::notice, outcome.what + token + " (" + std::to_string(recent_failures(budget, m_opts.rate, now)) +
                              " of " + std::to_string(m_opts.rate.deny) + " wrong codes within " +
                              std::to_string(m_opts.rate.fail_interval) + " s; long-run debt " +
                              std::to_string(debt(budget, now)) + " of " + std::to_string(debt_allowance(m_opts.rate)) +
                              " s)");
    if (!outcome.hint.empty()) {
        m_io.tell(outcome.hint, true);
    }
}

// Checks one answer under the state lock; charged before it is looked at,
// settled after.
Verdict Login::check(const SecureBuffer& code) {
    // Two rounds at most: the second only when another account's login
    // sharing the secret claimed its record at the same moment (the first
    // login of a new key on both), which the next round finds.
    for (int round = 0; round < 2; ++round) {
        const auto tx = lock_state();
        if (tx == nullptr) {
            return m_store_unavailable ? Verdict::unavailable : Verdict::error;
        }
        // From here to the settling nothing the caller sends or sets (signals,
        // the file-size limit) may cut the login short between two writes.
        const CriticalSection critical;
        const std::time_t now = m_io.now();
        if (round > 0 && tx->account().charge == m_own_charge) {
            // This login's own charge of the round before: charged again below,
            // not counted twice; and what it wrote on the tokens whose records
            // were written (a save that loses a claim race writes the
            // account's state, and the states it holds, before it fails), not
            // settled as an earlier login's would be: that would use up the
            // very code this round checks. (Another login's, should one have
            // come in between, is settled and counted as any other.)
            tx->account().charge.reset();
            for (const OwnPending& own : m_own_pending) {
                TokenRecord& record = tx->token(own.id);
                if (own.until && record.pending_until == own.until) {
                    record.pending_until.reset();
                }
                if (own.hotp && record.pending_hotp == own.hotp) {
                    record.pending_hotp.reset();
                }
                if (own.recovery && record.pending_recovery == own.recovery) {
                    record.pending_recovery.reset();
                }
            }
        }
        bool stale = settle_stale_charge(tx->account(), m_opts.rate);
        stale = settle_stale_hotp(*tx) || stale;
        for (const TokenId& id : locked_ids()) {
            stale = settle_stale_pending(tx->token(id)) || stale;
        }
        if (stale) {
            log(LogLevel::notice,
                "an earlier login was cut short after its answer was charged; counted as a wrong code");
        }
        if (tx->fresh()) {
            if (!carry_over_legacy(*tx)) {
                return Verdict::error;
            }
        } else if (round > 0) {
            carry_over_legacy_codes(*tx);
        }
        if (refuse_if_locked(*tx, now)) {
            if (Status st = tx->save(Durability::relaxed); !st) {
                log(LogLevel::warning, "cannot write the state: " + st.error().message);
            }
            return Verdict::locked;
        }
        Attempt attempt;
        if (!charge(*tx, code, now, attempt, round == 0)) {
            if (m_claim_conflict && round == 0) {
                continue;
            }
            return m_store_unavailable ? Verdict::unavailable : Verdict::error;
        }
        const Outcome outcome = evaluate(*tx, attempt, code, now);
        const Settled settled = settle(*tx, attempt, outcome, now);
        report(*tx, outcome, settled, now);
        return outcome.accepted ? Verdict::accepted : Verdict::rejected;
    }
    return Verdict::error;
}

// Checks an answer; on success hands the password part on as PAM_AUTHTOK.
bool Login::accept(const Answer& answer) {
    if (!m_secret || check(answer.code) != Verdict::accepted) {
        return false;
    }
    if (answer.password && !answer.password->empty()) {
        if (Status st = m_io.set_authtok(*answer.password); !st) {
            log(LogLevel::err, "cannot pass the password on: " + st.error().message + "; denying");
            return false;
        }
    }
    return true;
}

// A denial because a shared store could not be used is told apart, so that
// the module answers PAM_AUTHINFO_UNAVAIL (pam_totp(8), FLEET).
LoginOutcome Login::run() {
    LoginOutcome outcome = run_steps();
    if (outcome == LoginOutcome::denied && m_store_unavailable) {
        outcome = LoginOutcome::unavailable;
    }
    audit_line(outcome);
    return outcome;
}

// One line per login with stable key=value fields (pam_totp(8), LOGGING),
// for fail2ban and log analysis. The fields come first, right after the
// "pam_totp(SERVICE:auth): " pam_syslog puts before it, and every value is
// one printable word (sanitise_item: no spaces), so nothing a client
// chooses (a user name, a host name) can pose as another field.
void Login::audit_line(LoginOutcome result) {
    std::string outcome = m_audit;
    LogLevel level = LogLevel::notice;
    switch (result) {
        case LoginOutcome::success:
            level = LogLevel::info;
            if (outcome != "grace" && outcome != "recovery") {
                outcome = "accepted";
            }
            break;
        case LoginOutcome::ignore:
            level = LogLevel::info;
            outcome = m_secret ? "deferred" : "ignored";
            break;
        case LoginOutcome::unavailable:
            level = LogLevel::err;
            outcome = "store_unavailable";
            break;
        case LoginOutcome::denied:
            if (outcome == "accepted" || outcome == "recovery" || outcome == "grace") {
                outcome = "error";  // accepted, then refused (the password could not be handed on)
            }
            if (outcome == "error" || outcome == "refused_file" || outcome == "store_unavailable") {
                level = LogLevel::err;
            }
            break;
    }
    const LoginContext where = m_io.context();
    std::string line = "outcome=" + outcome + " user=" + sanitise_item(m_user.value_or("")) +
                       " service=" + sanitise_item(where.service) + " rhost=" + sanitise_item(where.rhost) +
                       " tty=" + sanitise_item(where.tty) + " token=" + sanitise_item(m_audit_token);
    if (m_audit_failures) {
        line += " failures=" + std::to_string(*m_audit_failures) + " deny=" + std::to_string(m_opts.rate.deny);
    }
    m_io.log(level, line);
}

LoginOutcome Login::run_steps() {
    LoginOutcome outcome = LoginOutcome::denied;  // the one way out is a checked, recorded code
    const SecretLookup found = locate_secret();
    if (found == SecretLookup::missing) {
        if (m_opts.nullok) {
            debug("no secret file; nullok: ignoring this module");
            if (m_opts.forward_pass && m_opts.defer) {
                return collect_for_later(false);  // the password still goes on
            }
            return LoginOutcome::ignore;
        }
        set_audit("not_enrolled");
        log(LogLevel::notice, "no secret file (not enrolled; run totp-enroll); denying");
    }
    if (m_opts.forward_pass && m_opts.defer) {
        return collect_for_later(true);
    }
    // The code kept by a forward_pass defer line: the password module
    // between the two lines took the password, so this attempt counts.
    if (auto kept = m_io.take_deferred_code()) {
        debug("checking the code kept by the forward_pass defer line");
        return m_secret && accept(Answer{std::move(*kept), std::nullopt}) ? LoginOutcome::success : outcome;
    }
    // A lockout is told before the prompt, except with forward_pass, where
    // the password is asked together with the code and not checked yet.
    if (m_secret && !m_opts.forward_pass) {
        const BeforePrompt next = before_prompt();
        if (next == BeforePrompt::grace) {
            return LoginOutcome::success;
        }
        if (next == BeforePrompt::stop) {
            return outcome;
        }
    }
    if (m_opts.first_pass != FirstPass::none) {
        if (auto answer = authtok_answer()) {
            if (m_secret && accept(*answer)) {
                return LoginOutcome::success;
            }
            // No prompt when the store cannot be used: that answer could
            // not be checked either.
            if (m_opts.first_pass == FirstPass::use || m_store_unavailable) {
                return outcome;
            }
        } else if (m_opts.first_pass == FirstPass::use) {
            log(LogLevel::notice, "use_first_pass: no code in the previous password; denying");
            return outcome;
        }
    }
    const std::optional<Answer> answer = ask_answer();
    if (answer && m_secret && accept(*answer)) {
        outcome = LoginOutcome::success;
    }
    // Without a secret the user was asked only so that the reply reveals
    // nothing; the reason is logged.
    return outcome;
}

}  // namespace

LoginOutcome run_login(LoginIo& io, const ModuleOptions& opts, StateStore& store) {
    Login login(io, opts, store);
    return login.run();
}

}  // namespace pam_totp
