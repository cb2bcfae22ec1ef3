// pam_totp_pgsql.so: the state backend on PostgreSQL (pam_totp(8), FLEET),
// behind the C interface of core/store/backend_abi.h. The only code that
// links libpq; pam_totp.so loads it when store=postgresql.
//
// Every call is bounded: the connection is non-blocking and every wait for
// the server is a poll(2) with the deadline the module gave (libpq's own
// connect_timeout has a 2-second floor and covers only the connect).
// Locks are session-level advisory locks on the state name, so they hold
// across the charge's commit and the settling's, and a host that dies
// releases them with its connection. A durable write commits with
// synchronous_commit on (flushed, and on the synchronous standbys); a
// relaxed one with synchronous_commit off for its transaction.
#include <libpq-fe.h>
#include <poll.h>
#include <time.h>
#include <cerrno>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/store/backend_abi.h"
#include "pgsql_store/pgsql_sql.h"

namespace {

using Clock = std::chrono::steady_clock;

// The key of the advisory locks on state names: a fixed second argument
// of hashtextextended, so that pam_totp's locks are apart from any other
// application's on the same database.
constexpr const char* lock_seed = "1950101";

struct PgResultFree {
    void operator()(PGresult* r) const noexcept { ::PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

}  // namespace

struct pam_totp_backend {
    PGconn* conn = nullptr;
    unsigned timeout_ms = 3000;
};

namespace {

void set_error(pam_totp_backend_error* err, const std::string& message) {
    if (err == nullptr) {
        return;
    }
    (void)std::snprintf(err->message, sizeof err->message, "%s", message.c_str());
}

// libpq's message, which may quote the connection string; the password
// (password=... or a URI's user:password@) is cut out before it is logged.
std::string scrubbed(const char* text) {
    std::string s = text != nullptr ? text : "";
    for (std::size_t at = s.find("password="); at != std::string::npos; at = s.find("password=", at + 1)) {
        std::size_t end = s.find_first_of(" \n'\"", at + 9);
        s.replace(at + 9, (end == std::string::npos ? s.size() : end) - (at + 9), "(hidden)");
    }
    for (std::size_t at = s.find("://"); at != std::string::npos; at = s.find("://", at + 3)) {
        const std::size_t amp = s.find('@', at);
        const std::size_t colon = s.find(':', at + 3);
        if (amp != std::string::npos && colon != std::string::npos && colon < amp) {
            s.replace(colon + 1, amp - colon - 1, "(hidden)");
        }
    }
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

long remaining_ms(Clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
}

// Waits until the socket is ready for `events` or the deadline passes.
bool wait_socket(PGconn* conn, short events, Clock::time_point deadline) {
    for (;;) {
        const long left = remaining_ms(deadline);
        if (left <= 0) {
            return false;
        }
        pollfd pfd{::PQsocket(conn), events, 0};
        const int rc = ::poll(&pfd, 1, static_cast<int>(std::min<long>(left, 1000)));
        if (rc > 0) {
            return true;
        }
        if (rc < 0 && errno != EINTR) {
            return false;
        }
    }
}

// Runs one statement with text parameters, within the deadline. The
// result, or nullptr with *status and err set: UNAVAILABLE when the server
// could not be reached or answered too late, UNKNOWN when a statement that
// writes may have run (`writes`), INVALID for an error the server reported.
PgResult run(pam_totp_backend* b, const char* sql, const std::vector<const char*>& params, bool writes, int* status,
             pam_totp_backend_error* err) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(b->timeout_ms);
    const auto fail = [&](int code, const std::string& what) {
        *status = code;
        set_error(err, what + ": " + scrubbed(::PQerrorMessage(b->conn)));
        return PgResult();
    };
    if (::PQsendQueryParams(b->conn, sql, static_cast<int>(params.size()), nullptr, params.data(), nullptr, nullptr,
                            0) == 0) {
        return fail(PAM_TOTP_BACKEND_UNAVAILABLE, "PostgreSQL: cannot send the statement");
    }
    // From here a write may reach the server: not knowing its end is UNKNOWN.
    const int lost = writes ? PAM_TOTP_BACKEND_UNKNOWN : PAM_TOTP_BACKEND_UNAVAILABLE;
    for (;;) {
        const int flushed = ::PQflush(b->conn);
        if (flushed < 0) {
            return fail(lost, "PostgreSQL: connection lost");
        }
        if (flushed == 0) {
            break;
        }
        if (!wait_socket(b->conn, POLLOUT | POLLIN, deadline)) {
            return fail(lost, "PostgreSQL: no answer within " + std::to_string(b->timeout_ms) + " ms");
        }
        if (::PQconsumeInput(b->conn) == 0) {
            return fail(lost, "PostgreSQL: connection lost");
        }
    }
    PgResult last;
    for (;;) {
        while (::PQisBusy(b->conn) != 0) {
            if (!wait_socket(b->conn, POLLIN, deadline)) {
                return fail(lost, "PostgreSQL: no answer within " + std::to_string(b->timeout_ms) + " ms");
            }
            if (::PQconsumeInput(b->conn) == 0) {
                return fail(lost, "PostgreSQL: connection lost");
            }
        }
        PgResult r(::PQgetResult(b->conn));
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
        // standby, or default_transaction_read_only): the store is not
        // usable now. Anything else is a refusal of what was sent.
        const bool unavailable = code.starts_with("08") || code.starts_with("57P") || code == "25006" ||
                                 code == "53300" || code == "40001" || code == "55P03";
        *status = unavailable ? PAM_TOTP_BACKEND_UNAVAILABLE : PAM_TOTP_BACKEND_INVALID;
        set_error(err, "PostgreSQL (" + code + "): " + scrubbed(::PQresultErrorMessage(last.get())));
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

pam_totp_backend* backend_open(const char* config, unsigned timeout_ms, pam_totp_backend_error* err) {
    auto b = std::make_unique<pam_totp_backend>();
    b->timeout_ms = timeout_ms;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    // The conninfo is expanded as a connection string (or service=NAME);
    // the application name makes pam_totp's sessions easy to find.
    const char* keys[] = {"dbname", "application_name", "fallback_application_name", nullptr};
    const char* values[] = {config, nullptr, "pam_totp", nullptr};
    b->conn = ::PQconnectStartParams(keys, values, 1);
    if (b->conn == nullptr) {
        set_error(err, "PostgreSQL: out of memory");
        return nullptr;
    }
    if (::PQstatus(b->conn) == CONNECTION_BAD) {
        set_error(err, "PostgreSQL: " + scrubbed(::PQerrorMessage(b->conn)));
        ::PQfinish(b->conn);
        return nullptr;
    }
    PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
    while (poll_status != PGRES_POLLING_OK) {
        if (poll_status == PGRES_POLLING_FAILED) {
            set_error(err, "PostgreSQL: cannot connect: " + scrubbed(::PQerrorMessage(b->conn)));
            ::PQfinish(b->conn);
            return nullptr;
        }
        const short events = poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (!wait_socket(b->conn, events, deadline)) {
            set_error(err, "PostgreSQL: no connection within " + std::to_string(timeout_ms) + " ms");
            ::PQfinish(b->conn);
            return nullptr;
        }
        poll_status = ::PQconnectPoll(b->conn);
    }
    if (::PQsetnonblocking(b->conn, 1) != 0) {
        set_error(err, "PostgreSQL: cannot make the connection non-blocking");
        ::PQfinish(b->conn);
        return nullptr;
    }
    // The server gives up on a statement or lock no later than the client.
    int status = 0;
    const std::string ms = std::to_string(timeout_ms);
    if (!run(b.get(), pgsql::session_setup, {ms.c_str()}, false, &status, err)) {
        ::PQfinish(b->conn);
        return nullptr;
    }
    return b.release();
}

void backend_close(pam_totp_backend* b) {
    if (b != nullptr) {
        ::PQfinish(b->conn);  // ends the session: its advisory locks go with it
        delete b;             // NOLINT(cppcoreguidelines-owning-memory): made by backend_open
    }
}

int backend_read_claims(pam_totp_backend* b, const char* const* ids, std::size_t n, char** holders,
                        pam_totp_backend_error* err) {
    for (std::size_t i = 0; i < n; ++i) {
        holders[i] = nullptr;
    }
    if (n == 0) {
        return PAM_TOTP_BACKEND_OK;
    }
    int status = 0;
    const std::string ids_literal = array_literal(ids, n);
    const PgResult r = run(b, pgsql::read_claims, {ids_literal.c_str()}, false, &status, err);
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

int backend_add_claim(pam_totp_backend* b, const char* id, const char* holder, pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::add_claim, {id, holder}, true, &status, err);
    if (!r) {
        return status;
    }
    return std::strcmp(::PQgetvalue(r.get(), 0, 0), "t") == 0 ? PAM_TOTP_BACKEND_OK : PAM_TOTP_BACKEND_EXISTS;
}

int backend_drop_claim(pam_totp_backend* b, const char* id, const char* holder, pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::drop_claim, {id, holder}, true, &status, err);
    return r ? PAM_TOTP_BACKEND_OK : status;
}

int backend_lock(pam_totp_backend* b, const char* name, unsigned wait_ms, pam_totp_backend_error* err) {
    // pg_try_advisory_lock and a pause, as the file store polls flock: a
    // blocking pg_advisory_lock would outlive a client that gave up.
    const auto deadline = Clock::now() + std::chrono::milliseconds(std::min(wait_ms, b->timeout_ms));
    long pause_ms = 1;
    for (;;) {
        int status = 0;
        const PgResult r = run(b, pgsql::try_lock, {name, lock_seed}, false, &status, err);
        if (!r) {
            return status;
        }
        if (std::strcmp(::PQgetvalue(r.get(), 0, 0), "t") == 0) {
            return PAM_TOTP_BACKEND_OK;
        }
        if (remaining_ms(deadline) <= 0) {
            set_error(err, std::string("PostgreSQL: the state ") + name +
                               " stays locked by another login for more than " +
                               std::to_string(std::min(wait_ms, b->timeout_ms)) + " ms");
            return PAM_TOTP_BACKEND_BUSY;
        }
        const long nap = std::min(pause_ms, std::max(remaining_ms(deadline), 1L));
        const timespec ts{0, nap * 1000000L};
        ::nanosleep(&ts, nullptr);
        pause_ms = std::min(pause_ms * 2, 25L);
    }
}

int backend_unlock_all(pam_totp_backend* b, pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::unlock_all, {}, false, &status, err);
    return r ? PAM_TOTP_BACKEND_OK : status;
}

int backend_read(pam_totp_backend* b, const char* name, char** text, pam_totp_backend_error* err) {
    *text = nullptr;
    int status = 0;
    const PgResult r = run(b, pgsql::read_state, {name}, false, &status, err);
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

int backend_write(pam_totp_backend* b, const char* name, const char* text, int durable, pam_totp_backend_error* err) {
    int status = 0;
    const PgResult r = run(b, pgsql::save_state, {name, text, durable != 0 ? "t" : "f"}, true, &status, err);
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
    [](const char* config, unsigned timeout_ms, pam_totp_backend_error* err) noexcept -> pam_totp_backend* {
        try {
            return backend_open(config, timeout_ms, err);
        } catch (...) {
            set_error(err, "PostgreSQL backend: out of memory or internal error");
            return nullptr;
        }
    },
    [](pam_totp_backend* b) noexcept { backend_close(b); },
    [](pam_totp_backend* b, const char* const* ids, std::size_t n, char** holders,
       pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_read_claims(b, ids, n, holders, err); });
    },
    [](pam_totp_backend* b, const char* id, const char* holder, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_add_claim(b, id, holder, err); });
    },
    [](pam_totp_backend* b, const char* id, const char* holder, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_drop_claim(b, id, holder, err); });
    },
    [](pam_totp_backend* b, const char* name, unsigned wait_ms, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_lock(b, name, wait_ms, err); });
    },
    [](pam_totp_backend* b, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_unlock_all(b, err); });
    },
    [](pam_totp_backend* b, const char* name, char** text, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_read(b, name, text, err); });
    },
    [](pam_totp_backend* b, const char* name, const char* text, int durable, pam_totp_backend_error* err) noexcept {
        return guarded(err, [&] { return backend_write(b, name, text, durable, err); });
    },
    [](char* text) noexcept { backend_free_text(text); },
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const pam_totp_backend_ops* pam_totp_backend_v1() noexcept {
    return &ops;
}
