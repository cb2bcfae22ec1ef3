#include "check_tool/process_setup.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace totp_check {
namespace {

using pam_totp::Errc;
using pam_totp::make_error;

bool fd_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

// Every descriptor but 0, 1 and 2 closed: nothing the caller opened
// (a directory, a file it could not open itself) is reachable from here.
void close_inherited() {
    if (::close_range(3, ~0U, 0) == 0) {
        return;
    }
    const long max = ::sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 ? max : 1024); ++fd) {
        (void)::close(static_cast<int>(fd));
    }
}

// Default dispositions for every signal the caller may have ignored or
// handled, nothing blocked; then the ones a terminal or a closed socket
// sends ignored: an answer cut short must end in an error the code sees,
// and the commits hold every catchable signal anyway (CriticalSection).
void reset_signals() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; ++sig) {
        (void)::sigaction(sig, &dfl, nullptr);  // SIGKILL, SIGSTOP and RT signals glibc keeps: EINVAL
    }
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ::sigemptyset(&ign.sa_mask);
    for (const int sig : {SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU}) {
        (void)::sigaction(sig, &ign, nullptr);
    }
    sigset_t none;
    ::sigemptyset(&none);
    (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace

pam_totp::Result<Caller> make_process_safe() {
    const Caller caller{::getuid()};
    // Nothing from the environment is read (libpq's PG* variables, TZ,
    // locale, NSS's): the C library's secure mode drops LD_* already.
    (void)::clearenv();
    // Libraries that key a default on the real uid (still the caller's)
    // must not reach the caller's files: Kerberos would open the caller's
    // /tmp/krb5cc_UID for libpq's GSS encryption. An empty cache of this
    // process's own.
    (void)::setenv("KRB5CCNAME", "MEMORY:pam_totp_check", 1);
    // Interval timers survive exec: none of the caller's may fire here.
    const struct itimerval off {};
    for (const int timer : {ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF}) {
        (void)::setitimer(timer, &off, nullptr);
    }
    reset_signals();
    // Out of the caller's session and process group: no terminal signal
    // (Ctrl-C, Ctrl-Z, hang-up) reaches the helper.
    (void)::setsid();
    if (!fd_open(STDIN_FILENO) || !fd_open(STDOUT_FILENO)) {
        return make_error(Errc::io, "standard input or output is closed: nothing to talk to");
    }
    // Standard error is /dev/null whatever the caller gave: nothing a
    // library prints (a server notice, a C++ runtime's last words) reaches
    // the caller, and a later open cannot become fd 2.
    const int null = ::open("/dev/null", O_RDWR | O_NOCTTY);
    if (null < 0 || (null != STDERR_FILENO && ::dup2(null, STDERR_FILENO) != STDERR_FILENO)) {
        return make_error(Errc::io, "cannot put /dev/null on standard error");
    }
    if (null != STDERR_FILENO) {
        (void)::close(null);
    }
    close_inherited();
    ::umask(077);
    if (::chdir("/") != 0) {
        return make_error(Errc::io, "cannot change to /");
    }
    // No core file, no ptrace or /proc/PID/mem by the caller (the kernel
    // does this for a setuid exec; said again so it holds under any setup).
    (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    const struct rlimit no_core { 0, 0 };
    (void)::setrlimit(RLIMIT_CORE, &no_core);
    if (::geteuid() != 0) {
        return make_error(Errc::permission,
                          "not running as root: pam_totp_check must be installed setuid root (mode 4755), and "
                          "the caller must not run with no_new_privs");
    }
    // Root's group and no supplementary groups: the caller's groups must
    // not open files for us, and new files belong to root:root. The real
    // uid stays the caller's, as for unix_chkpwd: the caller's process
    // limits (RLIMIT_NPROC) still count this process.
    if (::setgroups(0, nullptr) != 0 || ::setresgid(0, 0, 0) != 0) {
        return make_error(Errc::permission, "cannot drop the caller's groups");
    }
    // Never gains anything more (it runs no program anyway).
    (void)::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return caller;
}

}  // namespace totp_check
