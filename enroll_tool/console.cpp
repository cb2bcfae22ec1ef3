#include "console.h"

#include "core/util/write_all.h"

#include <unistd.h>

#include <cerrno>

namespace totp_enroll {
namespace {

constexpr std::size_t max_answer = 256;

}  // namespace

std::optional<pam_totp::SecureBuffer> read_answer() {
    pam_totp::SecureBuffer line;
    bool any = false;
    for (;;) {
        char c = 0;
        const ssize_t n = ::read(STDIN_FILENO, &c, 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return std::nullopt;
        }
        if (n == 0) {
            // End of input: a last line without a newline still counts.
            if (!any) {
                out("\n");  // end the prompt's line before the error
                return std::nullopt;
            }
            break;
        }
        any = true;
        if (c == '\n') {
            break;
        }
        if (line.size() < max_answer) {
            line.append(&c, 1);
        }
    }
    if (::isatty(STDIN_FILENO) != 1) {
        out("\n");
    }
    if (!line.empty() && line.view().back() == '\r') {
        line.truncate(line.size() - 1);
    }
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
