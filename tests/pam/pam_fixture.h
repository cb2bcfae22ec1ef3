// The test fixture for tests/pam: a private temp tree (service files,
// secrets, state), enrollments written with core's own serialiser (one
// TOTP token, format 1; or several named TOTP and HOTP tokens, format 2),
// and one login through the real libpam (pam_start_confdir) with a
// scripted conversation that records every prompt and message.
//
// Every test binary uses it through cmocka setup/teardown (pamtest::setup,
// pamtest::teardown), so the tree, created users and forked children are
// removed even when an assertion fails and longjmps out of the test.
//
// pamtest::init (first thing in main) gives the binary a private mount
// namespace whose /dev has a /dev/log of its own, so that every binary of
// `make -j2 check-pam` captures its module's log lines, and re-executes it
// with the time shim (build/timeshim.so, $TIME_SHIM) preloaded: tests about
// time move a simulated clock (Fixture::advance_clock) instead of sleeping.
#pragma once

#include <security/pam_appl.h>
#include <sys/types.h>
#include <syslog.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/files/secret_file.h"
#include "core/otp/totp.h"
#include "core/store/records.h"
#include "core/store/state_format.h"
#include "core/util/secure_buffer.h"

namespace pamtest {

struct Enrollment {
    std::string user;
    std::string path;  // the secret file
    uid_t owner = 0;
    gid_t group = 0;
    pam_totp::SecureBuffer key;
    pam_totp::TotpParams params;
    std::string enrollment_id;
    std::vector<std::string> recovery_codes;   // as printed, "XXXX-XXXX-XXXX" (or 8 digits)
    std::vector<std::string> recovery_hashes;  // as written, in the same order
};

// What to write as a secret file (Fixture::enroll); set the fields that
// differ from a fresh enrollment.
struct EnrollSpec {
    std::string user;
    std::string path;  // default: secrets/USER
    uid_t owner = 0;
    gid_t group = 0;
    pam_totp::TotpParams params{};
    std::size_t recovery = 2;               // fresh codes, when `codes` is empty
    std::vector<std::string> codes;         // these codes instead, hashed with fresh salts
    const Enrollment* key_of = nullptr;     // this enrollment's key instead of a new one
    std::time_t confirmed = 0;              // the secret file's `confirmed` (0: none)
    std::vector<std::string> raw_recovery;  // `recovery` lines written as they are (after the hashes)
};

// One token of a format 2 secret file (Fixture::enroll_tokens).
struct TokenSpec {
    std::string name;
    pam_totp::TokenType type = pam_totp::TokenType::totp;
    pam_totp::TotpParams params{};  // hotp: the digits (the algorithm is SHA-1, RFC 4226)
    long offset = 0;                // totp: the file's `offset` (what totp-enroll --resync writes)
    std::uint64_t counter = 0;      // hotp: the file's `counter`
    std::string key;                // the raw secret (e.g. RFC 4226's); empty: 20 random bytes
};

// A token as the fixture last wrote it.
struct Token {
    std::string name;
    pam_totp::TokenType type = pam_totp::TokenType::totp;
    pam_totp::SecureBuffer key;
    pam_totp::TotpParams params;
    long offset = 0;
    std::uint64_t counter = 0;
};

// A secret file of several tokens, as written (and rewritten) by the fixture.
struct TokensEnrollment {
    std::string user;
    std::string path;
    uid_t owner = 0;
    gid_t group = 0;
    std::string enrollment_id;
    std::vector<Token> tokens;                 // in the file's order
    std::vector<std::string> recovery_codes;   // as printed
    std::vector<std::string> recovery_hashes;  // as written

    // The token called `name`; fails the test when there is none.
    [[nodiscard]] const Token& token(const std::string& name) const;
};

// What Fixture::enroll_tokens writes: always format 2 (serialise_secret_file
// writes format 1 only for one plain TOTP token named "default").
struct TokensSpec {
    std::string user;
    std::string path;  // default: secrets/USER
    uid_t owner = 0;
    gid_t group = 0;
    std::vector<TokenSpec> tokens;
    std::size_t recovery = 2;        // fresh recovery codes
    std::optional<unsigned> window;  // the file's `window`
};

struct Prompt {
    int style = 0;  // PAM_PROMPT_ECHO_OFF / PAM_PROMPT_ECHO_ON
    std::string text;
};

struct LoginResult {
    int rc = PAM_SYSTEM_ERR;
    std::vector<Prompt> prompts;
    std::vector<std::string> infos;   // PAM_TEXT_INFO
    std::vector<std::string> errors;  // PAM_ERROR_MSG
    bool ran_dry = false;             // a prompt came with no answer left
    int fsuid_after = -1;             // setfsuid(-1) right after pam_authenticate

    // True when any info or error message contains `needle`.
    [[nodiscard]] bool said(const std::string& needle) const;
};

// Called between pam_authenticate and pam_end, with the live handle.
using AfterAuth = std::function<void(pam_handle_t*)>;
// Called when prompt number `index` (from 0) is open, before it is answered.
using OnPrompt = std::function<void(std::size_t index, const std::string& prompt)>;

class Fixture {
  public:
    Fixture(const Fixture&) = delete;
    Fixture& operator=(const Fixture&) = delete;
    ~Fixture();  // removes the tree, deletes created users, kills/reaps children

    // The temp tree under /tmp, mode 0700 unless chmod'ed by a test; nullptr
    // (with a message on stderr) when it cannot be made.
    static std::unique_ptr<Fixture> create();

    [[nodiscard]] const std::string& root() const { return m_root; }
    [[nodiscard]] const std::string& confdir() const { return m_confdir; }
    [[nodiscard]] const std::string& secrets_dir() const { return m_secrets; }
    [[nodiscard]] const std::string& state_dir() const { return m_state; }
    [[nodiscard]] static std::string module_path();  // $PAM_TOTP_MODULE

    // "auth required MODULE secret=ROOT/secrets/%u state_dir=ROOT/state OPTIONS"
    // written to confdir/NAME. `with_secret` false leaves secret= out (the
    // default ~/.pam_totp).
    void service(const std::string& name, const std::string& options, bool with_secret = true);
    // confdir/NAME with exactly `content` (for stacks and bracket syntax).
    void service_text(const std::string& name, const std::string& content);
    // The module line's first part: "MODULE secret=... state_dir=..."
    [[nodiscard]] std::string module_args(bool with_secret = true) const;

    // A fresh enrollment for `user` (new key, id, recovery codes), written to
    // `path` (default secrets/USER) with mode 0600 and owner `owner`.
    Enrollment& enroll(const std::string& user, const pam_totp::TotpParams& params = {}, std::size_t recovery = 2,
                       const std::string& path = "", uid_t owner = 0, gid_t group = 0);
    // The same, as `spec` says (the same key again, given codes, `confirmed`,
    // raw recovery lines). The file is replaced by a rename, as totp-enroll does.
    Enrollment& enroll(const EnrollSpec& spec);

    // A format 2 file of the tokens `spec` names, written with core's
    // serialiser (mode 0600, replaced by a rename as totp-enroll does).
    TokensEnrollment& enroll_tokens(const TokensSpec& spec);
    // Rewrites `e`'s file the way totp-enroll edits it: parsed with core's
    // parser, changed by `edit`, serialised again, renamed over the old one;
    // `e` then describes what was written.
    void rewrite_tokens(TokensEnrollment& e, const std::function<void(pam_totp::SecretFile&)>& edit);
    // The file without token `name`, as totp-enroll --remove --name writes
    // it: the same enrollment and recovery codes; when the first token goes,
    // its key stays on as the recovery anchor (used codes stay used).
    void remove_token(TokensEnrollment& e, const std::string& name);
    // totp-enroll --resync --name NAME for a TOTP token whose clock is
    // `ahead` seconds fast: two consecutive codes of that clock, found by
    // core's totp_resync, and what it finds written as --resync writes it
    // (the token's `offset`; `confirmed` moved past both codes, which are
    // then used). Returns the offset written.
    long resync_totp(TokensEnrollment& e, const std::string& name, long ahead);

    // The code for the step `offset` steps away from now.
    [[nodiscard]] static std::string code(const Enrollment& e, long offset = 0);
    // A TOTP token's code for the app's clock at `when` (Unix time).
    [[nodiscard]] static std::string code_at(const Token& t, std::time_t when);
    // A TOTP token's code `offset` steps away from now.
    [[nodiscard]] static std::string code(const Token& t, long offset = 0);
    // An HOTP token's code for `counter` (RFC 4226 section 5.3).
    [[nodiscard]] static std::string hotp_code(const Token& t, std::uint64_t counter);
    // A code of the right shape that matches no step within +-3 of now.
    [[nodiscard]] static std::string wrong_code(const Enrollment& e);

    // One login: pam_start_confdir -> pam_authenticate(flags) -> pam_end.
    LoginResult login(const std::string& service, const std::string& user, std::vector<std::string> answers,
                      const AfterAuth& after = {}, int flags = 0, const OnPrompt& on_prompt = {}) const;
    // `n` processes (forked, tracked) that wait on one pipe and then all log
    // in at once with `answer`; each one's PAM return code (-1: it did not
    // exit, e.g. killed by its 30 s alarm).
    std::vector<int> simultaneous_logins(int n, const std::string& service, const std::string& user,
                                         const std::string& answer);

    // libpam hides PAM_AUTHTOK from the application: a stack line (pam_exec
    // expose_authtok) that a test appends after the module to capture what it
    // handed on, and the captured value (nullopt when nothing was written).
    [[nodiscard]] std::string authtok_probe() const;
    [[nodiscard]] std::optional<std::string> captured_authtok() const;
    // A real password check for stacks: "auth CONTROL pam_exec.so
    // expose_authtok ... SCRIPT", the script succeeding only when
    // PAM_AUTHTOK is `password`.
    [[nodiscard]] std::string password_check(const std::string& password, const std::string& control = "requisite");

    // The state: the file of an account (state_dir/u-NAME), the text of its
    // newest slot ("" when there is none), parsed (nullopt when none).
    [[nodiscard]] std::string state_path(const std::string& user) const;
    [[nodiscard]] std::string state_text(const std::string& user) const;
    [[nodiscard]] std::optional<pam_totp::AccountState> account_state(const std::string& user) const;
    // The replay record of an enrollment's secret, wherever it is kept
    // (followed through its claim, state_dir/t-TOKENID); nullopt when none.
    [[nodiscard]] std::optional<pam_totp::TokenRecord> token_record(const Enrollment& e) const;
    [[nodiscard]] std::optional<pam_totp::TokenRecord> token_record(const Token& t) const;
    // The state file that holds that record ("u-NAME"), "" when unclaimed.
    [[nodiscard]] std::string claim_of(const Enrollment& e) const;

    // The simulated clock (the time shim): seconds added to the wall clock
    // of this process and its children. Fails the test when the shim is not
    // loaded (the binary's main must call pamtest::init).
    void advance_clock(long long seconds);
    void set_clock(long long offset);
    [[nodiscard]] long long clock_offset() const { return m_clock; }
    // Moves the clock forward to `margin` seconds after the start of a
    // `period`-second time step, so that a test has (period - margin)
    // seconds before the step changes.
    void align_clock(unsigned period, unsigned margin = 1);

    // Fork bookkeeping: children still tracked at teardown are SIGKILLed and reaped.
    void track_child(pid_t pid) { m_children.push_back(pid); }
    // waitpid on a tracked child; returns its exit status or -1 (signal/error).
    int reap(pid_t pid);

    // A user made with useradd for this test (deleted at teardown); with
    // `uid`, a second name for that uid (useradd -o).
    bool add_user(const std::string& name, const std::string& home, std::optional<uid_t> uid = std::nullopt);

    // syslog lines captured on /dev/log (only when this process could bind it).
    [[nodiscard]] bool logs_captured() const { return m_log_fd >= 0; }
    // A thread reads the socket all the time: a full datagram queue would
    // block the module's syslog() (while it holds the state lock).
    std::vector<std::string> drain_logs();
    // Waits up to `timeout` seconds for a captured line containing `needle`
    // (at syslog level `level`, when one is given).
    bool wait_for_log(const std::string& needle, double timeout = 2.0, int level = -1);
    // The one way a test asserts a log line: fails the test (naming the
    // lines seen) when no line with `needle` at `level` (-1: any) arrives,
    // or when logs cannot be captured at all.
    void expect_log(const std::string& needle, int level = -1, double timeout = 2.0);
    // Fails the test when a captured line contains `needle`.
    void expect_no_log(const std::string& needle);
    // Captured lines containing `needle`.
    std::size_t count_logs(const std::string& needle);
    // Fails the test unless exactly `n` captured lines contain `needle`,
    // waiting up to `timeout` seconds for the last ones to arrive.
    void expect_log_count(const std::string& needle, std::size_t n, double timeout = 2.0);

    // Every enrollment made so far stays alive (tests hold references).
  private:
    Fixture() = default;
    void open_log_sink();
    [[nodiscard]] std::optional<pam_totp::TokenRecord> record_of(const pam_totp::SecureBuffer& key) const;

    std::string m_root;
    std::string m_confdir;
    std::string m_secrets;
    std::string m_state;
    long long m_clock = 0;
    std::vector<std::unique_ptr<Enrollment>> m_enrollments;
    std::vector<std::unique_ptr<TokensEnrollment>> m_token_enrollments;
    std::vector<pid_t> m_children;
    std::vector<std::string> m_users;
    int m_log_fd = -1;
    int m_log_stop[2] = {-1, -1};
    std::thread m_log_thread;
    std::mutex m_log_mutex;
    std::vector<std::string> m_logs;
};

// The syslog level of a captured line ("<PRI>..."), -1 when it has none.
int log_level(const std::string& line);

// Helpers for files and processes.
void write_file(const std::string& path, const std::string& content, mode_t mode = 0600);
std::string read_file(const std::string& path);         // "" when unreadable
int run_command(const std::vector<std::string>& argv);  // exit status, -1 on failure; output discarded
// The value of a "key value" line in a state/secret file text ("" if none).
std::string line_value(const std::string& text, const std::string& key);
std::size_t count_lines(const std::string& text, const std::string& key);
double now_seconds();  // CLOCK_MONOTONIC

// First thing in main: as root, a private mount namespace with a /dev/log
// of this binary's own, and a re-exec with $TIME_SHIM preloaded. Not for
// a binary run under valgrind (which would not follow the exec). Without
// root, or on failure (said on stderr), the binary runs as it is.
void init(int argc, char** argv);

// cmocka glue: setup stores a Fixture in *state; teardown deletes it.
int setup(void** state);
int teardown(void** state);
// The fixture of a test; skips the test (with a message) when not root.
Fixture& get(void** state);

}  // namespace pamtest
