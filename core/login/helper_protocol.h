// The conversation between pam_totp.so running as an ordinary user (a
// screen locker, pam_totp(8) UNPRIVILEGED CALLERS) and pam_totp_check, the
// setuid helper that does the login for it with root's access to the state.
//
// Both directions carry the same messages on one socket (fd 0 and 1 of the
// helper):
//
//     NAME SP LENGTH LF VALUE LF
//
// NAME is one of the names below, LENGTH the VALUE's byte count in decimal
// (no sign, no leading zero, at most max_value), VALUE any bytes. Lengths
// rather than escapes, so that a code or a password with a newline in it
// cannot forge a message, and a parser that never guesses.
//
// The module sends the request (hello, user, service, tty, rhost, arg...,
// authtok?, deferred?, end), then one answer or no_answer for each ask the
// helper sends; the helper sends asks, info and error lines, set_authtok and
// keep_deferred, then exits with one of the exit codes below.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp::helper {

inline constexpr std::string_view protocol_version = "1";
// A module argument is at most a 4096-byte path with its name; an answer
// at most a few hundred bytes.
inline constexpr std::size_t max_value = 8192;
inline constexpr std::size_t max_args = 64;
// Besides letters and digits, what service, tty and rhost may hold (host
// names, IPv6 addresses, X displays, device paths); at most 64 bytes.
inline constexpr std::string_view item_punctuation = "._-/:@+[]%";

enum class Kind {
    // module -> helper: the request
    hello,     // protocol_version
    user,      // PAM_USER
    service,   // PAM_SERVICE, PAM_TTY, PAM_RHOST: for the log and the last login
    tty,       //
    rhost,     //
    arg,       // one module argument, as on the PAM line
    authtok,   // PAM_AUTHTOK (try_first_pass, use_first_pass, forward_pass)
    deferred,  // the code a forward_pass defer line kept for this check line
    end,       // end of the request
    // module -> helper: the reply to an ask
    answer,
    no_answer,  // the conversation failed
    // helper -> module
    ask_echo,       // a prompt; the answer is echoed
    ask_noecho,     // a prompt; the answer is not echoed
    info,           // a line for the user
    error,          // an error line for the user
    set_authtok,    // set PAM_AUTHTOK (forward_pass: the password part)
    keep_deferred,  // keep the code for the stack's check line (forward_pass defer)
};

std::string_view kind_name(Kind kind) noexcept;

struct Message {
    Kind kind;
    SecureBuffer value;
};

// The bytes of one message.
SecureBuffer encode(Kind kind, std::string_view value);

// Parses the message at the start of `in`: nullopt (and `used` 0) when `in`
// holds only the beginning of one; else the message, with `used` its size.
// A malformed message is Errc::format (the whole conversation is then over).
Result<std::optional<Message>> parse_message(std::string_view in, std::size_t& used);

// Sends all of `bytes` (MSG_NOSIGNAL on a socket: a peer gone is an
// error, not a SIGPIPE for the caller's process; write on a pipe).
Status send_all(int fd, std::string_view bytes);

// Sends one message with send_all.
Status send_message(int fd, Kind kind, std::string_view value);

// Reads messages from a descriptor, buffering what arrives early.
class MessageReader {
  public:
    explicit MessageReader(int fd) : m_fd(fd) {}
    // The next message; nullopt at end of input between messages. With a
    // deadline, Errc::unavailable when nothing complete came by then.
    Result<std::optional<Message>> next(std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

  private:
    int m_fd;
    SecureBuffer m_buffer;
};

struct Request {
    std::string user;
    std::string service;
    std::string tty;
    std::string rhost;
    std::vector<std::string> args;
    std::optional<SecureBuffer> authtok;
    std::optional<SecureBuffer> deferred;
};

// A PAM item as the request carries it: at most 64 bytes, every character
// outside letters, digits and item_punctuation made '_'.
std::string request_item(std::string_view text);

// The request's messages, hello to end.
SecureBuffer encode_request(const Request& request);

// Reads a request, strictly: hello with this version first, user once and
// non-empty, service, tty and rhost at most once each, at most max_args
// args, authtok and deferred at most once, nothing after end but asks'
// answers, no NUL in any text field, service, tty and rhost of letters,
// digits and item_punctuation only. Errc::format names what was wrong.
Result<Request> read_request(MessageReader& reader, std::chrono::steady_clock::time_point deadline);

// The same on bytes already read (the fuzzer's entry).
Result<Request> decode_request(std::string_view bytes);

// pam_totp_check's exit status: the login's outcome. Anything else (a
// crash, a signal, exec failing) is a denial.
inline constexpr int exit_success = 0;
inline constexpr int exit_denied = 1;
inline constexpr int exit_ignore = 2;
inline constexpr int exit_unavailable = 3;
inline constexpr int exit_refused = 4;  // a request it does not serve (not the caller's account, options)

}  // namespace pam_totp::helper
