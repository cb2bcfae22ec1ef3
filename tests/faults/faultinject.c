/* faultinject.so: an LD_PRELOAD shim that makes chosen system calls fail, for
 * tests/faults/run.py.
 *
 *   FAULT_CALL         open | openat | read | pread | write | pwrite | fsync |
 *                      fdatasync | ftruncate | flock | rename | renameat |
 *                      symlinkat | readlinkat | mkdirat | unlinkat | fstat |
 *                      fstatfs | faccessat | realpath | fchmod | fchown |
 *                      malloc | any (every call above but malloc)
 *   FAULT_NTH          fail the Nth counted call (1-based) ...
 *                      0: fail each counted call with probability
 *                      FAULT_PERCENT (default 10) from seed FAULT_SEED
 *   FAULT_ERRNO        EIO (default), ENOSPC, EDQUOT, EACCES, ENOMEM, EINTR,
 *                      EPERM, EROFS, ENOLCK, EFBIG or a number
 *   FAULT_PATH_PREFIX  count only calls on files under this directory: the
 *                      path, or for fd calls the path of the fd (resolved via
 *                      /proc/self/fd), must start with it. Start-up, libpam's
 *                      own config reading and the terminal are never hit.
 *                      malloc is counted only after the first counted file
 *                      call (the process has reached the code under test).
 *   FAULT_LOG          file to which one line per injected fault is appended
 *   FAULT_SYSLOG       file to which every syslog(3) message is appended, one
 *                      a line (pam_syslog goes through __syslog_chk), so that
 *                      a test can tell what the module did about a fault;
 *                      works without FAULT_CALL too
 *
 * Without FAULT_CALL the shim only passes calls through. The real functions
 * are found with dlsym(RTLD_NEXT); malloc goes to glibc's __libc_malloc, so
 * dlsym's own allocations never recurse. The _FORTIFY_SOURCE variants
 * (__read_chk, __open_2, __realpath_chk, ...) and the 64-bit aliases are
 * wrapped too. The list covers every file-system call pam_totp.so and
 * totp-enroll import (nm -D --undefined-only): the login path is open,
 * openat, realpath, fstat, fstatat, fstatfs, pread, mkdirat, readlinkat,
 * symlinkat, flock, ftruncate, pwrite, fdatasync, fsync, renameat (a state
 * file that outgrows its slots) and unlinkat. close is left alone (its
 * errors are ignored by design). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t n, size_t size);
extern void* __libc_realloc(void* p, size_t size);

enum kind {
    K_OPEN,
    K_OPENAT,
    K_READ,
    K_PREAD,
    K_WRITE,
    K_PWRITE,
    K_FSYNC,
    K_FDATASYNC,
    K_FTRUNCATE,
    K_FLOCK,
    K_RENAME,
    K_RENAMEAT,
    K_SYMLINKAT,
    K_READLINKAT,
    K_MKDIRAT,
    K_UNLINKAT,
    K_FSTAT,
    K_FSTATFS,
    K_FACCESSAT,
    K_REALPATH,
    K_FCHMOD,
    K_FCHOWN,
    K_MALLOC,
    K_NONE
};
static const char* const kind_names[] = {"open",      "openat",     "read",      "pread",    "write",  "pwrite",
                                         "fsync",     "fdatasync",  "ftruncate", "flock",    "rename", "renameat",
                                         "symlinkat", "readlinkat", "mkdirat",   "unlinkat", "fstat",  "fstatfs",
                                         "faccessat", "realpath",   "fchmod",    "fchown",   "malloc", "none"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == K_NONE + 1, "kind_names matches enum kind");

static struct {
    int ready;
    int active;     /* FAULT_CALL set */
    enum kind kind; /* K_NONE with any_file: every file call */
    int any_file;
    unsigned long nth;
    unsigned percent;
    uint64_t rng;
    int err;
    char prefix[4096];
    size_t prefix_len;
    char log[4096];
    unsigned long count;
    int reached;        /* a counted file call happened: malloc counting starts */
    int busy;           /* inside the shim: never count our own calls */
    const void* caller; /* malloc: the return address, for the log */
} st;

static int parse_errno(const char* s) {
    if (s == NULL || *s == '\0') {
        return EIO;
    }
    static const struct {
        const char* name;
        int value;
    } names[] = {{"EIO", EIO},     {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EACCES", EACCES}, {"ENOMEM", ENOMEM},
                 {"EINTR", EINTR}, {"EPERM", EPERM},   {"EROFS", EROFS},   {"ENOLCK", ENOLCK}, {"EFBIG", EFBIG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        if (strcmp(s, names[i].name) == 0) {
            return names[i].value;
        }
    }
    return atoi(s) > 0 ? atoi(s) : EIO;
}

static void init(void) {
    if (st.ready) {
        return;
    }
    st.ready = 1;
    st.kind = K_NONE;
    const char* call = getenv("FAULT_CALL");
    if (call == NULL || *call == '\0') {
        return;
    }
    if (strcmp(call, "any") == 0) {
        st.any_file = 1;
    } else {
        for (int k = 0; k < K_NONE; ++k) {
            if (strcmp(call, kind_names[k]) == 0) {
                st.kind = (enum kind)k;
            }
        }
        if (st.kind == K_NONE) {
            return;
        }
    }
    st.active = 1;
    const char* nth = getenv("FAULT_NTH");
    st.nth = nth != NULL ? strtoul(nth, NULL, 10) : 1;
    const char* pct = getenv("FAULT_PERCENT");
    st.percent = pct != NULL ? (unsigned)strtoul(pct, NULL, 10) : 10;
    const char* seed = getenv("FAULT_SEED");
    st.rng = (seed != NULL ? strtoull(seed, NULL, 10) : 1) * 0x9E3779B97F4A7C15ull + 1;
    st.err = parse_errno(getenv("FAULT_ERRNO"));
    const char* prefix = getenv("FAULT_PATH_PREFIX");
    if (prefix != NULL) {
        snprintf(st.prefix, sizeof st.prefix, "%s", prefix);
        st.prefix_len = strlen(st.prefix);
    }
    const char* log = getenv("FAULT_LOG");
    if (log != NULL) {
        snprintf(st.log, sizeof st.log, "%s", log);
    }
}

static int under_prefix(const char* path) {
    if (st.prefix_len == 0) {
        return 1;
    }
    return path != NULL && strncmp(path, st.prefix, st.prefix_len) == 0 &&
           (path[st.prefix_len] == '/' || path[st.prefix_len] == '\0' || st.prefix[st.prefix_len - 1] == '/');
}

/* The absolute path of `name` relative to `dirfd` (or of the fd itself when
 * name is NULL), in `out`. */
static void resolve(int dirfd, const char* name, char* out, size_t size) {
    out[0] = '\0';
    if (name != NULL && name[0] == '/') {
        snprintf(out, size, "%s", name);
        return;
    }
    char link[64];
    char dir[4096];
    if (dirfd == AT_FDCWD) {
        if (getcwd(dir, sizeof dir) == NULL) {
            return;
        }
    } else {
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        const ssize_t n = readlink(link, dir, sizeof dir - 1);
        if (n <= 0) {
            return;
        }
        dir[n] = '\0';
    }
    if (name == NULL) {
        snprintf(out, size, "%s", dir);
    } else {
        snprintf(out, size, "%s/%s", dir, name);
    }
}

static uint64_t next_random(void) {
    /* xorshift64*: deterministic for a given FAULT_SEED. */
    st.rng ^= st.rng >> 12;
    st.rng ^= st.rng << 25;
    st.rng ^= st.rng >> 27;
    return st.rng * 2685821657736338717ull;
}

static void log_fault(enum kind k, const char* path) {
    if (st.log[0] == '\0') {
        return;
    }
    const int fd = open(st.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return;
    }
    /* A malloc names the object that called it (caller=libc.so.6: glibc's
     * own allocation, e.g. in NSS), so that a test can tell whose recovery
     * from ENOMEM it was. */
    char caller[512] = "-";
    Dl_info info;
    if (k == K_MALLOC && st.caller != NULL && dladdr(st.caller, &info) != 0 && info.dli_fname != NULL) {
        const char* base = strrchr(info.dli_fname, '/');
        snprintf(caller, sizeof caller, "caller=%s", base != NULL ? base + 1 : info.dli_fname);
    }
    char line[4400];
    const int n = snprintf(line, sizeof line, "%d %s #%lu errno=%d %s\n", (int)getpid(), kind_names[k], st.count,
                           st.err, path != NULL ? path : caller);
    if (n > 0) {
        ssize_t ignored = write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)ignored;
    }
    close(fd);
}

/* Decides whether this call fails; sets errno when it does. `path` is the
 * resolved path of a file call, NULL for malloc. */
static int should_fail(enum kind k, const char* path) {
    init();
    if (!st.active || st.busy) {
        return 0;
    }
    if (k == K_MALLOC) {
        if (st.kind != K_MALLOC || !st.reached) {
            return 0;
        }
    } else {
        if (!under_prefix(path)) {
            return 0;
        }
        st.reached = 1;
        if (!(st.any_file || st.kind == k)) {
            return 0;
        }
    }
    st.count++;
    int fail = 0;
    if (st.nth == 0) {
        fail = next_random() % 100 < st.percent;
    } else {
        fail = st.count == st.nth;
    }
    if (fail) {
        st.busy = 1;
        log_fault(k, path);
        st.busy = 0;
        errno = st.err;
    }
    return fail;
}

#define REAL(ret, name, ...)                                   \
    static ret (*real_##name)(__VA_ARGS__);                    \
    static ret (*get_##name(void))(__VA_ARGS__) {              \
        if (real_##name == NULL) {                             \
            *(void**)(&real_##name) = dlsym(RTLD_NEXT, #name); \
        }                                                      \
        return real_##name;                                    \
    }

REAL(int, open, const char*, int, ...)
REAL(int, open64, const char*, int, ...)
REAL(int, openat, int, const char*, int, ...)
REAL(int, openat64, int, const char*, int, ...)
REAL(int, __open_2, const char*, int)
REAL(int, __open64_2, const char*, int)
REAL(int, __openat_2, int, const char*, int)
REAL(int, __openat64_2, int, const char*, int)
REAL(ssize_t, read, int, void*, size_t)
REAL(ssize_t, __read_chk, int, void*, size_t, size_t)
REAL(ssize_t, pread, int, void*, size_t, off_t)
REAL(ssize_t, pread64, int, void*, size_t, off_t)
REAL(ssize_t, __pread_chk, int, void*, size_t, off_t, size_t)
REAL(ssize_t, __pread64_chk, int, void*, size_t, off_t, size_t)
REAL(ssize_t, write, int, const void*, size_t)
REAL(int, fsync, int)
REAL(int, rename, const char*, const char*)
REAL(int, renameat, int, const char*, int, const char*)
REAL(ssize_t, pwrite, int, const void*, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void*, size_t, off_t)
REAL(int, fdatasync, int)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off_t)
REAL(int, flock, int, int)
REAL(int, symlinkat, const char*, int, const char*)
REAL(ssize_t, readlinkat, int, const char*, char*, size_t)
REAL(ssize_t, __readlinkat_chk, int, const char*, char*, size_t, size_t)
REAL(int, mkdirat, int, const char*, mode_t)
REAL(int, unlinkat, int, const char*, int)
REAL(int, fstat, int, struct stat*)
REAL(int, fstat64, int, struct stat64*)
REAL(int, fstatat, int, const char*, struct stat*, int)
REAL(int, fstatat64, int, const char*, struct stat64*, int)
REAL(int, fstatfs, int, struct statfs*)
REAL(int, fstatfs64, int, struct statfs64*)
REAL(int, faccessat, int, const char*, int, int)
REAL(char*, realpath, const char*, char*)
REAL(char*, __realpath_chk, const char*, char*, size_t)
REAL(int, fchmod, int, mode_t)
REAL(int, fchown, int, uid_t, gid_t)

static int open_fails(enum kind k, int dirfd, const char* path) {
    init();
    if (!st.active || st.busy) {
        return 0;
    }
    char full[8192];
    st.busy = 1;
    resolve(dirfd, path, full, sizeof full);
    st.busy = 0;
    return should_fail(k, full);
}

static int fd_fails(enum kind k, int fd) {
    init();
    if (!st.active || st.busy) {
        return 0;
    }
    char full[8192];
    st.busy = 1;
    resolve(fd, NULL, full, sizeof full);
    st.busy = 0;
    return should_fail(k, full);
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (open_fails(K_OPEN, AT_FDCWD, path)) {
        return -1;
    }
    return get_open()(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (open_fails(K_OPEN, AT_FDCWD, path)) {
        return -1;
    }
    return get_open64()(path, flags, mode);
}

int __open_2(const char* path, int flags) {
    return open_fails(K_OPEN, AT_FDCWD, path) ? -1 : get___open_2()(path, flags);
}

int __open64_2(const char* path, int flags) {
    return open_fails(K_OPEN, AT_FDCWD, path) ? -1 : get___open64_2()(path, flags);
}

int openat(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (open_fails(K_OPENAT, dirfd, path)) {
        return -1;
    }
    return get_openat()(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    if (open_fails(K_OPENAT, dirfd, path)) {
        return -1;
    }
    return get_openat64()(dirfd, path, flags, mode);
}

int __openat_2(int dirfd, const char* path, int flags) {
    return open_fails(K_OPENAT, dirfd, path) ? -1 : get___openat_2()(dirfd, path, flags);
}

int __openat64_2(int dirfd, const char* path, int flags) {
    return open_fails(K_OPENAT, dirfd, path) ? -1 : get___openat64_2()(dirfd, path, flags);
}

ssize_t read(int fd, void* buf, size_t n) {
    return fd_fails(K_READ, fd) ? -1 : get_read()(fd, buf, n);
}

ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
    return fd_fails(K_READ, fd) ? -1 : get___read_chk()(fd, buf, n, buflen);
}

ssize_t pread(int fd, void* buf, size_t n, off_t off) {
    return fd_fails(K_PREAD, fd) ? -1 : get_pread()(fd, buf, n, off);
}

ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
    return fd_fails(K_PREAD, fd) ? -1 : get_pread64()(fd, buf, n, off);
}

ssize_t __pread_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
    return fd_fails(K_PREAD, fd) ? -1 : get___pread_chk()(fd, buf, n, off, buflen);
}

ssize_t __pread64_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
    return fd_fails(K_PREAD, fd) ? -1 : get___pread64_chk()(fd, buf, n, off, buflen);
}

ssize_t write(int fd, const void* buf, size_t n) {
    return fd_fails(K_WRITE, fd) ? -1 : get_write()(fd, buf, n);
}

int fsync(int fd) {
    return fd_fails(K_FSYNC, fd) ? -1 : get_fsync()(fd);
}

int rename(const char* from, const char* to) {
    return open_fails(K_RENAME, AT_FDCWD, from) ? -1 : get_rename()(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
    return open_fails(K_RENAMEAT, fromfd, from) ? -1 : get_renameat()(fromfd, from, tofd, to);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
    return fd_fails(K_PWRITE, fd) ? -1 : get_pwrite()(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
    return fd_fails(K_PWRITE, fd) ? -1 : get_pwrite64()(fd, buf, n, off);
}

int fdatasync(int fd) {
    return fd_fails(K_FDATASYNC, fd) ? -1 : get_fdatasync()(fd);
}

int ftruncate(int fd, off_t length) {
    return fd_fails(K_FTRUNCATE, fd) ? -1 : get_ftruncate()(fd, length);
}

int ftruncate64(int fd, off_t length) {
    return fd_fails(K_FTRUNCATE, fd) ? -1 : get_ftruncate64()(fd, length);
}

int flock(int fd, int op) {
    return fd_fails(K_FLOCK, fd) ? -1 : get_flock()(fd, op);
}

int symlinkat(const char* target, int dirfd, const char* name) {
    return open_fails(K_SYMLINKAT, dirfd, name) ? -1 : get_symlinkat()(target, dirfd, name);
}

ssize_t readlinkat(int dirfd, const char* name, char* buf, size_t size) {
    return open_fails(K_READLINKAT, dirfd, name) ? -1 : get_readlinkat()(dirfd, name, buf, size);
}

ssize_t __readlinkat_chk(int dirfd, const char* name, char* buf, size_t size, size_t buflen) {
    return open_fails(K_READLINKAT, dirfd, name) ? -1 : get___readlinkat_chk()(dirfd, name, buf, size, buflen);
}

int mkdirat(int dirfd, const char* name, mode_t mode) {
    return open_fails(K_MKDIRAT, dirfd, name) ? -1 : get_mkdirat()(dirfd, name, mode);
}

int unlinkat(int dirfd, const char* name, int flags) {
    return open_fails(K_UNLINKAT, dirfd, name) ? -1 : get_unlinkat()(dirfd, name, flags);
}

int fstat(int fd, struct stat* buf) {
    return fd_fails(K_FSTAT, fd) ? -1 : get_fstat()(fd, buf);
}

int fstat64(int fd, struct stat64* buf) {
    return fd_fails(K_FSTAT, fd) ? -1 : get_fstat64()(fd, buf);
}

/* fstatat with an empty name and AT_EMPTY_PATH is an fstat of dirfd. */
int fstatat(int dirfd, const char* name, struct stat* buf, int flags) {
    return open_fails(K_FSTAT, dirfd, name[0] != '\0' ? name : NULL) ? -1 : get_fstatat()(dirfd, name, buf, flags);
}

int fstatat64(int dirfd, const char* name, struct stat64* buf, int flags) {
    return open_fails(K_FSTAT, dirfd, name[0] != '\0' ? name : NULL) ? -1 : get_fstatat64()(dirfd, name, buf, flags);
}

int fstatfs(int fd, struct statfs* buf) {
    return fd_fails(K_FSTATFS, fd) ? -1 : get_fstatfs()(fd, buf);
}

int fstatfs64(int fd, struct statfs64* buf) {
    return fd_fails(K_FSTATFS, fd) ? -1 : get_fstatfs64()(fd, buf);
}

int faccessat(int dirfd, const char* name, int mode, int flags) {
    return open_fails(K_FACCESSAT, dirfd, name) ? -1 : get_faccessat()(dirfd, name, mode, flags);
}

/* realpath resolves the path it is given (glibc's own readlink calls
 * inside it are not interposable): a failure of any of them is this one. */
char* realpath(const char* path, char* resolved) {
    return open_fails(K_REALPATH, AT_FDCWD, path) ? NULL : get_realpath()(path, resolved);
}

char* __realpath_chk(const char* path, char* resolved, size_t resolved_len) {
    return open_fails(K_REALPATH, AT_FDCWD, path) ? NULL : get___realpath_chk()(path, resolved, resolved_len);
}

int fchmod(int fd, mode_t mode) {
    return fd_fails(K_FCHMOD, fd) ? -1 : get_fchmod()(fd, mode);
}

int fchown(int fd, uid_t uid, gid_t gid) {
    return fd_fails(K_FCHOWN, fd) ? -1 : get_fchown()(fd, uid, gid);
}

/* syslog: each message also appended to FAULT_SYSLOG (never faulted). */
REAL(void, vsyslog, int, const char*, va_list)
REAL(void, __vsyslog_chk, int, int, const char*, va_list)

static void capture_syslog(const char* fmt, va_list ap) {
    const char* path = getenv("FAULT_SYSLOG");
    if (path == NULL || *path == '\0') {
        return;
    }
    const int saved_busy = st.busy;
    st.busy = 1;
    char msg[4096];
    const int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    if (n > 0) {
        size_t len = (size_t)n < sizeof msg - 1 ? (size_t)n : sizeof msg - 2;
        msg[len++] = '\n';
        const int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ssize_t ignored = write(fd, msg, len);
            (void)ignored;
            close(fd);
        }
    }
    st.busy = saved_busy;
}

void vsyslog(int pri, const char* fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    capture_syslog(fmt, copy);
    va_end(copy);
    get_vsyslog()(pri, fmt, ap);
}

void syslog(int pri, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsyslog(pri, fmt, ap);
    va_end(ap);
}

void __vsyslog_chk(int pri, int flag, const char* fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    capture_syslog(fmt, copy);
    va_end(copy);
    get___vsyslog_chk()(pri, flag, fmt, ap);
}

void __syslog_chk(int pri, int flag, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    __vsyslog_chk(pri, flag, fmt, ap);
    va_end(ap);
}

/* malloc family: only with FAULT_CALL=malloc, and only after the first
 * counted file call. */
void* malloc(size_t size) {
    st.caller = __builtin_return_address(0);
    if (should_fail(K_MALLOC, NULL)) {
        return NULL;
    }
    return __libc_malloc(size);
}

void* calloc(size_t n, size_t size) {
    st.caller = __builtin_return_address(0);
    if (should_fail(K_MALLOC, NULL)) {
        return NULL;
    }
    return __libc_calloc(n, size);
}

void* realloc(void* p, size_t size) {
    st.caller = __builtin_return_address(0);
    if (size != 0 && should_fail(K_MALLOC, NULL)) {
        return NULL;
    }
    return __libc_realloc(p, size);
}
