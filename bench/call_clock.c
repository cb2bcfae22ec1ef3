/* bench/call_clock.c: an LD_PRELOAD library for profiling the fresh-process
 * model (bench/README.md, "Where the time goes"). Loaded into bench_fresh,
 * it times the calls that a PAM module makes to the functions below, in the
 * children bench_fresh forks (one login each), and at bench_fresh's exit
 * appends to $CALL_CLOCK_OUT, per function: calls per login (mean) and the
 * median and mean over the logins of the time spent in it. Nothing is
 * recorded in bench_fresh itself or in any other process.
 *
 * Only calls through the PLT are seen: a module's calls into libc, libpam
 * and liboath, not libc's calls to itself (syslog's socket, realpath's
 * readlinks are inside the call that makes them).
 *
 *   cc -shared -fPIC -O2 -o build/call_clock.so bench/call_clock.c -ldl
 *   BENCH_FRESH_PRELOAD=build/call_clock.so CALL_CLOCK_OUT=FILE \
 *     BENCH_ONLY=pam_totp BENCH_ONLY_MODEL=fresh sh bench/run.sh build OUT.md
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <security/pam_ext.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

enum {
    f_open,
    f_openat,
    f_close,
    f_read,
    f_pread,
    f_pwrite,
    f_fstat,
    f_fstatat,
    f_fstatfs,
    f_fdatasync,
    f_fsync,
    f_flock,
    f_mkdirat,
    f_readlinkat,
    f_realpath,
    f_pam_syslog,
    f_pam_prompt,
    f_oath_validate,
    f_count
};
static const char* const names[f_count] = {"open",
                                           "openat",
                                           "close",
                                           "read",
                                           "pread",
                                           "pwrite",
                                           "fstat",
                                           "fstatat",
                                           "fstatfs",
                                           "fdatasync",
                                           "fsync",
                                           "flock",
                                           "mkdirat",
                                           "readlinkat",
                                           "realpath (each component a readlink)",
                                           "pam_syslog (the log line)",
                                           "pam_prompt (the conversation)",
                                           "oath_totp_validate4_callback (HMACs)"};

enum { max_logins = 1 << 15 };
struct counters {
    uint64_t logins;
    uint64_t calls[f_count];
    uint64_t ns[max_logins][f_count]; /* per login */
};

static struct counters* shared;
static int active;        /* set in the children only */
static uint64_t my_login; /* the child's index */

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void record(int f, int64_t t0) {
    if (active && shared != NULL) {
        const int64_t d = now_ns() - t0;
        __atomic_add_fetch(&shared->calls[f], 1, __ATOMIC_RELAXED);
        if (my_login < max_logins) {
            shared->ns[my_login][f] += (uint64_t)d;
        }
    }
}

static void in_child(void) {
    active = 1;
    if (shared != NULL) {
        my_login = __atomic_fetch_add(&shared->logins, 1, __ATOMIC_RELAXED);
    }
}

static void resolve_all(void);

__attribute__((constructor)) static void setup(void) {
    if (getenv("CALL_CLOCK_OUT") == NULL) {
        return;
    }
    void* p = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        shared = p;
        pthread_atfork(NULL, NULL, in_child);
    }
    resolve_all();
}

static int by_value(const void* a, const void* b) {
    const uint64_t x = *(const uint64_t*)a;
    const uint64_t y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

__attribute__((destructor)) static void report(void) {
    const char* out = getenv("CALL_CLOCK_OUT");
    if (active || shared == NULL || out == NULL || shared->logins == 0) {
        return;
    }
    FILE* f = fopen(out, "ae");
    if (f == NULL) {
        return;
    }
    const uint64_t n = shared->logins < max_logins ? shared->logins : max_logins;
    uint64_t* v = malloc(n * sizeof *v);
    if (v == NULL) {
        fclose(f);
        return;
    }
    fprintf(f, "%llu logins; per login: calls (mean), µs median, µs mean\n", (unsigned long long)n);
    for (int i = 0; i < f_count; ++i) {
        if (shared->calls[i] == 0) {
            continue;
        }
        double sum = 0;
        for (uint64_t k = 0; k < n; ++k) {
            v[k] = shared->ns[k][i];
            sum += (double)v[k];
        }
        qsort(v, n, sizeof *v, by_value);
        fprintf(f, "  %-40s %6.1f %8.1f %8.1f\n", names[i], (double)shared->calls[i] / (double)n,
                (double)v[(n - 1) / 2] / 1e3, sum / (double)n / 1e3);
    }
    free(v);
    fclose(f);
}

/* The next definition of each, looked up once (in bench_fresh, before any
 * fork: the children inherit them). libpam and liboath are loaded in the
 * children only, so their functions are looked up there, at the first call. */
#define NEXT(var, name)                               \
    do {                                              \
        if ((var) == NULL) {                          \
            *(void**)&(var) = dlsym(RTLD_NEXT, name); \
        }                                             \
    } while (0)

static int (*next_open)(const char*, int, ...);
static int (*next_openat)(int, const char*, int, ...);
static int (*next_close)(int);
static ssize_t (*next_read)(int, void*, size_t);
static ssize_t (*next_pread)(int, void*, size_t, off_t);
static ssize_t (*next_pwrite)(int, const void*, size_t, off_t);
static int (*next_fstat)(int, struct stat*);
static int (*next_fstatat)(int, const char*, struct stat*, int);
static int (*next_fstatfs)(int, struct statfs*);
static int (*next_fdatasync)(int);
static int (*next_fsync)(int);
static int (*next_flock)(int, int);
static int (*next_mkdirat)(int, const char*, mode_t);
static ssize_t (*next_readlinkat)(int, const char*, char*, size_t);
static char* (*next_realpath_chk)(const char*, char*, size_t);
static int (*next_pam_vprompt)(pam_handle_t*, int, char**, const char*, va_list);
static void (*next_pam_vsyslog)(const pam_handle_t*, int, const char*, va_list);
typedef int (*validate_fn)(const char*, size_t, time_t, unsigned, time_t, unsigned, size_t, int*, int*, int,
                           int (*)(void*, const char*), void*);
static validate_fn next_validate;

static void resolve_all(void) {
    NEXT(next_open, "open");
    NEXT(next_openat, "openat");
    NEXT(next_close, "close");
    NEXT(next_read, "read");
    NEXT(next_pread, "pread");
    NEXT(next_pwrite, "pwrite");
    NEXT(next_fstat, "fstat");
    NEXT(next_fstatat, "fstatat");
    NEXT(next_fstatfs, "fstatfs");
    NEXT(next_fdatasync, "fdatasync");
    NEXT(next_fsync, "fsync");
    NEXT(next_flock, "flock");
    NEXT(next_mkdirat, "mkdirat");
    NEXT(next_readlinkat, "readlinkat");
    NEXT(next_realpath_chk, "__realpath_chk");
}

int open(const char* path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    NEXT(next_open, "open");
    const int64_t t0 = now_ns();
    const int r = next_open(path, flags, mode);
    record(f_open, t0);
    return r;
}

int openat(int dir, const char* path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    NEXT(next_openat, "openat");
    const int64_t t0 = now_ns();
    const int r = next_openat(dir, path, flags, mode);
    record(f_openat, t0);
    return r;
}

#define WRAP(ret, name, var, id, params, args) \
    ret name params {                          \
        NEXT(var, #name);                      \
        const int64_t t0 = now_ns();           \
        ret const result = var args;           \
        record(id, t0);                        \
        return result;                         \
    }

WRAP(int, close, next_close, f_close, (int fd), (fd))
WRAP(ssize_t, read, next_read, f_read, (int fd, void* b, size_t n), (fd, b, n))
WRAP(ssize_t, pread, next_pread, f_pread, (int fd, void* b, size_t n, off_t o), (fd, b, n, o))
WRAP(ssize_t, pwrite, next_pwrite, f_pwrite, (int fd, const void* b, size_t n, off_t o), (fd, b, n, o))
WRAP(int, fstat, next_fstat, f_fstat, (int fd, struct stat* st), (fd, st))
WRAP(int, fstatat, next_fstatat, f_fstatat, (int d, const char* p, struct stat* st, int fl), (d, p, st, fl))
WRAP(int, fstatfs, next_fstatfs, f_fstatfs, (int fd, struct statfs* st), (fd, st))
WRAP(int, fdatasync, next_fdatasync, f_fdatasync, (int fd), (fd))
WRAP(int, fsync, next_fsync, f_fsync, (int fd), (fd))
WRAP(int, flock, next_flock, f_flock, (int fd, int op), (fd, op))
WRAP(int, mkdirat, next_mkdirat, f_mkdirat, (int d, const char* p, mode_t m), (d, p, m))
WRAP(ssize_t, readlinkat, next_readlinkat, f_readlinkat, (int d, const char* p, char* b, size_t n), (d, p, b, n))
WRAP(char*, __realpath_chk, next_realpath_chk, f_realpath, (const char* p, char* out, size_t n), (p, out, n))

int pam_prompt(pam_handle_t* h, int style, char** resp, const char* fmt, ...) {
    NEXT(next_pam_vprompt, "pam_vprompt");
    va_list ap;
    va_start(ap, fmt);
    const int64_t t0 = now_ns();
    const int r = next_pam_vprompt(h, style, resp, fmt, ap);
    record(f_pam_prompt, t0);
    va_end(ap);
    return r;
}

void pam_syslog(const pam_handle_t* h, int prio, const char* fmt, ...) {
    NEXT(next_pam_vsyslog, "pam_vsyslog");
    va_list ap;
    va_start(ap, fmt);
    const int64_t t0 = now_ns();
    next_pam_vsyslog(h, prio, fmt, ap);
    record(f_pam_syslog, t0);
    va_end(ap);
}

int oath_totp_validate4_callback(const char* secret, size_t len, time_t now, unsigned step, time_t start0,
                                 unsigned digits, size_t window, int* neg, int* pos, int flags,
                                 int (*cb)(void*, const char*), void* data) {
    if (next_validate == NULL) {
        /* liboath came with the module (dlopen, RTLD_LOCAL): not in the global scope RTLD_NEXT searches. */
        void* lib = dlopen("liboath.so.0", RTLD_NOW | RTLD_NOLOAD);
        *(void**)&next_validate = lib != NULL ? dlsym(lib, "oath_totp_validate4_callback") : NULL;
        if (next_validate == NULL) {
            abort();
        }
    }
    const int64_t t0 = now_ns();
    const int r = next_validate(secret, len, now, step, start0, digits, window, neg, pos, flags, cb, data);
    record(f_oath_validate, t0);
    return r;
}
