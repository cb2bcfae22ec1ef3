// The test fixture for tests/pam: a private temp tree (service files,
// secrets, state), enrollments written with core's own serialiser, and one
// login through the real libpam (pam_start_confdir) with a scripted
// conversation that records every prompt and message.
//
// Every test binary uses it through cmocka setup/teardown (pamtest::setup,
// pamtest::teardown), so the tree, created users and forked children are
// removed even when an assertion fails and longjmps out of the test.
#pragma once

#include <security/pam_appl.h>
#include <sys/types.h>

#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/util/secure_buffer.h"
#include "core/otp/totp.h"

namespace pamtest {

struct Enrollment {
    std::string user;
    std::string path;  // the secret file
    pam_totp::SecureBuffer key;
    pam_totp::TotpParams params;
    std::string enrollment_id;
    std::vector<std::string> recovery_codes;  // as printed, "XXXX-XXXX-XXXX"
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

    // The code for the step `offset` steps away from now.
    [[nodiscard]] static std::string code(const Enrollment& e, long offset = 0);
    // A code of the right shape that matches no step within +-3 of now.
    [[nodiscard]] static std::string wrong_code(const Enrollment& e);

    // One login: pam_start_confdir -> pam_authenticate(flags) -> pam_end.
    LoginResult login(const std::string& service, const std::string& user, std::vector<std::string> answers,
                      const AfterAuth& after = {}, int flags = 0) const;

    // libpam hides PAM_AUTHTOK from the application: a stack line (pam_exec
    // expose_authtok) that a test appends after the module to capture what it
    // handed on, and the captured value (nullopt when nothing was written).
    [[nodiscard]] std::string authtok_probe() const;
    [[nodiscard]] std::optional<std::string> captured_authtok() const;

    // The user's state file, "" when absent.
    [[nodiscard]] std::string state_text(const std::string& user) const;
    [[nodiscard]] std::string state_path(const std::string& user) const;

    // Fork bookkeeping: children still tracked at teardown are SIGKILLed and reaped.
    void track_child(pid_t pid) { m_children.push_back(pid); }
    // waitpid on a tracked child; returns its exit status or -1 (signal/error).
    int reap(pid_t pid);

    // A user made with useradd for this test (deleted at teardown).
    bool add_user(const std::string& name, const std::string& home);

    // syslog lines captured on /dev/log (only when this process could bind it).
    [[nodiscard]] bool logs_captured() const { return m_log_fd >= 0; }
    // A thread reads the socket all the time: a full datagram queue would
    // block the module's syslog() (while it holds the state lock).
    std::vector<std::string> drain_logs();
    // Waits up to `timeout` seconds for a captured line containing `needle`.
    bool wait_for_log(const std::string& needle, double timeout = 2.0);

    // Every enrollment made so far stays alive (tests hold references).
  private:
    Fixture() = default;
    void open_log_sink();

    std::string m_root;
    std::string m_confdir;
    std::string m_secrets;
    std::string m_state;
    std::vector<std::unique_ptr<Enrollment>> m_enrollments;
    std::vector<pid_t> m_children;
    std::vector<std::string> m_users;
    int m_log_fd = -1;
    int m_log_stop[2] = {-1, -1};
    std::thread m_log_thread;
    std::mutex m_log_mutex;
    std::vector<std::string> m_logs;
};

// Helpers for files and processes.
void write_file(const std::string& path, const std::string& content, mode_t mode = 0600);
std::string read_file(const std::string& path);         // "" when unreadable
int run_command(const std::vector<std::string>& argv);  // exit status, -1 on failure; output discarded
// The value of a "key value" line in a state/secret file text ("" if none).
std::string line_value(const std::string& text, const std::string& key);
std::size_t count_lines(const std::string& text, const std::string& key);
double now_seconds();  // CLOCK_MONOTONIC

// cmocka glue: setup stores a Fixture in *state; teardown deletes it.
int setup(void** state);
int teardown(void** state);
// The fixture of a test; skips the test (with a message) when not root.
Fixture& get(void** state);

}  // namespace pamtest
