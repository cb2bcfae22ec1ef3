#include "core/login/login_flow.h"

#include <algorithm>
#include <memory>
#include <string>

#include "core/files/kv_format.h"
#include "core/files/path_template.h"
#include "core/otp/rate_limit.h"
#include "core/otp/recovery.h"
#include "core/files/secret_file.h"
#include "core/store/state_key.h"
#include "core/otp/totp.h"

namespace pam_totp {
namespace {

// Longer answers are not looked at: no code or password+code is this long.
constexpr std::size_t max_answer = 1024;
// A recovery code as printed, "XXXX-XXXX-XXXX", when it ends a password.
constexpr std::size_t printed_recovery_length = recovery_code_chars + 2;

bool all_digits(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string who(const std::optional<Account>& acct, const std::optional<std::string>& user) {
    if (acct) {
        return "user " + acct->name;
    }
    return user ? "user " + *user : std::string("unknown user");
}

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

// What the user typed, split into the code and (with forward_pass or a
// PAM_AUTHTOK carrying password+code) the password in front of it.
struct Answer {
    SecureBuffer code;
    std::optional<SecureBuffer> password;
};

// Plain prompt: the whole answer is the code.
Answer whole_answer(SecureBuffer typed) {
    return Answer{std::move(typed), std::nullopt};
}

// password+code: the last `digits` characters when they are digits, else a
// printed recovery code at the end, else (a bare recovery code) the whole.
std::optional<Answer> split_answer(const SecureBuffer& typed, unsigned digits, bool allow_recovery) {
    const std::string_view text = typed.view();
    if (text.size() >= digits && all_digits(text.substr(text.size() - digits))) {
        const std::size_t cut = text.size() - digits;
        return Answer{SecureBuffer(text.substr(cut)), SecureBuffer(text.substr(0, cut))};
    }
    if (allow_recovery && text.size() >= printed_recovery_length) {
        const std::size_t cut = text.size() - printed_recovery_length;
        const std::string_view tail = text.substr(cut);
        if (tail[4] == '-' && tail[9] == '-' && looks_like_recovery_code(tail)) {
            return Answer{SecureBuffer(tail), SecureBuffer(text.substr(0, cut))};
        }
    }
    if (allow_recovery && looks_like_recovery_code(text)) {
        return Answer{typed.clone(), std::nullopt};
    }
    return std::nullopt;
}

class Login {
  public:
    Login(LoginIo& io, const ModuleOptions& opts, StateStore& store) : m_io(io), m_opts(opts), m_store(store) {}

    LoginOutcome run();

  private:
    enum class Check { accepted, rejected, locked, error };

    bool load_secret();
    bool load_root_controlled_secret();
    bool load_account_secret();
    bool look_up_account();
    bool outside_home(const std::string& path, bool home_file);
    bool take_over_uid_state(UserState& state);
    void parse_secret(const std::string& path, const SecureBuffer& text);
    std::unique_ptr<StateTransaction> begin_state();
    bool locked_out(const UserState& state, std::time_t now);
    bool precheck_lockout();
    Check check(const SecureBuffer& code);
    bool accept(const Answer& answer);

    void log(LogLevel level, const std::string& msg) { m_io.log(level, who(m_acct, m_user) + ": " + msg); }
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
    std::string m_state_key;  // state_key.h: by name or by uid, set with m_secret
    bool m_keyed_by_name = false;
    std::string m_fast_refusal;  // why the lookup-free read refused the file, if it did
};

// Reads and parses the secret file. False only when there is no file (which
// nullok forgives); every other problem leaves m_secret empty, so the login
// is denied after the prompt and nothing in the reply tells enrolled users
// apart.
bool Login::load_secret() {
    m_user = m_io.user();
    if (!m_user) {
        log(LogLevel::notice, "no valid user name; denying");
        return true;
    }
    m_keyed_by_name = template_names_own_file(m_opts.secret);
    if (m_keyed_by_name && load_root_controlled_secret()) {
        return true;
    }
    return load_account_secret();
}

// First, without looking the account up: the name's own file, when only
// root controls it (state_key.h), read as root. False when there is none
// such (no file by this spelling, a file the user owns, a second link...):
// the account's way then looks, and says what is wrong. The state is keyed
// by the name either way, so the way a file is read never splits it.
bool Login::load_root_controlled_secret() {
    const auto path = expand_path_template(m_opts.secret, *m_user, "");
    if (!path) {
        return false;
    }
    const auto text = m_io.read_secret(path.value(), root_controlled_secret_rules(), false);
    if (!text) {
        if (text.error().code != Errc::not_found) {
            m_fast_refusal = text.error().message;  // said if the account's way finds no account
        }
        return false;
    }
    m_state_key = state_key_for_name(*m_user);
    parse_secret(path.value(), text.value());
    return true;
}

// With the account: the home for ~ and %h, the database's spelling of the
// name for %u, and the uid to check the owner by (and to key the state by).
bool Login::load_account_secret() {
    if (!look_up_account()) {
        return true;
    }
    if (!m_acct) {
        log(LogLevel::notice, "no such account" +
                                  (m_fast_refusal.empty() ? std::string() : " (and " + m_fast_refusal + ")") +
                                  "; denying");
        return true;
    }
    auto path = expand_path_template(m_opts.secret, m_acct->name, m_acct->home);
    if (!path) {
        log(LogLevel::err, "cannot build the secret file path: " + path.error().message);
        return true;
    }
    // A file in the home is the user's: read with the user's identity and
    // owned by the user. Any other is central: read as root, owned by the
    // user or root, in directories only root controls.
    const bool home_file = is_home_file(m_opts.secret, path.value(), m_acct->home);
    FileRules rules{m_acct->uid, !home_file || m_acct->uid == 0, max_file_size};
    rules.root_owned_dirs = !home_file;
    if (m_keyed_by_name) {
        rules = name_keyed_rules(rules);
    }
    auto text = m_io.read_secret(path.value(), rules, home_file);
    if (!text) {
        if (text.error().code == Errc::not_found) {
            return false;
        }
        log(LogLevel::err, "refusing secret file: " + text.error().message);
        return true;
    }
    if (m_keyed_by_name && !outside_home(path.value(), home_file)) {
        return true;
    }
    m_state_key = m_keyed_by_name ? state_key_for_name(m_acct->name) : state_key_for_uid(m_acct->uid);
    parse_secret(path.value(), text.value());
    return true;
}

// A name-keyed file in the home: ~/.pam_totp (another service's, say) would
// key the same file by uid, two states for one file and one code usable
// twice. Files in the home are named with ~ or %h. "In the home" by the
// path's text, or by the home directory's identity on the way (a bind
// mount or a symlinked parent spells it differently). True when the file
// is outside the home; false (logged) when it is in it or that cannot be
// told: denied.
bool Login::outside_home(const std::string& path, bool home_file) {
    bool in_home = home_file;
    if (!in_home) {
        auto on_path = directory_on_path(path, m_acct->home);
        if (!on_path) {
            log(LogLevel::err, "cannot tell whether secret file " + path +
                                   " is in the home directory: " + on_path.error().message + "; denying");
            return false;
        }
        in_home = on_path.value();
    }
    if (in_home) {
        log(LogLevel::err, "refusing secret file " + path +
                               ": it is in the home directory, which a secret= with %u must not name (a"
                               " ~/.pam_totp elsewhere would keep its state apart); name it with ~ or %h");
        return false;
    }
    return true;
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

// Sets m_secret, or logs why the file is refused (the login is then denied).
void Login::parse_secret(const std::string& path, const SecureBuffer& text) {
    auto parsed = parse_secret_file(text.view());
    if (!parsed) {
        log(LogLevel::err, "malformed secret file " + path + ": " + parsed.error().message);
        return;
    }
    m_secret = std::move(parsed).value();
    debug("secret file " + path + " read");
}

// Locks and reads the state of the secret file, bound to the current
// enrollment. Keyed as state_key.h says: by name when the template gives
// each name its own file, else by uid, so that names sharing a uid (root
// and toor, a local user shadowing a directory one) and so one ~/.pam_totp
// share one replay record and one guessing budget.
std::unique_ptr<StateTransaction> Login::begin_state() {
    auto tx = m_store.begin(m_state_key);
    if (!tx) {
        log(LogLevel::err, "cannot use the state in " + m_opts.state_dir + ": " + tx.error().message +
                               "; denying (replay protection cannot be skipped)");
        return nullptr;
    }
    UserState& state = tx.value()->state();
    if (m_keyed_by_name && state.enrollment_id.empty() && !take_over_uid_state(state)) {
        return nullptr;
    }
    rebind_user_state(state, m_secret->enrollment_id);
    // Ids of codes no longer in the file (replaced by --new-recovery-codes)
    // are forgotten, so the list stays as short as the file's codes.
    std::vector<std::string> live;
    for (const auto& h : m_secret->recovery_hashes) {
        live.push_back(recovery_code_id(h));
    }
    std::erase_if(state.used_recovery,
                  [&live](const std::string& id) { return std::find(live.begin(), live.end(), id) == live.end(); });
    return std::move(tx).value();
}

// A name key's first state starts from the uid's, when there is one: an
// earlier pam_totp kept every file's state by uid, and the used recovery
// codes, last step and lockout it recorded must carry over. Taken under
// both locks (name, then uid: nothing takes them the other way round). At
// worst the uid's state was another file's: a stricter start (its lockout
// and tally), never a looser one. False (logged) when the account or the
// uid's state cannot be read: denied, nothing committed.
bool Login::take_over_uid_state(UserState& state) {
    if (!look_up_account()) {
        return false;
    }
    if (!m_acct) {
        return true;  // the database says there is no such account: no uid state
    }
    const std::string uid_key = state_key_for_uid(m_acct->uid);
    auto old = m_store.begin(uid_key);
    if (!old) {
        log(LogLevel::err, "cannot read the state kept by uid in " + m_opts.state_dir +
                               " to carry it over: " + old.error().message + "; denying");
        return false;
    }
    if (!old.value()->state().enrollment_id.empty()) {
        state = old.value()->state();
        debug("state carried over from " + uid_key + " to " + m_state_key);
    }
    return true;
}

// True (and the user told, and it logged) while code entry is locked.
bool Login::locked_out(const UserState& state, std::time_t now) {
    if (!is_locked(state, now)) {
        return false;
    }
    const std::time_t left = lock_remaining(state, now);
    log(LogLevel::notice, "code entry locked for " + std::to_string(left) + " more seconds; denying");
    m_io.tell("Too many wrong codes. Code entry is locked for " + duration_words(left) + "; try again later.", true);
    return true;
}

// Before prompting: a locked-out user is told so and not asked for a code.
// Returns false when the login must stop here.
bool Login::precheck_lockout() {
    const auto tx = begin_state();
    return tx != nullptr && !locked_out(tx->state(), m_io.now());
}

// Checks one code under the state lock and records the outcome durably.
Login::Check Login::check(const SecureBuffer& code) {
    const auto tx = begin_state();
    if (tx == nullptr) {
        return Check::error;
    }
    StateTransaction& t = *tx;
    UserState& state = t.state();
    const std::time_t now = m_io.now();
    if (locked_out(state, now)) {
        return Check::locked;
    }

    const SecretFile& secret = *m_secret;
    const std::string_view typed = code.view();
    bool accepted = false;
    std::string what = "wrong code";
    std::string user_hint;
    std::optional<std::size_t> recovery_left;

    if (typed.size() == secret.params.digits && all_digits(typed)) {
        // A TOTP-shaped answer only ever reaches the HMAC, never the slow hash.
        const unsigned window = m_opts.window.value_or(secret.window.value_or(default_window));
        auto verdict = totp_verify(secret.key, secret.params, typed, now, window, state.last_step);
        if (!verdict) {
            // Counted as a wrong code below: no error may be a free guess.
            log(LogLevel::err, "cannot verify the code: " + verdict.error().message);
        } else if (verdict.value().outcome == TotpOutcome::accepted) {
            state.last_step = verdict.value().step;
            accepted = true;
            what = "code accepted";
        } else if (verdict.value().outcome == TotpOutcome::replayed) {
            what = "code already used (replay refused)";
            user_hint = "That code was already used. Wait for the next code from your app.";
        }
    } else if (!m_opts.no_recovery && looks_like_recovery_code(typed)) {
        auto canonical = normalise_recovery_code(typed);
        if (canonical) {
            auto idx = find_recovery_code(canonical.value(), secret.recovery_hashes, state.used_recovery);
            if (!idx) {
                // Counted as a wrong code below: no error may be a free guess.
                log(LogLevel::err, "cannot check the recovery code: " + idx.error().message);
            } else if (idx.value() >= 0) {
                state.used_recovery.push_back(
                    recovery_code_id(secret.recovery_hashes[static_cast<std::size_t>(idx.value())]));
                accepted = true;
                what = "recovery code accepted";
                // begin_state() kept only ids of codes in the file, so this is exact.
                recovery_left =
                    secret.recovery_hashes.size() - std::min(secret.recovery_hashes.size(), state.used_recovery.size());
            } else {
                what = "wrong or used recovery code";
            }
        }
    } else if (m_opts.no_recovery && looks_like_recovery_code(typed)) {
        what = "recovery code refused (no_recovery)";
    }

    if (accepted) {
        record_success(state);
        if (Status st = t.commit(); !st) {
            // Not recorded means it could be used again: deny.
            log(LogLevel::err,
                "cannot record the login in " + m_opts.state_dir + ": " + st.error().message + "; denying");
            return Check::error;
        }
        log(LogLevel::info, what);
        if (recovery_left) {
            std::string msg = "Recovery code accepted; " + plural(*recovery_left, "recovery code") + " left.";
            if (*recovery_left <= 3) {
                msg += " Run totp-enroll --new-recovery-codes to get new ones.";
            }
            m_io.tell(msg, false);
        }
        return Check::accepted;
    }

    const bool locked_now = record_failure(state, m_opts.rate, now);
    if (Status st = t.commit(); !st) {
        log(LogLevel::err, "cannot record the failed attempt in " + m_opts.state_dir + ": " + st.error().message);
    }
    log(LogLevel::notice, what + " (" + std::to_string(state.failures.size()) + " of " +
                              std::to_string(m_opts.rate.deny) + " failures within " +
                              std::to_string(m_opts.rate.fail_interval) + " s)");
    if (locked_now) {
        const std::time_t left = lock_remaining(state, now);
        log(LogLevel::warning, "too many wrong codes: code entry locked for " + std::to_string(left) +
                                   " seconds (lockout " + std::to_string(state.lockouts) + " in a row)");
        m_io.tell("Too many wrong codes. Code entry is locked for " + duration_words(left) + ".", true);
    } else if (!user_hint.empty()) {
        m_io.tell(user_hint, true);
    }
    return Check::rejected;
}

// Checks an answer; on success hands the password part on as PAM_AUTHTOK.
bool Login::accept(const Answer& answer) {
    if (!m_secret) {
        return false;
    }
    if (check(answer.code) != Check::accepted) {
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

LoginOutcome Login::run() {
    LoginOutcome outcome = LoginOutcome::denied;  // the one way out is a checked, recorded code
    if (!load_secret()) {
        if (m_opts.nullok) {
            debug("no secret file; nullok: ignoring this module");
            return LoginOutcome::ignore;
        }
        log(LogLevel::notice, "no secret file (not enrolled; run totp-enroll); denying");
    }
    if (m_secret && !precheck_lockout()) {
        return outcome;
    }
    const unsigned digits = m_secret ? m_secret->params.digits : 6;
    const bool allow_recovery = !m_opts.no_recovery;

    // try_first_pass / use_first_pass: an earlier module's answer may carry the code.
    if (m_opts.first_pass != FirstPass::none) {
        if (auto tok = m_io.authtok(); tok && !tok->empty() && tok->size() <= max_answer) {
            if (auto answer = split_answer(*tok, digits, allow_recovery)) {
                if (accept(*answer)) {
                    outcome = LoginOutcome::success;
                }
                if (outcome == LoginOutcome::success || m_opts.first_pass == FirstPass::use) {
                    return outcome;
                }
            }
        }
        if (m_opts.first_pass == FirstPass::use) {
            log(LogLevel::notice, "use_first_pass: no code in the previous password; denying");
            return outcome;
        }
    }

    const std::string prompt = m_opts.forward_pass ? "Password & verification code: " : m_opts.prompt;
    auto typed = m_io.ask(prompt, m_opts.echo_code && !m_opts.forward_pass);
    if (!typed) {
        log(LogLevel::err, "conversation failed: " + typed.error().message + "; denying");
        return outcome;
    }
    if (typed.value().size() > max_answer) {
        log(LogLevel::notice, "answer longer than " + std::to_string(max_answer) + " bytes; denying");
        return outcome;
    }
    std::optional<Answer> answer;
    if (m_opts.forward_pass) {
        answer = split_answer(typed.value(), digits, allow_recovery);
        if (!answer) {
            answer = whole_answer(std::move(typed).value());  // counted as a wrong code below
        }
    } else {
        answer = whole_answer(std::move(typed).value());
    }
    if (!m_secret) {
        return outcome;  // asked only so that the reply reveals nothing; the reason is logged
    }
    if (accept(*answer)) {
        outcome = LoginOutcome::success;
    }
    return outcome;
}

}  // namespace

LoginOutcome run_login(LoginIo& io, const ModuleOptions& opts, StateStore& store) {
    Login login(io, opts, store);
    return login.run();
}

}  // namespace pam_totp
