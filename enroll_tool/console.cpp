#include "console.h"

#include "core/util/write_all.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace totp_enroll {
namespace {

constexpr std::size_t max_answer = 256;

// The signal that interrupted a hidden read (0: none). A process-wide
// flag because a signal handler can reach nothing else; only
// read_hidden_answer installs the handler that sets it.
volatile sig_atomic_t g_interrupted = 0;

extern "C" void note_interrupt(int sig) {
    g_interrupted = sig;
}

// The signals that end totp-enroll from the terminal or outside; while the
// echo is off they are caught so that it can be turned back on first.
constexpr std::array<int, 4> ending_signals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

enum class LineEnd { line, end_of_input, interrupted };

// Reads up to a newline, keeping at most `max` bytes. Gives up on EINTR
// when a hidden read was interrupted.
LineEnd read_line(pam_totp::SecureBuffer& line, std::size_t max) {
    bool any = false;
    for (;;) {
        char c = 0;
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0) {
            if (errno == EINTR && g_interrupted == 0) {
                continue;
            }
            return errno == EINTR ? LineEnd::interrupted : LineEnd::end_of_input;
        }
        if (n == 0) {
            // End of input: a last line without a newline still counts.
            return any ? LineEnd::line : LineEnd::end_of_input;
        }
        any = true;
        if (c == '\n') {
            return LineEnd::line;
        }
        if (line.size() < max) {
            line.append(&c, 1);
        }
    }
}

void drop_cr(pam_totp::SecureBuffer& line) {
    if (!line.empty() && line.view().back() == '\r') {
        line.truncate(line.size() - 1);
    }
}

}  // namespace

std::optional<pam_totp::SecureBuffer> read_answer() {
    pam_totp::SecureBuffer line;
    if (read_line(line, max_answer) != LineEnd::line) {
        out("\n");  // end the prompt's line before the error
        return std::nullopt;
    }
    if (::isatty(STDIN_FILENO) != 1) {
        out("\n");
    }
    drop_cr(line);
    return line;
}

std::optional<pam_totp::SecureBuffer> read_hidden_answer(std::size_t max) {
    struct termios saved {};
    const bool terminal = ::isatty(STDIN_FILENO) == 1 && ::tcgetattr(STDIN_FILENO, &saved) == 0;
    std::array<struct sigaction, ending_signals.size()> old_actions{};
    if (terminal) {
        g_interrupted = 0;
        struct sigaction catcher {};
        catcher.sa_handler = note_interrupt;
        ::sigemptyset(&catcher.sa_mask);
        catcher.sa_flags = 0;  // no SA_RESTART: the read returns EINTR
        for (std::size_t i = 0; i < ending_signals.size(); ++i) {
            (void)::sigaction(ending_signals[i], &catcher, &old_actions[i]);
        }
        struct termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;  // the Enter still ends the prompt's line
        (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    pam_totp::SecureBuffer line;
    const LineEnd end = read_line(line, max);
    if (terminal) {
        (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        for (std::size_t i = 0; i < ending_signals.size(); ++i) {
            (void)::sigaction(ending_signals[i], &old_actions[i], nullptr);
        }
        if (end == LineEnd::interrupted) {
            line.clear();
            out("\n");
            (void)::raise(g_interrupted);  // now with the old disposition: usually the end
            return std::nullopt;
        }
    }
    if (end != LineEnd::line) {
        out("\n");
        return std::nullopt;
    }
    if (!terminal) {
        out("\n");
    }
    drop_cr(line);
    return line;
}

void out(std::string_view text) {
    (void)pam_totp::write_all(STDOUT_FILENO, text);
}
void err(std::string_view text) {
    (void)pam_totp::write_all(STDERR_FILENO, text);
}

bool stdout_is_terminal() {
    return ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace totp_enroll
