/* bench/pq_clock.c: an LD_PRELOAD library that times where a fleet login
 * (store=postgresql) spends its time, without touching pgsql_store/
 * (bench/README.md, "Fleet: where a login's time goes"). Preloaded into a
 * bench_fresh that serves fleet logins only, it times in each child (one
 * login each):
 *
 *   - the module's dlopen of the backend (pam_totp_pgsql.so, libpq and the
 *     libraries libpq needs), which the module makes by /proc/self/fd/N;
 *   - the connection, split by libpq's connection state (PQstatus) into the
 *     time spent waiting for the server in each state and the client's own
 *     time inside PQconnectPoll (TLS, SCRAM); the first wait after the
 *     request is sent is the postmaster forking a backend for it;
 *   - each statement, from PQsendQueryParams until PQgetResult returns NULL
 *     (one round trip: the server's work, and for a write its COMMIT),
 *     named by its SQL (pgsql_store/pgsql_sql.h) and, for save_state, by its
 *     durability;
 *   - PQfinish.
 *
 * libpq is loaded by the backend, RTLD_LOCAL, so it is not in the global
 * scope: the real functions are looked up in it by dlopen(RTLD_NOLOAD) at
 * the first call. This library links nothing of PostgreSQL (its header only),
 * so it changes nothing of what a login loads. Nothing is recorded in
 * bench_fresh itself; at its exit, the per-login sums are appended to
 * $PQ_CLOCK_OUT: a line "# pq_clock LABELS" with the labels (tab-separated)
 * after it, then one line per login: the nanoseconds of each label, then
 * the number of calls of each label, separated by spaces.
 *
 *   cc -shared -fPIC -O2 -o build/bench_pq_clock.so bench/pq_clock.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum label {
    l_load,
    l_start,
    l_tcp,
    l_first_answer,
    l_tls_wait,
    l_auth_wait,
    l_ready_wait,
    l_other_wait,
    l_cpu_made,
    l_cpu_tls,
    l_cpu_auth,
    l_cpu_other,
    l_setup,
    l_read_claims,
    l_add_claim,
    l_drop_claim,
    l_peek,
    l_lock,
    l_read_locked,
    l_write_durable,
    l_write_relaxed,
    l_unlock,
    l_other_statement,
    l_finish,
    l_count
};
static const char* const names[l_count] = {
    "load the backend (dlopen: pam_totp_pgsql.so, libpq and its libraries)",
    "connect: PQconnectStartParams (parse, socket, connect)",
    "connect: wait for the TCP connection",
    "connect: wait for the first answer (the postmaster forks a backend meanwhile)",
    "connect: wait, TLS handshake",
    "connect: wait, startup and authentication (SCRAM)",
    "connect: wait, backend ready (after authentication)",
    "connect: wait, other states",
    "connect: client CPU, until the first request is sent (TCP: SSLRequest, GSSAPI credential check)",
    "connect: client CPU, TLS",
    "connect: client CPU, startup and SCRAM",
    "connect: client CPU, other states",
    "statement: session setup (timeouts)",
    "statement: read claims",
    "statement: add claim (commit)",
    "statement: drop claim (commit)",
    "statement: read state, before the prompt (peek)",
    "statement: lock (pg_try_advisory_lock)",
    "statement: read state, under the lock",
    "statement: write, durable (the charge; commit flushed)",
    "statement: write, relaxed (the settling; synchronous_commit off)",
    "statement: unlock (pg_advisory_unlock_all)",
    "statement: other",
    "disconnect (PQfinish)",
};

enum { max_logins = 1 << 13 };
struct record {
    int64_t ns[l_count];
    uint32_t calls[l_count];
};
struct shared_state {
    uint64_t logins;
    struct record rec[max_logins];
};

static struct shared_state* shared;
static int active;                /* in a child of bench_fresh (or --once) */
static struct record* mine;       /* this process's login */
static int depth;                 /* libpq calling itself through an interposed name */
static ConnStatusType last_state; /* after the last PQconnectPoll */
static int64_t last_return;       /* when it returned */
static int answered;              /* the first answer came */
static int locked;                /* a lock statement has completed */
static enum label pending = l_count;
static int64_t pending_since;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void add(enum label l, int64_t ns) {
    if (mine != NULL) {
        mine->ns[l] += ns;
        mine->calls[l] += 1;
    }
}

static void begin_login(void) {
    active = 1;
    mine = NULL;
    answered = 0;
    locked = 0;
    pending = l_count;
    if (shared != NULL) {
        const uint64_t i = __atomic_fetch_add(&shared->logins, 1, __ATOMIC_RELAXED);
        if (i < max_logins) {
            mine = &shared->rec[i];
        }
    }
}

/* A process that makes these calls without having been forked by
 * bench_fresh is a login of its own (bench_fresh --once). */
static void ensure(void) {
    if (!active && shared != NULL) {
        begin_login();
    }
}

__attribute__((constructor)) static void setup(void) {
    if (getenv("PQ_CLOCK_OUT") == NULL) {
        return;
    }
    void* p = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        shared = p;
        pthread_atfork(NULL, NULL, begin_login);
    }
}

__attribute__((destructor)) static void report(void) {
    const char* out = getenv("PQ_CLOCK_OUT");
    /* bench_fresh's children _exit; bench_fresh --once is a login of its own. */
    if (shared == NULL || out == NULL || (active && shared->logins != 1)) {
        return;
    }
    FILE* f = fopen(out, "ae");
    if (f == NULL) {
        return;
    }
    fprintf(f, "# pq_clock");
    for (int i = 0; i < l_count; ++i) {
        fprintf(f, "\t%s", names[i]);
    }
    fprintf(f, "\n");
    const uint64_t n = shared->logins < max_logins ? shared->logins : max_logins;
    for (uint64_t k = 0; k < n; ++k) {
        for (int i = 0; i < l_count; ++i) {
            fprintf(f, "%s%lld", i == 0 ? "" : " ", (long long)shared->rec[k].ns[i]);
        }
        for (int i = 0; i < l_count; ++i) {
            fprintf(f, " %u", shared->rec[k].calls[i]);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

/* libpq's own functions, from the copy the backend loaded. */
static void* libpq(const char* name) {
    void* lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_NOLOAD);
    void* fn = lib != NULL ? dlsym(lib, name) : NULL;
    if (fn == NULL) {
        abort();
    }
    return fn;
}
#define REAL(var, name)                    \
    do {                                   \
        if ((var) == NULL) {               \
            *(void**)&(var) = libpq(name); \
        }                                  \
    } while (0)

static void* (*next_dlopen)(const char*, int);
static PGconn* (*real_start)(const char* const*, const char* const*, int);
static PostgresPollingStatusType (*real_poll)(PGconn*);
static ConnStatusType (*real_status)(const PGconn*);
static int (*real_send)(PGconn*, const char*, int, const Oid*, const char* const*, const int*, const int*, int);
static PGresult* (*real_get)(PGconn*);
static void (*real_finish)(PGconn*);

void* dlopen(const char* file, int mode) {
    if (next_dlopen == NULL) {
        *(void**)&next_dlopen = dlsym(RTLD_NEXT, "dlopen");
    }
    const int64_t t0 = now_ns();
    void* h = next_dlopen(file, mode);
    if (file != NULL && strncmp(file, "/proc/self/fd/", 14) == 0) {
        ensure();
        add(l_load, now_ns() - t0);
    }
    return h;
}

PGconn* PQconnectStartParams(const char* const* keys, const char* const* values, int expand) {
    ensure();
    REAL(real_start, "PQconnectStartParams");
    REAL(real_status, "PQstatus");
    ++depth;
    const int64_t t0 = now_ns();
    PGconn* conn = real_start(keys, values, expand);
    last_return = now_ns();
    --depth;
    if (depth == 0) {
        add(l_start, last_return - t0);
        last_state = conn != NULL ? real_status(conn) : CONNECTION_BAD;
        answered = 0;
    }
    return conn;
}

PostgresPollingStatusType PQconnectPoll(PGconn* conn) {
    ensure();
    REAL(real_poll, "PQconnectPoll");
    REAL(real_status, "PQstatus");
    if (depth > 0) {
        return real_poll(conn);
    }
    const int64_t t_in = now_ns();
    ++depth;
    const PostgresPollingStatusType r = real_poll(conn);
    --depth;
    const int64_t t_out = now_ns();
    const int64_t wait = t_in - last_return;
    enum label w = l_other_wait;
    enum label cpu = l_cpu_other;
    switch (last_state) {
        case CONNECTION_STARTED:
            w = l_tcp;
            cpu = l_cpu_made;
            break;
        case CONNECTION_MADE:
            cpu = l_cpu_made;
            break;
        case CONNECTION_SSL_STARTUP:
            w = answered ? l_tls_wait : l_first_answer;
            cpu = l_cpu_tls;
            answered = 1;
            break;
        case CONNECTION_AWAITING_RESPONSE:
            w = answered ? l_auth_wait : l_first_answer;
            cpu = l_cpu_auth;
            answered = 1;
            break;
        case CONNECTION_AUTH_OK:
            w = l_ready_wait;
            break;
        default:
            break;
    }
    add(w, wait);
    add(cpu, t_out - t_in);
    last_return = t_out;
    last_state = real_status(conn);
    return r;
}

static enum label statement(const char* sql, int n, const char* const* values) {
    static const struct {
        const char* prefix;
        enum label l;
    } known[] = {
        {"SELECT set_config('statement_timeout'", l_setup},
        {"SELECT token_id, holder FROM pam_totp.claims", l_read_claims},
        {"SELECT pam_totp.add_claim", l_add_claim},
        {"SELECT pam_totp.drop_claim", l_drop_claim},
        {"SELECT pg_try_advisory_lock", l_lock},
        {"SELECT pg_advisory_unlock_all", l_unlock},
        {"SELECT state FROM pam_totp.states", l_peek},
        {"SELECT pam_totp.save_state", l_write_durable},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i) {
        if (strncmp(sql, known[i].prefix, strlen(known[i].prefix)) == 0) {
            if (known[i].l == l_peek && locked) {
                return l_read_locked;
            }
            if (known[i].l == l_write_durable && n >= 3 && values[2] != NULL && values[2][0] == 'f') {
                return l_write_relaxed;
            }
            return known[i].l;
        }
    }
    return l_other_statement;
}

int PQsendQueryParams(PGconn* conn, const char* sql, int n, const Oid* types, const char* const* values,
                      const int* lengths, const int* formats, int result_format) {
    ensure();
    REAL(real_send, "PQsendQueryParams");
    if (depth == 0) {
        pending = statement(sql, n, values);
        pending_since = now_ns();
    }
    return real_send(conn, sql, n, types, values, lengths, formats, result_format);
}

PGresult* PQgetResult(PGconn* conn) {
    ensure();
    REAL(real_get, "PQgetResult");
    PGresult* r = real_get(conn);
    if (depth == 0 && r == NULL && pending != l_count) {
        add(pending, now_ns() - pending_since);
        if (pending == l_lock) {
            locked = 1;
        }
        pending = l_count;
    }
    return r;
}

void PQfinish(PGconn* conn) {
    ensure();
    REAL(real_finish, "PQfinish");
    const int64_t t0 = now_ns();
    ++depth;
    real_finish(conn);
    --depth;
    if (depth == 0) {
        add(l_finish, now_ns() - t0);
    }
}
