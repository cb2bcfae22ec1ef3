#include "admin_tool/store_admin.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "core/files/kv_format.h"
#include "core/files/store_config.h"
#include "core/util/write_all.h"
#include "pgsql_store/pgsql_sql.h"

namespace totp_admin {
namespace {

struct ConnClose {
    void operator()(PGconn* c) const noexcept { ::PQfinish(c); }
};
struct ResultClear {
    void operator()(PGresult* r) const noexcept { ::PQclear(r); }
};
using Conn = std::unique_ptr<PGconn, ConnClose>;
using PgResult = std::unique_ptr<PGresult, ResultClear>;

int fail(const std::string& message) {
    (void)pam_totp::write_all(STDERR_FILENO, "totp-admin: " + message + "\n");
    return exit_not_done;
}

// libpq's message without a password it may quote, without its line end.
std::string message_of(const char* text) {
    std::string s = text != nullptr ? text : "";
    for (std::size_t at = s.find("password="); at != std::string::npos; at = s.find("password=", at + 1)) {
        const std::size_t end = s.find_first_of(" \n'\"", at + 9);
        s.replace(at + 9, (end == std::string::npos ? s.size() : end) - (at + 9), "(hidden)");
    }
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// Runs SQL (one or more statements); an error message, empty when it worked.
std::string exec(PGconn* c, const char* sql, PgResult* out = nullptr) {
    PgResult r(::PQexec(c, sql));
    const ExecStatusType st = r ? ::PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        return message_of(r ? ::PQresultErrorMessage(r.get()) : ::PQerrorMessage(c));
    }
    if (out != nullptr) {
        *out = std::move(r);
    }
    return {};
}

// The schema version in the database: 0 when there is none yet.
int current_version(PGconn* c, std::string& problem) {
    PgResult r;
    problem = exec(c, "SELECT to_regclass('pam_totp.meta') IS NOT NULL", &r);
    if (!problem.empty() || std::string(::PQgetvalue(r.get(), 0, 0)) != "t") {
        return 0;
    }
    problem = exec(c, "SELECT value FROM pam_totp.meta WHERE key = 'schema_version'", &r);
    if (!problem.empty() || ::PQntuples(r.get()) != 1) {
        return 0;
    }
    const auto version = pam_totp::parse_decimal(::PQgetvalue(r.get(), 0, 0), 1000000);
    if (!version) {
        problem = "pam_totp.meta holds a schema_version that is not a number; fix it by hand";
        return 0;
    }
    return static_cast<int>(version.value());
}

// The user= of a connection string; empty when it names none.
std::string user_of(const std::string& conninfo) {
    char* err = nullptr;
    PQconninfoOption* opts = ::PQconninfoParse(conninfo.c_str(), &err);
    std::string user;
    if (opts != nullptr) {
        for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
            if (std::string(o->keyword) == "user" && o->val != nullptr) {
                user = o->val;
            }
        }
        ::PQconninfoFree(opts);
    }
    ::PQfreemem(err);
    return user;
}

// The rows of a query's result, as text pairs of its two columns.
std::vector<std::pair<std::string, std::string>> pairs_of(PGresult* r) {
    std::vector<std::pair<std::string, std::string>> out;
    const int rows = ::PQntuples(r);
    out.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
        out.emplace_back(::PQgetvalue(r, i, 0), ::PQgetvalue(r, i, 1));
    }
    return out;
}

}  // namespace

pam_totp::Result<SharedRows> read_shared_store(const std::string& store_config) {
    auto config = pam_totp::read_store_config(store_config, "");
    if (!config) {
        return pam_totp::make_error(config.error().code,
                                    config.error().message + " (give the module's store_config= as --store-config)");
    }
    // store.conf's timeout bounds the connection (connect_timeout) and each
    // statement (statement_timeout), as it bounds a login's work.
    const std::string seconds = std::to_string(config.value().timeout.count());
    const std::string conninfo(config.value().conninfo.view());
    const char* const keys[] = {"connect_timeout", "dbname", nullptr};
    const char* const values[] = {seconds.c_str(), conninfo.c_str(), nullptr};
    Conn c(::PQconnectdbParams(keys, values, 1));
    if (!c || ::PQstatus(c.get()) != CONNECTION_OK) {
        return pam_totp::make_error(
            pam_totp::Errc::unavailable,
            "cannot reach the shared store: " + message_of(c ? ::PQerrorMessage(c.get()) : "out of memory") +
                " (check that the server is up and store.conf's conninfo)");
    }
    const std::string begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = " +
                              std::to_string(config.value().timeout.count() * 1000);
    if (std::string e = exec(c.get(), begin.c_str()); !e.empty()) {
        return pam_totp::make_error(pam_totp::Errc::unavailable, "the shared store: " + e);
    }
    PgResult states;
    PgResult claims;
    std::string e = exec(c.get(), "SELECT name, state FROM pam_totp.states ORDER BY name", &states);
    if (e.empty()) {
        e = exec(c.get(), "SELECT token_id, holder FROM pam_totp.claims", &claims);
    }
    if (!e.empty()) {
        return pam_totp::make_error(pam_totp::Errc::unavailable,
                                    "reading the shared store: " + e +
                                        " (a store without the schema needs totp-admin --init-store; the role "
                                        "needs the grants it prints)");
    }
    (void)exec(c.get(), "COMMIT");
    return SharedRows{pairs_of(states.get()), pairs_of(claims.get())};
}

int run_init_store(const CliOptions& opts) {
    auto config = pam_totp::read_store_config(opts.store_config, "");
    if (!config && !opts.conninfo) {
        return fail(config.error().message + "; write it first (pam_totp(8), FLEET), or give --conninfo");
    }
    const std::string store_conninfo = config ? std::string(config.value().conninfo.view()) : std::string();
    const std::string conninfo = opts.conninfo.value_or(store_conninfo);
    std::string host_role = opts.host_role.value_or(config ? user_of(store_conninfo) : std::string());
    Conn c(::PQconnectdb(conninfo.c_str()));
    if (!c || ::PQstatus(c.get()) != CONNECTION_OK) {
        return fail("cannot connect: " + message_of(c ? ::PQerrorMessage(c.get()) : "out of memory") +
                    " (give the database owner's connection with --conninfo)");
    }
    // One upgrade at a time, all of it or nothing.
    if (std::string e = exec(c.get(), "BEGIN; SELECT pg_advisory_xact_lock(1950101)"); !e.empty()) {
        return fail(e);
    }
    std::string problem;
    const int from = current_version(c.get(), problem);
    if (!problem.empty()) {
        return fail(problem);
    }
    if (from > pgsql::schema_version) {
        return fail("the store's schema is version " + std::to_string(from) + ", newer than this totp-admin's (" +
                    std::to_string(pgsql::schema_version) + "); upgrade pam_totp first");
    }
    for (int v = from; v < pgsql::schema_version; ++v) {
        const std::string step(pgsql::schema_steps[static_cast<std::size_t>(v)]);
        if (std::string e = exec(c.get(), step.c_str()); !e.empty()) {
            return fail("upgrading the schema to version " + std::to_string(v + 1) + ": " + e +
                        " (nothing was changed)");
        }
    }
    if (std::string e = exec(c.get(), "COMMIT"); !e.empty()) {
        return fail(e);
    }
    std::string report = from == pgsql::schema_version
                             ? "The store's schema is up to date (version " + std::to_string(from) + ").\n"
                             : "The store's schema is now version " + std::to_string(pgsql::schema_version) +
                                   (from == 0 ? " (created).\n" : " (upgraded from " + std::to_string(from) + ").\n");
    std::string role = "pam_totp_host";
    if (!host_role.empty()) {
        char* quoted = ::PQescapeIdentifier(c.get(), host_role.c_str(), host_role.size());
        if (quoted != nullptr) {
            role = quoted;
            ::PQfreemem(quoted);
        }
    }
    std::string grants(pgsql::host_grants);
    for (std::size_t at = grants.find("ROLE"); at != std::string::npos; at = grants.find("ROLE", at + role.size())) {
        grants.replace(at, 4, role);
    }
    report += "\nThe hosts' role needs these grants, and no others (run them as the owner):\n\n" + grants;
    if (host_role.empty()) {
        report += "\n(store.conf's conninfo names no user: replace pam_totp_host with the hosts' role.)\n";
    }
    (void)pam_totp::write_all(STDOUT_FILENO, report);
    return exit_done;
}

}  // namespace totp_admin
