#include "core/login/helper_client.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <utility>

#include "core/login/helper_protocol.h"
#include "core/util/text.h"
#include "core/util/unique_fd.h"

namespace pam_totp {
namespace {

// What makes the helper unable to do its work, said before starting it:
// not installed setuid root, or a caller that forbade privilege (systemd's
// NoNewPrivileges=, a sandbox), under which the kernel ignores the setuid
// bit and the helper could not read the state.
std::optional<std::string> helper_unusable(const std::string& helper) {
    struct stat st {};
    if (::stat(helper.c_str(), &st) != 0) {
        return errno_message(helper, errno) + ": install pam_totp_check (make install, or the package)";
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & S_ISUID) == 0 ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return helper +
               " is not a setuid-root program (owner root, mode 4755, not writable by group or others): "
               "reinstall it";
    }
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1) {
        return "this process runs with no_new_privs set (systemd's NoNewPrivileges=, a sandbox), so " + helper +
               " cannot run as root; lift that restriction for this program";
    }
    return std::nullopt;
}

// SIGCHLD at its default for the helper's lifetime, so that an application
// that ignores it (children reaped by the kernel) or reaps in a handler
// cannot take the helper's exit status from waitpid; as pam_unix does for
// unix_chkpwd. The application's handler is called once afterwards.
class DefaultSigchld {
  public:
    DefaultSigchld() {
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigemptyset(&dfl.sa_mask);
        m_saved = ::sigaction(SIGCHLD, &dfl, &m_old) == 0;
    }
    ~DefaultSigchld() {
        if (!m_saved) {
            return;
        }
        (void)::sigaction(SIGCHLD, &m_old, nullptr);
        // A child of the application's own that ended meanwhile raised a
        // SIGCHLD its handler never saw: one now, so that it reaps (a
        // handler reaps every child that ended; one too many is harmless).
        const bool handled = (m_old.sa_flags & SA_SIGINFO) != 0
                                 ? m_old.sa_sigaction != nullptr
                                 : (m_old.sa_handler != SIG_DFL && m_old.sa_handler != SIG_IGN);
        if (handled) {
            (void)::raise(SIGCHLD);
        }
    }
    DefaultSigchld(const DefaultSigchld&) = delete;
    DefaultSigchld& operator=(const DefaultSigchld&) = delete;
    DefaultSigchld(DefaultSigchld&&) = delete;
    DefaultSigchld& operator=(DefaultSigchld&&) = delete;

  private:
    struct sigaction m_old {};
    bool m_saved = false;
};

// The helper's exit status; -1 when it did not exit normally.
int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A descriptor moved to 3 or above (close-on-exec): the application may
// have closed 0, 1 or 2, and socketpair or open would then hand those out,
// where dup2 onto them would do nothing and leave close-on-exec set.
Result<UniqueFd> above_stdio(UniqueFd fd) {
    if (fd.get() > STDERR_FILENO) {
        return fd;
    }
    const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0) {
        return errno_error("fcntl(F_DUPFD_CLOEXEC)", errno);
    }
    return UniqueFd(moved);
}

// Starts the helper with `sock` as its fd 0 and 1, `null` (/dev/null) as 2,
// an empty environment and no blocked signals. Both are above fd 2.
// Between fork and exec only async-signal-safe calls: the application may
// have threads.
Result<pid_t> start_helper(const std::string& helper, int sock, int null) {
    const char* const argv[] = {"pam_totp_check", nullptr};
    char* const envp[] = {nullptr};
    const pid_t pid = ::fork();
    if (pid < 0) {
        return errno_error("fork", errno);
    }
    if (pid == 0) {
        if (::dup2(sock, STDIN_FILENO) < 0 || ::dup2(sock, STDOUT_FILENO) < 0 || ::dup2(null, STDERR_FILENO) < 0) {
            ::_exit(127);
        }
        sigset_t none;
        ::sigemptyset(&none);
        (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): execve's historical signature
        ::execve(helper.c_str(), const_cast<char* const*>(argv), envp);
        ::_exit(127);
    }
    return pid;
}

// Relays the helper's messages to the application until it closes the
// socket. An error on a message the module must not act on (out of
// place), or when the helper says nothing for helper_silence (its own work
// is bounded by the lock wait and the store's timeout; a helper stuck in
// an account lookup or a hung home file system must not freeze the
// screen locker). The wait for the user's answer is the application's.
constexpr std::chrono::seconds helper_silence{60};

Status relay(LoginIo& io, int sock) {
    helper::MessageReader reader(sock);
    for (;;) {
        auto m = reader.next(std::chrono::steady_clock::now() + helper_silence);
        if (!m) {
            return std::move(m).error();
        }
        if (!m.value()) {
            return {};  // the helper is done
        }
        helper::Message& msg = *m.value();
        switch (msg.kind) {
            case helper::Kind::ask_echo:
            case helper::Kind::ask_noecho: {
                auto answer = io.ask(msg.value.view(), msg.kind == helper::Kind::ask_echo);
                Status sent = answer ? helper::send_message(sock, helper::Kind::answer, answer.value().view())
                                     : helper::send_message(sock, helper::Kind::no_answer, "");
                if (!sent) {
                    return sent;
                }
                break;
            }
            case helper::Kind::info:
            case helper::Kind::error:
                io.tell(msg.value.view(), msg.kind == helper::Kind::error);
                break;
            case helper::Kind::set_authtok:
                if (Status st = io.set_authtok(msg.value); !st) {
                    return st;
                }
                break;
            case helper::Kind::keep_deferred:
                if (Status st = io.keep_deferred_code(msg.value); !st) {
                    return st;
                }
                break;
            default:
                return make_error(Errc::format, "the helper sent '" + std::string(helper::kind_name(msg.kind)) +
                                                    "', which only the module sends");
        }
    }
}

}  // namespace

LoginOutcome run_login_via_helper(LoginIo& io, const ModuleOptions& opts, const std::vector<std::string>& args) {
    LoginOutcome outcome = LoginOutcome::denied;
    const auto user = io.user();
    if (!user) {
        io.log(LogLevel::notice, "no valid user name; denying");
        return outcome;
    }
    const std::string who = "user " + *user + ": ";
    if (auto why = helper_unusable(opts.helper)) {
        io.log(LogLevel::err, who + "not running as root, and " + *why + "; denying");
        return outcome;
    }
    helper::Request request;
    request.user = *user;
    const LoginContext ctx = io.context();
    // They only label the helper's log line and the last login.
    request.service = helper::request_item(ctx.service);
    request.tty = helper::request_item(ctx.tty);
    request.rhost = helper::request_item(ctx.rhost);
    request.args = args;
    if (opts.first_pass != FirstPass::none) {
        request.authtok = io.authtok();
    }
    if (!(opts.forward_pass && opts.defer)) {
        request.deferred = io.take_deferred_code();
    }

    int sv[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        io.log(LogLevel::err, who + errno_message("socketpair", errno) + "; denying");
        return outcome;
    }
    UniqueFd mine(sv[0]);
    auto theirs = above_stdio(UniqueFd(sv[1]));
    auto null = above_stdio(UniqueFd(::open("/dev/null", O_WRONLY | O_CLOEXEC)));
    if (!theirs || !null || null.value().get() < 0) {
        io.log(LogLevel::err, who + "cannot set up the helper's descriptors; denying");
        return outcome;
    }
    const DefaultSigchld sigchld;
    const auto pid = start_helper(opts.helper, theirs.value().get(), null.value().get());
    if (!pid) {
        io.log(LogLevel::err, who + "cannot start " + opts.helper + ": " + pid.error().message + "; denying");
        return outcome;
    }
    theirs.value().reset();  // the helper's end: EOF reaches us when it exits
    null.value().reset();

    Status st = helper::send_all(mine.get(), helper::encode_request(request).view());
    if (st) {
        st = relay(io, mine.get());
    }
    mine.reset();  // a helper still waiting for us reads EOF and exits
    if (!st) {
        // Whatever it is doing, it is not going on without us: every
        // attempt it charged stays charged (a kill is what the state is
        // made to survive).
        (void)::kill(pid.value(), SIGKILL);
    }
    const int code = wait_for(pid.value());
    if (!st) {
        io.log(LogLevel::err, who + "talking to " + opts.helper + ": " + st.error().message + "; denying");
        return outcome;
    }
    switch (code) {
        case helper::exit_success:
            outcome = LoginOutcome::success;
            break;
        case helper::exit_ignore:
            outcome = LoginOutcome::ignore;
            break;
        case helper::exit_unavailable:
            outcome = LoginOutcome::unavailable;
            break;
        case helper::exit_denied:
            break;  // the helper logged why
        case helper::exit_refused:
            io.log(LogLevel::err, who + opts.helper + " refused the request (its log line says why); denying");
            break;
        default:
            io.log(LogLevel::err, who + opts.helper + " failed (exit status " + std::to_string(code) +
                                      ", -1: killed or not run); denying");
            break;
    }
    return outcome;
}

}  // namespace pam_totp
