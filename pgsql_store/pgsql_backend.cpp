// pam_totp_pgsql.so: the state backend on PostgreSQL (pam_totp(8), FLEET),
// behind the C interface of core/store/backend_abi.h. The only code that
// links libpq; pam_totp.so loads it when store=postgresql.
//
// Every call is bounded by the deadline the module gives it, which is that
// of a whole piece of a login's store work (the connection included), not
// of one exchange: the connection is non-blocking and every wait for the
// server is a poll(2) up to that deadline. libpq's own connect_timeout
// does not apply to a non-blocking connect, so the hosts of a conninfo are
// tried here one after the other, each with its share of the time left: a
// host that accepts the connection and never answers does not use up the
// time of the hosts after it. A connection that was lost, or left with an
// exchange unfinished, is never used again: every later call fails at once.
//
// Locks are session-level advisory locks on the state name, so they hold
// across the charge's commit and the settling's, and a host that dies
// releases them with its connection. A durable write commits with
// synchronous_commit on (flushed, and on the synchronous standbys); a
// relaxed one with synchronous_commit off for its transaction.
#include <libpq-fe.h>
#include <poll.h>
#include <strings.h>
#include <time.h>
#include <cerrno>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/store/backend_abi.h"
#include "pgsql_store/pgsql_sql.h"

namespace {

// The key of the advisory locks on state names: a fixed second argument
// of hashtextextended, so that pam_totp's locks are apart from any other
// application's on the same database.
constexpr const char* lock_seed = "1950101";

// libpq's floor for connect_timeout (a smaller value means 2 seconds).
constexpr long long min_connect_timeout_ms = 2000;

struct PgResultFree {
    void operator()(PGresult* r) const noexcept { ::PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

// The parsed conninfo holds the password: wiped before libpq frees it.
struct ConninfoFree {
    void operator()(PQconninfoOption* options) const noexcept {
        for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
            if (o->val != nullptr) {
                ::explicit_bzero(o->val, std::strlen(o->val));
            }
        }
        ::PQconninfoFree(options);
    }
};
using Conninfo = std::unique_ptr<PQconninfoOption, ConninfoFree>;

struct PgConnFree {
    void operator()(PGconn* c) const noexcept { ::PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnFree>;

}  // namespace

struct pam_totp_backend {
    PgConn conn;
    unsigned timeout_ms = 3000;
    // Why the connection can no longer be used (lost, or an exchange left
    // unfinished: its answer could come later and be taken for another's);
    // empty while it can. Every later call fails with it at once.
    std::string broken;
};

namespace {

// CLOCK_MONOTONIC in milliseconds, the clock of the ABI's deadlines.
long long now_ms() noexcept {
    timespec ts{};
    (void)::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void set_error(pam_totp_backend_error* err, const std::string& message) {
    if (err == nullptr) {
        return;
    }
    (void)std::snprintf(err->message, sizeof err->message, "%s", message.c_str());
}

// One log line: libpq's messages run over several lines (a hint, a
// CONTEXT, a DETAIL), so each line break becomes "; " (a space after a
// colon), every other control character a space, runs of spaces one, and
// nothing is left at the ends.
std::string one_line(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool line_break = false;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n' || c == '\r') {
            line_break = true;
            continue;
        }
        if (u < 0x20 || u == 0x7f || c == ' ') {
            if (!out.empty() && out.back() != ' ') {
                out += ' ';
            }
            continue;
        }
        if (line_break && !out.empty()) {
            if (out.back() == ' ') {
                out.pop_back();  // never the only character: no space starts `out`
            }
            const char last = out.empty() ? ' ' : out.back();
            out += last == ':' || last == ';' ? " " : "; ";
        }
        line_break = false;
        out += c;
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    return out;
}

// libpq's message, which may quote the connection string; the password
// (password=... or a URI's user:password@) is cut out before it is logged.
std::string scrubbed(const char* text) {
    std::string s = text != nullptr ? text : "";
    for (std::size_t at = s.find("password="); at != std::string::npos; at = s.find("password=", at + 1)) {
        std::size_t from = at + 9;
        std::size_t end = s.find_first_of(" \n'\"", from);
        if (end == from && from < s.size()) {
            // A quoted value ('...' in a conninfo) runs to its closing quote.
            const char quote = s[from];
            from += 1;
            end = from;
            while (end < s.size() && s[end] != quote) {
                end += s[end] == '\\' ? 2 : 1;
            }
            end = std::min(end, s.size());
        }
        s.replace(from, (end == std::string::npos ? s.size() : end) - from, "(hidden)");
    }
    for (std::size_t at = s.find("://"); at != std::string::npos; at = s.find("://", at + 3)) {
        const std::size_t amp = s.find('@', at);
        const std::size_t colon = s.find(':', at + 3);
        if (amp != std::string::npos && colon != std::string::npos && colon < amp) {
            s.replace(colon + 1, amp - colon - 1, "(hidden)");
        }
    }
    return one_line(s);
}

// A conninfo parse error quotes pieces of the string, which may be the
// password (a bad percent-escape in a URI, a URI with spaces): only quoted
// words that can be nothing but a keyword (or "=") are kept.
std::string parse_error(const char* text) {
    std::string s = text != nullptr ? text : "";
    std::size_t from = 0;
    for (std::size_t open = s.find('"'); open != std::string::npos; open = s.find('"', from)) {
        const std::size_t close = s.find('"', open + 1);
        if (close == std::string::npos) {
            s.replace(open + 1, std::string::npos, "(hidden)");
            break;
        }
        const std::string_view quoted(s.data() + open + 1, close - open - 1);
        const bool keyword = quoted == "=" || (!quoted.empty() && std::all_of(quoted.begin(), quoted.end(), [](char c) {
                                 return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
                             }));
        if (!keyword) {
            s.replace(open + 1, close - open - 1, "(hidden)");
        }
        from = s.find('"', open + 1) + 1;
    }
    return one_line(s);
}

// "what: detail", or "what" alone when libpq said nothing.
std::string with_detail(const std::string& what, const std::string& detail) {
    return detail.empty() ? what : what + ": " + detail;
}

// Waits until the socket is ready for `events` or the deadline passes.
bool wait_socket(PGconn* conn, short events, long long deadline) {
    for (;;) {
        const long long left = deadline - now_ms();
        if (left <= 0) {
            return false;
        }
        pollfd pfd{::PQsocket(conn), events, 0};
        const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 1000)));
        if (rc > 0) {
            return true;
        }
        if (rc < 0 && errno != EINTR) {
            return false;
        }
    }
}

std::string late(const pam_totp_backend* b) {
    return "PostgreSQL: no answer in time (the store's timeout, " + std::to_string(b->timeout_ms) +
           " ms for this part of the login, is spent)";
}

// Runs one statement with text parameters, by the deadline. The result,
// or nullptr with *status and err set: UNAVAILABLE when the server could
// not be reached or answered too late, UNKNOWN when a statement that
// writes may have run (`writes`), INVALID for an error the server reported.
PgResult run(pam_totp_backend* b, const char* sql, const std::vector<const char*>& params, bool writes,
             long long deadline, int* status, pam_totp_backend_error* err) {
    if (!b->broken.empty()) {
        *status = PAM_TOTP_BACKEND_UNAVAILABLE;
        set_error(err, b->broken);
        return PgResult();
    }
    if (deadline - now_ms() <= 0) {
        // Nothing sent: the connection stays usable for the next piece of work.
        *status = PAM_TOTP_BACKEND_UNAVAILABLE;
        set_error(err, late(b));
        return PgResult();
    }
    PGconn* const conn = b->conn.get();
    // The connection cannot be used again: what was sent may still be
    // answered, and that answer would be read as the next statement's.
    const auto fail = [&](int code, const std::string& what) {
        *status = code;
        b->broken = with_detail(what, scrubbed(::PQerrorMessage(conn)));
        set_error(err, b->broken);
        return PgResult();
    };
    // Out of time: libpq has nothing to add (or an older message).
    const auto too_late = [&](int code) {
        *status = code;
        b->broken = late(b);
        set_error(err, b->broken);
        return PgResult();
    };
    if (::PQsendQueryParams(conn, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr, 0) ==
        0) {
        return fail(PAM_TOTP_BACKEND_UNAVAILABLE, "PostgreSQL: cannot send the statement");
    }
    // From here a write may reach the server: not knowing its end is UNKNOWN.
    const int lost = writes ? PAM_TOTP_BACKEND_UNKNOWN : PAM_TOTP_BACKEND_UNAVAILABLE;
    for (;;) {
        const int flushed = ::PQflush(conn);
        if (flushed < 0) {
            return fail(lost, "PostgreSQL: connection lost");
        }
        if (flushed == 0) {
            break;
        }
        if (!wait_socket(conn, POLLOUT | POLLIN, deadline)) {
            return too_late(lost);
        }
        if (::PQconsumeInput(conn) == 0) {
            return fail(lost, "PostgreSQL: connection lost");
        }
    }
    PgResult last;
    for (;;) {
        while (::PQisBusy(conn) != 0) {
            if (!wait_socket(conn, POLLIN, deadline)) {
                return too_late(lost);
            }
            if (::PQconsumeInput(conn) == 0) {
                return fail(lost, "PostgreSQL: connection lost");
            }
        }
        PgResult r(::PQgetResult(conn));
        if (!r) {
            break;
        }
        last = std::move(r);
    }
    if (!last) {
        return fail(lost, "PostgreSQL: no result");
    }
    const ExecStatusType st = ::PQresultStatus(last.get());
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char* state = ::PQresultErrorField(last.get(), PG_DIAG_SQLSTATE);
        const std::string code = state != nullptr ? state : "";
        // Class 08 (connection), 57P (shutdown), 25006 (read-only: a
        // standby, or default_transaction_read_only), 53300 (too many
        // connections), 40001 (serialization), and the server's own time
        // limits, which end a statement about when the deadline here does
        // (57014 statement_timeout, 55P03 lock_timeout; what they cancel
        // was not written): the store is not usable now. Anything else is
        // a refusal of what was sent.
        const bool unavailable = code.starts_with("08") || code.starts_with("57P") || code == "25006" ||
                                 code == "53300" || code == "40001" || code == "55P03" || code == "57014";
        *status = unavailable ? PAM_TOTP_BACKEND_UNAVAILABLE : PAM_TOTP_BACKEND_INVALID;
        const std::string message =
            with_detail("PostgreSQL (" + code + ")", scrubbed(::PQresultErrorMessage(last.get())));
        if (::PQstatus(conn) == CONNECTION_BAD) {
            b->broken = message;  // the server ended the session (a shutdown, a crash)
        }
        set_error(err, message);
        return PgResult();
    }
    *status = PAM_TOTP_BACKEND_OK;
    return last;
}

char* copy_text(const char* text) {
    const std::size_t n = std::strlen(text);
    auto* out = static_cast<char*>(std::malloc(n + 1));  // NOLINT(cppcoreguidelines-no-malloc): freed by free_text
    if (out != nullptr) {
        std::memcpy(out, text, n + 1);
    }
    return out;
}

// A text[] literal of token ids (lower-case hex only: nothing to quote).
std::string array_literal(const char* const* items, std::size_t n) {
    std::string out = "{";
    for (std::size_t i = 0; i < n; ++i) {
        out += (i > 0 ? "," : "");
        out += items[i];
    }
    return out + "}";
}

// The comma-separated items of a host, hostaddr or port value.
std::vector<std::string> split_list(const char* value) {
    std::vector<std::string> out;
    if (value == nullptr) {
        return out;
    }
    const std::string_view v(value);
    std::size_t from = 0;
    for (;;) {
        const std::size_t comma = v.find(',', from);
        out.emplace_back(v.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from));
        if (comma == std::string_view::npos) {
            return out;
        }
        from = comma + 1;
    }
}

// One host of the conninfo: its host, hostaddr and port items (empty: not
// given, libpq's default).
struct Target {
    std::string host;
    std::string hostaddr;
    std::string port;

    [[nodiscard]] std::string label() const {
        std::string name = !host.empty() ? host : !hostaddr.empty() ? hostaddr : std::string("the default host");
        if (!hostaddr.empty() && !host.empty() && hostaddr != host) {
            name += " (" + hostaddr + ")";
        }
        return port.empty() ? name : name + " port " + port;
    }
};

// The conninfo parsed (a key=value string or a URI; service=NAME stays a
// key, which libpq expands when it connects).
struct ParsedConninfo {
    Conninfo options;
    std::vector<Target> targets;       // in the conninfo's order
    long long connect_timeout_ms = 0;  // 0: none given
};

const char* option(const PQconninfoOption* options, const char* key) {
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (std::strcmp(o->keyword, key) == 0) {
            return o->val;
        }
    }
    return nullptr;
}

// The hosts as libpq counts them: hostaddr's items if given (host's, if
// given too, must be as many), else host's; port one for all or one each.
bool parse_conninfo(const char* config, ParsedConninfo& out, pam_totp_backend_error* err) {
    char* raw_error = nullptr;
    out.options.reset(::PQconninfoParse(config, &raw_error));
    if (!out.options) {
        set_error(err, with_detail("PostgreSQL: the conninfo of the store's configuration cannot be parsed",
                                   raw_error != nullptr ? parse_error(raw_error) : "out of memory"));
        ::PQfreemem(raw_error);
        return false;
    }
    const PQconninfoOption* options = out.options.get();
    const std::vector<std::string> hosts = split_list(option(options, "host"));
    const std::vector<std::string> addrs = split_list(option(options, "hostaddr"));
    const std::vector<std::string> ports = split_list(option(options, "port"));
    const std::size_t n = std::max<std::size_t>({hosts.size(), addrs.size(), 1});
    if ((!hosts.empty() && hosts.size() != n) || (!addrs.empty() && addrs.size() != n) ||
        (ports.size() > 1 && ports.size() != n)) {
        set_error(err, "PostgreSQL: the conninfo of the store's configuration gives " + std::to_string(hosts.size()) +
                           " hosts, " + std::to_string(addrs.size()) + " hostaddrs and " +
                           std::to_string(ports.size()) + " ports, which do not match");
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        out.targets.push_back(Target{hosts.empty() ? "" : hosts[i], addrs.empty() ? "" : addrs[i],
                                     ports.empty() ? "" : ports[ports.size() == 1 ? 0 : i]});
    }
    if (const char* t = option(options, "connect_timeout"); t != nullptr) {
        const long long seconds = std::strtoll(t, nullptr, 10);
        if (seconds > 0) {
            out.connect_timeout_ms = std::max(seconds * 1000, min_connect_timeout_ms);
        }
    }
    return true;
}

// One connection to one host of the conninfo, by `deadline`: its options
// are the conninfo's with that host's host, hostaddr and port alone.
// Null, with `why` set, when it cannot be made in time.
PgConn connect_one(const ParsedConninfo& parsed, const Target& target, long long start, long long deadline,
                   std::string& why) {
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const PQconninfoOption* o = parsed.options.get(); o->keyword != nullptr; ++o) {
        const bool per_host = std::strcmp(o->keyword, "host") == 0 || std::strcmp(o->keyword, "hostaddr") == 0 ||
                              std::strcmp(o->keyword, "port") == 0;
        if (o->val != nullptr && !per_host) {
            keys.push_back(o->keyword);
            values.push_back(o->val);
        }
    }
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"host", &target.host},
                                     {"hostaddr", &target.hostaddr},
                                     {"port", &target.port}}) {
        if (!value->empty()) {
            keys.push_back(key);
            values.push_back(value->c_str());
        }
    }
    // The application name makes pam_totp's sessions easy to find.
    keys.push_back("fallback_application_name");
    values.push_back("pam_totp");
    keys.push_back(nullptr);
    values.push_back(nullptr);
    // expand_dbname 0: the conninfo was parsed above, dbname is a name.
    PgConn conn(::PQconnectStartParams(keys.data(), values.data(), 0));
    if (!conn) {
        why = "out of memory";
        return conn;
    }
    if (::PQstatus(conn.get()) == CONNECTION_BAD) {
        why = with_detail("cannot connect", scrubbed(::PQerrorMessage(conn.get())));
        return PgConn();
    }
    PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
    while (poll_status != PGRES_POLLING_OK) {
        if (poll_status == PGRES_POLLING_FAILED) {
            why = with_detail("cannot connect", scrubbed(::PQerrorMessage(conn.get())));
            return PgConn();
        }
        const short events = poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (!wait_socket(conn.get(), events, deadline)) {
            why = "no answer within its " + std::to_string(deadline - start) + " ms";
            return PgConn();
        }
        poll_status = ::PQconnectPoll(conn.get());
    }
    if (::PQsetnonblocking(conn.get(), 1) != 0) {
        why = "cannot make the connection non-blocking";
        return PgConn();
    }
    return conn;
}

pam_totp_backend* backend_open(const char* config, unsigned timeout_ms, long long deadline,
                               pam_totp_backend_error* err) {
    ParsedConninfo parsed;
    if (!parse_conninfo(config, parsed, err)) {
        return nullptr;
    }
    auto b = std::make_unique<pam_totp_backend>();
    b->timeout_ms = timeout_ms;
    std::string failures;
    for (std::size_t i = 0; i < parsed.targets.size() && !b->conn; ++i) {
        const long long start = now_ms();
        if (deadline - start <= 0) {
            failures += (failures.empty() ? "" : "; ") + parsed.targets[i].label() + ": not tried (no time left)";
            continue;
        }
        // Each host its share of the time left (and no more than
        // connect_timeout): a host that never answers leaves the hosts
        // after it their time.
        long long share = (deadline - start) / static_cast<long long>(parsed.targets.size() - i);
        if (parsed.connect_timeout_ms > 0) {
            share = std::min(share, parsed.connect_timeout_ms);
        }
        std::string why;
        const long long until = std::min(deadline, start + std::max(share, 1LL));
        b->conn = connect_one(parsed, parsed.targets[i], start, until, why);
        if (!b->conn) {
            failures += (failures.empty() ? "" : "; ") + parsed.targets[i].label() + ": " + why;
        }
    }
    if (!b->conn) {
        set_error(err, "PostgreSQL: no connection (" + failures + ")");
        return nullptr;
    }
    // The server gives up on a statement or lock no later than the client.
    int status = 0;
    const std::string ms = std::to_string(timeout_ms);
    if (!run(b.get(), pgsql::session_setup, {ms.c_str()}, false, deadline, &status, err)) {
        return nullptr;
    }
    return b.release();
}

void backend_close(pam_totp_backend* b) {
    // PQfinish ends the session (its advisory locks go with it) without
    // waiting: the connection is non-blocking.
    delete b;  // NOLINT(cppcoreguidelines-owning-memory): made by backend_open
}

int backend_read_claims(pam_totp_backend* b, const char* const* ids, std::size_t n, char** holders, long long deadline,
                        pam_totp_backend_error* err) {
    for (std::size_t i = 0; i < n; ++i) {
        holders[i] = nullptr;
    }
    if (n == 0) {
        return PAM_TOTP_BACKEND_OK;
    }
    int status = 0;
    const std::string ids_literal = array_literal(ids, n);
    const PgResult r = run(b, pgsql::read_claims, {ids_literal.c_str()}, false, deadline, &status, err);
    if (!r) {
        return status;
    }
    for (int row = 0; row < ::PQntuples(r.get()); ++row) {
        const char* id = ::PQgetvalue(r.get(), row, 0);
        for (std::size_t i = 0; i < n; ++i) {
            if (std::strcmp(ids[i], id) == 0 && holders[i] == nullptr) {
                holders[i] = copy_text(::PQgetvalue(r.get(), row, 1));
                if (holders[i] == nullptr) {
                    set_error(err, "out of memory");
                    return PAM_TOTP_BACKEND_UNAVAILABLE;
                }
            }
        }
    }
    return PAM_TOTP_BACKEND_OK;
}

int backend_add_claim(pam_totp_backend* b, const char* id, const char* holder, long long deadline,
                      pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::add_claim, {id, holder}, true, deadline, &status, err);
    if (!r) {
        return status;
    }
    return std::strcmp(::PQgetvalue(r.get(), 0, 0), "t") == 0 ? PAM_TOTP_BACKEND_OK : PAM_TOTP_BACKEND_EXISTS;
}

int backend_drop_claim(pam_totp_backend* b, const char* id, const char* holder, long long deadline,
                       pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::drop_claim, {id, holder}, true, deadline, &status, err);
    return r ? PAM_TOTP_BACKEND_OK : status;
}

int backend_lock(pam_totp_backend* b, const char* name, unsigned wait_ms, long long deadline,
                 pam_totp_backend_error* err) {
    // pg_try_advisory_lock and a pause, as the file store polls flock: a
    // blocking pg_advisory_lock would outlive a client that gave up.
    const long long wait_until = std::min(now_ms() + wait_ms, deadline);
    long pause_ms = 1;
    for (;;) {
        int status = 0;
        const PgResult r = run(b, pgsql::try_lock, {name, lock_seed}, false, deadline, &status, err);
        if (!r) {
            return status;
        }
        if (std::strcmp(::PQgetvalue(r.get(), 0, 0), "t") == 0) {
            return PAM_TOTP_BACKEND_OK;
        }
        const long long left = wait_until - now_ms();
        if (left <= 0) {
            set_error(err,
                      std::string("PostgreSQL: the state ") + name + " stayed locked by another login for all the " +
                          std::to_string(std::min<long long>(wait_ms, b->timeout_ms)) + " ms this login could wait");
            return PAM_TOTP_BACKEND_BUSY;
        }
        const long nap = static_cast<long>(std::min<long long>(pause_ms, left));
        const timespec ts{0, nap * 1000000L};
        ::nanosleep(&ts, nullptr);
        pause_ms = std::min(pause_ms * 2, 25L);
    }
}

int backend_unlock_all(pam_totp_backend* b, long long deadline, pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::unlock_all, {}, false, deadline, &status, err);
    return r ? PAM_TOTP_BACKEND_OK : status;
}

int backend_read(pam_totp_backend* b, const char* name, char** text, long long deadline, pam_totp_backend_error* err) {
    *text = nullptr;
    int status = 0;
    const PgResult r = run(b, pgsql::read_state, {name}, false, deadline, &status, err);
    if (!r) {
        return status;
    }
    if (::PQntuples(r.get()) == 1) {
        *text = copy_text(::PQgetvalue(r.get(), 0, 0));
        if (*text == nullptr) {
            set_error(err, "out of memory");
            return PAM_TOTP_BACKEND_UNAVAILABLE;
        }
    }
    return PAM_TOTP_BACKEND_OK;
}

int backend_write(pam_totp_backend* b, const char* name, const char* text, int durable, long long deadline,
                  pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::save_state, {name, text, durable != 0 ? "t" : "f"}, true, deadline, &status, err);
    return r ? PAM_TOTP_BACKEND_OK : status;
}

void backend_free_text(char* text) {
    std::free(text);  // NOLINT(cppcoreguidelines-no-malloc): made by copy_text
}

// Nothing may unwind into the module's C frames: every entry point runs
// its body through this (an allocation failure is an unavailable store).
template <typename Body>
int guarded(pam_totp_backend_error* err, Body&& body) noexcept {
    try {
        return body();
    } catch (...) {
        set_error(err, "PostgreSQL backend: out of memory or internal error");
        return PAM_TOTP_BACKEND_UNAVAILABLE;
    }
}

constexpr pam_totp_backend_ops ops = {
    PAM_TOTP_BACKEND_ABI,
    [](const char* config, unsigned timeout_ms, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept -> pam_totp_backend* {
        try {
            return backend_open(config, timeout_ms, deadline, err);
        } catch (...) {
            set_error(err, "PostgreSQL backend: out of memory or internal error");
            return nullptr;
        }
    },
    [](pam_totp_backend* b) noexcept { backend_close(b); },
    [](pam_totp_backend* b, const char* const* ids, std::size_t n, char** holders, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_read_claims(b, ids, n, holders, deadline, err); });
    },
    [](pam_totp_backend* b, const char* id, const char* holder, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_add_claim(b, id, holder, deadline, err); });
    },
    [](pam_totp_backend* b, const char* id, const char* holder, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_drop_claim(b, id, holder, deadline, err); });
    },
    [](pam_totp_backend* b, const char* name, unsigned wait_ms, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_lock(b, name, wait_ms, deadline, err); });
    },
    [](pam_totp_backend* b, pam_totp_deadline deadline, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_unlock_all(b, deadline, err); });
    },
    [](pam_totp_backend* b, const char* name, char** text, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_read(b, name, text, deadline, err); });
    },
    [](pam_totp_backend* b, const char* name, const char* text, int durable, pam_totp_deadline deadline,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_write(b, name, text, durable, deadline, err); });
    },
    [](char* text) noexcept { backend_free_text(text); },
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const pam_totp_backend_ops* pam_totp_backend_v2() noexcept {
    return &ops;
}
