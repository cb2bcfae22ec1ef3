/* The C interface between pam_totp.so and a state backend it loads on
 * demand (pam_totp(8), FLEET): today the PostgreSQL one,
 * pam_totp_pgsql.so, which alone links libpq, so that hosts on the file
 * store load nothing more. C, not C++: the module and the backend each
 * carry their own hidden C++ runtime, and nothing but plain data and
 * error codes crosses between them.
 *
 * A backend keeps named state texts (the format of core/store/
 * state_format.h, which it never parses), the claims of tokens (token id
 * -> state name) and exclusive locks on state names; core/store/
 * claim_store.cpp builds the state interface on these, as it does on
 * local files.
 *
 * Time: every call takes the deadline of the piece of store work it is
 * part of (one before a login's prompt, one after its answer: the module
 * decides, core/store/plugin_backend.h), a point on CLOCK_MONOTONIC in
 * milliseconds, and returns by it: the store's `timeout` bounds the whole
 * piece of work, not each exchange. A call that cannot finish in time
 * fails with PAM_TOTP_BACKEND_UNAVAILABLE, and a write whose outcome is
 * unknown with PAM_TOTP_BACKEND_UNKNOWN: the login is then denied. Once
 * the connection is lost or left with an exchange unfinished, every later
 * call fails at once with the same message (nothing reconnects within a
 * login). Error messages are one line and never hold a password. */
#ifndef PAM_TOTP_BACKEND_ABI_H
#define PAM_TOTP_BACKEND_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2: the deadline of each call (1 had a time limit per exchange), and
 * room in an error for the hosts tried. */
#define PAM_TOTP_BACKEND_ABI 2
/* The one symbol a backend exports. */
#define PAM_TOTP_BACKEND_ENTRY "pam_totp_backend_v2"

enum pam_totp_backend_status {
    PAM_TOTP_BACKEND_OK = 0,
    PAM_TOTP_BACKEND_UNAVAILABLE = 1, /* down, unreachable, read-only, too slow */
    PAM_TOTP_BACKEND_BUSY = 2,        /* a lock stayed taken for the whole wait */
    PAM_TOTP_BACKEND_UNKNOWN = 3,     /* a write was sent and its outcome is unknown */
    PAM_TOTP_BACKEND_INVALID = 4,     /* a bad argument or configuration; refused data */
    PAM_TOTP_BACKEND_EXISTS = 5       /* add_claim: the token is claimed already */
};

struct pam_totp_backend_error {
    char message[1024]; /* NUL-terminated, one line (naming each host tried); for the log */
};

/* A point on CLOCK_MONOTONIC (clock_gettime(2)), in milliseconds. */
typedef long long pam_totp_deadline;

struct pam_totp_backend; /* one connection, one login's locks */

struct pam_totp_backend_ops {
    unsigned abi; /* PAM_TOTP_BACKEND_ABI */

    /* Connects with `config` (the conninfo line of store.conf) by
     * `deadline`. `timeout_ms` (the store's timeout) bounds what the
     * server may spend on one statement or lock wait of this session.
     * NULL (with `err` set) on failure. */
    struct pam_totp_backend* (*open)(const char* config, unsigned timeout_ms, pam_totp_deadline deadline,
                                     struct pam_totp_backend_error* err);
    /* Releases its locks and disconnects, without waiting for the server. */
    void (*close)(struct pam_totp_backend* b);

    /* holders[i] = the state name token_ids[i] is claimed by (allocated,
     * freed with free_text), or NULL when unclaimed. */
    int (*read_claims)(struct pam_totp_backend* b, const char* const* token_ids, size_t n, char** holders,
                       pam_totp_deadline deadline, struct pam_totp_backend_error* err);
    /* Claims a token for a state; PAM_TOTP_BACKEND_EXISTS when it was. */
    int (*add_claim)(struct pam_totp_backend* b, const char* token_id, const char* holder, pam_totp_deadline deadline,
                     struct pam_totp_backend_error* err);
    /* Removes a claim, only if it still names `holder`. */
    int (*drop_claim)(struct pam_totp_backend* b, const char* token_id, const char* holder, pam_totp_deadline deadline,
                      struct pam_totp_backend_error* err);

    /* Takes the exclusive lock on a state name, waiting at most wait_ms
     * (and not past the deadline); held until unlock_all or close. */
    int (*lock)(struct pam_totp_backend* b, const char* name, unsigned wait_ms, pam_totp_deadline deadline,
                struct pam_totp_backend_error* err);
    int (*unlock_all)(struct pam_totp_backend* b, pam_totp_deadline deadline, struct pam_totp_backend_error* err);

    /* *text = the state's text (allocated, freed with free_text), or NULL
     * when it has none. */
    int (*read)(struct pam_totp_backend* b, const char* name, char** text, pam_totp_deadline deadline,
                struct pam_totp_backend_error* err);
    /* Stores the state's text; `durable`: only once it cannot be lost
     * (committed and flushed, and on a synchronous standby when there is
     * one); else it may be lost in a crash (an asynchronous commit). */
    int (*write)(struct pam_totp_backend* b, const char* name, const char* text, int durable,
                 pam_totp_deadline deadline, struct pam_totp_backend_error* err);

    void (*free_text)(char* text);
};

typedef const struct pam_totp_backend_ops* (*pam_totp_backend_entry)(void);

#ifdef __cplusplus
}
#endif

#endif
