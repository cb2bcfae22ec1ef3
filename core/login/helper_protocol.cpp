#include "core/login/helper_protocol.h"

#include <poll.h>
#include <string.h>  // explicit_bzero
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

#include "core/util/text.h"
#include "core/util/write_all.h"

namespace pam_totp::helper {
namespace {

constexpr std::size_t max_name = 16;
constexpr std::size_t max_length_digits = 5;  // max_value is 4 digits
constexpr std::size_t max_text = 64;          // service, tty, rhost

constexpr std::array<std::pair<Kind, std::string_view>, 17> names{{
    {Kind::hello, "hello"},
    {Kind::user, "user"},
    {Kind::service, "service"},
    {Kind::tty, "tty"},
    {Kind::rhost, "rhost"},
    {Kind::arg, "arg"},
    {Kind::authtok, "authtok"},
    {Kind::deferred, "deferred"},
    {Kind::end, "end"},
    {Kind::answer, "answer"},
    {Kind::no_answer, "no_answer"},
    {Kind::ask_echo, "ask_echo"},
    {Kind::ask_noecho, "ask_noecho"},
    {Kind::info, "info"},
    {Kind::error, "error"},
    {Kind::set_authtok, "set_authtok"},
    {Kind::keep_deferred, "keep_deferred"},
}};

// PAM_SERVICE, PAM_TTY and PAM_RHOST as pam_totp_check accepts them: they
// label its log line, so no blank, parenthesis or quote that could make
// the caller's text look like more of the line.
bool item_text(std::string_view s) noexcept {
    for (const char c : s) {
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && item_punctuation.find(c) == std::string_view::npos) {
            return false;
        }
    }
    return true;
}

Error malformed(const std::string& what) {
    return make_error(Errc::format, "malformed message from the other side: " + what);
}

bool name_chars(std::string_view s) noexcept {
    return s.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos;
}

std::optional<Kind> kind_of(std::string_view name) noexcept {
    for (const auto& [kind, n] : names) {
        if (n == name) {
            return kind;
        }
    }
    return std::nullopt;
}

// Builds a Request from the messages hello .. end, refusing anything out of
// order or repeated: the helper acts only on a request it fully understood.
class RequestBuilder {
  public:
    Status add(Message&& m) {
        if (m_done) {
            return malformed("a message after the end of the request");
        }
        if (!m_hello) {
            if (m.kind != Kind::hello) {
                return malformed("the request does not start with hello");
            }
            if (m.value.view() != protocol_version) {
                return make_error(Errc::format, "the module speaks protocol version '" + safe(m.value.view()) +
                                                    "', pam_totp_check " + std::string(protocol_version) +
                                                    ": install the module and the helper from one build");
            }
            m_hello = true;
            return {};
        }
        switch (m.kind) {
            case Kind::user:
                return set_text(m_user_set, m_request.user, m.value.view(), "user", 256, false);
            case Kind::service:
                return set_text(m_service_set, m_request.service, m.value.view(), "service", max_text, true);
            case Kind::tty:
                return set_text(m_tty_set, m_request.tty, m.value.view(), "tty", max_text, true);
            case Kind::rhost:
                return set_text(m_rhost_set, m_request.rhost, m.value.view(), "rhost", max_text, true);
            case Kind::arg:
                if (m_request.args.size() >= max_args) {
                    return malformed("more than " + std::to_string(max_args) + " module arguments");
                }
                if (m.value.empty() || m.value.view().find('\0') != std::string_view::npos) {
                    return malformed("an empty module argument, or one with a NUL byte");
                }
                m_request.args.emplace_back(m.value.view());
                return {};
            case Kind::authtok:
                return set_secret(m_request.authtok, std::move(m.value), "authtok");
            case Kind::deferred:
                return set_secret(m_request.deferred, std::move(m.value), "deferred");
            case Kind::end:
                if (!m_user_set) {
                    return malformed("a request without a user");
                }
                m_done = true;
                return {};
            default:
                return malformed("'" + std::string(kind_name(m.kind)) + "' inside the request");
        }
    }

    [[nodiscard]] bool done() const noexcept { return m_done; }
    Request take() { return std::move(m_request); }

  private:
    static std::string safe(std::string_view s) { return printable_ascii(s) && s.size() <= 16 ? std::string(s) : "?"; }

    static Status set_text(bool& set, std::string& field, std::string_view value, const char* what, std::size_t max,
                           bool may_be_empty) {
        if (set) {
            return malformed(std::string(what) + " given twice");
        }
        if ((!may_be_empty && value.empty()) || value.size() > max || !printable_ascii(value)) {
            return malformed(std::string(what) + " must be " + (may_be_empty ? "" : "non-empty ") +
                             "printable ASCII of at most " + std::to_string(max) + " bytes");
        }
        if (may_be_empty && !item_text(value)) {
            return malformed(std::string(what) + " holds a character other than letters, digits and " +
                             std::string(item_punctuation));
        }
        set = true;
        field = std::string(value);
        return {};
    }

    static Status set_secret(std::optional<SecureBuffer>& field, SecureBuffer&& value, const char* what) {
        if (field) {
            return malformed(std::string(what) + " given twice");
        }
        if (value.view().find('\0') != std::string_view::npos) {
            return malformed(std::string(what) + " holds a NUL byte");
        }
        field = std::move(value);
        return {};
    }

    Request m_request;
    bool m_hello = false;
    bool m_user_set = false;
    bool m_service_set = false;
    bool m_tty_set = false;
    bool m_rhost_set = false;
    bool m_done = false;
};

}  // namespace

std::string_view kind_name(Kind kind) noexcept {
    for (const auto& [k, n] : names) {
        if (k == kind) {
            return n;
        }
    }
    return "?";
}

SecureBuffer encode(Kind kind, std::string_view value) {
    const std::string head = std::string(kind_name(kind)) + " " + std::to_string(value.size()) + "\n";
    SecureBuffer out;
    out.append(head);
    out.append(value);
    out.append("\n");
    return out;
}

Result<std::optional<Message>> parse_message(std::string_view in, std::size_t& used) {
    used = 0;
    const auto sp = in.find(' ');
    const std::string_view name = in.substr(0, sp == std::string_view::npos ? in.size() : sp);
    if (name.size() > max_name || !name_chars(name)) {
        return malformed("a message name longer than 16 or not of a-z and _");
    }
    if (sp == std::string_view::npos) {
        return std::optional<Message>();
    }
    const auto kind = kind_of(name);
    if (!kind) {
        return malformed("unknown message '" + std::string(name) + "'");
    }
    const auto lf = in.find('\n', sp + 1);
    const std::string_view digits =
        in.substr(sp + 1, lf == std::string_view::npos ? std::string_view::npos : lf - sp - 1);
    if (digits.size() > max_length_digits || (!digits.empty() && !all_digits(digits))) {
        return malformed("a length that is not a decimal number of at most 5 digits");
    }
    if (lf == std::string_view::npos) {
        return std::optional<Message>();
    }
    if (digits.empty() || (digits.size() > 1 && digits.front() == '0')) {
        return malformed("an empty length, or one with a leading zero");
    }
    std::size_t length = 0;
    for (const char c : digits) {
        length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    if (length > max_value) {
        return malformed("a value longer than " + std::to_string(max_value) + " bytes");
    }
    const std::size_t start = lf + 1;
    if (in.size() < start + length + 1) {
        return std::optional<Message>();
    }
    if (in[start + length] != '\n') {
        return malformed("a value not followed by a newline");
    }
    used = start + length + 1;
    return std::optional<Message>(Message{*kind, SecureBuffer(in.data() + start, length)});
}

Status send_all(int fd, std::string_view bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == ENOTSOCK) {
                // A pipe (the helper run by hand): the helper ignores SIGPIPE.
                if (!write_all(fd, bytes.substr(done))) {
                    return errno_error("write", errno);
                }
                return {};
            }
            return errno_error("send", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Status send_message(int fd, Kind kind, std::string_view value) {
    if (value.size() > max_value) {
        return make_error(Errc::invalid_argument, std::string(kind_name(kind)) + ": value too long to send");
    }
    const SecureBuffer bytes = encode(kind, value);
    return send_all(fd, bytes.view());
}

Result<std::optional<Message>> MessageReader::next(std::optional<std::chrono::steady_clock::time_point> deadline) {
    for (;;) {
        std::size_t used = 0;
        auto parsed = parse_message(m_buffer.view(), used);
        if (!parsed) {
            return std::move(parsed).error();
        }
        if (parsed.value()) {
            SecureBuffer rest(m_buffer.view().substr(used));
            m_buffer = std::move(rest);
            return std::move(parsed).value();
        }
        // Wait in poll(2), deadline or not: a descriptor the caller made
        // non-blocking must not turn the wait into a busy loop.
        int wait_ms = -1;
        if (deadline) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return make_error(Errc::unavailable, "no complete message in time");
            }
            wait_ms = static_cast<int>(std::min<long long>(left.count(), 60000));
        }
        struct pollfd p {
            m_fd, POLLIN, 0
        };
        const int ready = ::poll(&p, 1, wait_ms);
        if (ready < 0 && errno != EINTR) {
            return errno_error("poll", errno);
        }
        if (ready <= 0) {
            continue;
        }
        std::array<char, 4096> chunk{};
        const ssize_t n = ::read(m_fd, chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return errno_error("read", errno);
        }
        if (n == 0) {
            if (m_buffer.empty()) {
                return std::optional<Message>();
            }
            return malformed("the input ended inside a message");
        }
        m_buffer.append(chunk.data(), static_cast<std::size_t>(n));
        ::explicit_bzero(chunk.data(), chunk.size());
    }
}

std::string request_item(std::string_view text) {
    std::string out(text.substr(0, max_text));
    for (char& c : out) {
        if (!item_text(std::string_view(&c, 1))) {
            c = '_';
        }
    }
    return out;
}

SecureBuffer encode_request(const Request& request) {
    SecureBuffer out = encode(Kind::hello, protocol_version);
    const auto add = [&out](Kind kind, std::string_view value) {
        const SecureBuffer m = encode(kind, value);
        out.append(m.view());
    };
    add(Kind::user, request.user);
    add(Kind::service, request.service);
    add(Kind::tty, request.tty);
    add(Kind::rhost, request.rhost);
    for (const std::string& a : request.args) {
        add(Kind::arg, a);
    }
    if (request.authtok) {
        add(Kind::authtok, request.authtok->view());
    }
    if (request.deferred) {
        add(Kind::deferred, request.deferred->view());
    }
    add(Kind::end, "");
    return out;
}

Result<Request> read_request(MessageReader& reader, std::chrono::steady_clock::time_point deadline) {
    RequestBuilder builder;
    while (!builder.done()) {
        auto m = reader.next(deadline);
        if (!m) {
            return std::move(m).error();
        }
        if (!m.value()) {
            return malformed("the input ended before the request did");
        }
        if (Status st = builder.add(std::move(*m.value())); !st) {
            return st.error();
        }
    }
    return builder.take();
}

Result<Request> decode_request(std::string_view bytes) {
    RequestBuilder builder;
    while (!builder.done()) {
        std::size_t used = 0;
        auto m = parse_message(bytes, used);
        if (!m) {
            return std::move(m).error();
        }
        if (!m.value()) {
            return malformed("the input ended before the request did");
        }
        bytes.remove_prefix(used);
        if (Status st = builder.add(std::move(*m.value())); !st) {
            return st.error();
        }
    }
    if (!bytes.empty()) {
        return malformed("bytes after the end of the request");
    }
    return builder.take();
}

}  // namespace pam_totp::helper
