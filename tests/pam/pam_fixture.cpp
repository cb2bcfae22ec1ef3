#include "pam_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <set>

#include "core/files/secret_file.h"
#include "core/otp/hotp.h"
#include "core/otp/recovery.h"
#include "core/otp/token.h"
#include "core/store/file_store.h"
#include "core/store/slot_file.h"
#include "core/util/random.h"
#include "core/util/unique_fd.h"
#include "tests/unit/cmocka.hpp"

namespace pamtest {
namespace {

constexpr const char* log_socket = "/dev/log";
constexpr const char* init_marker = "PAMTEST_INIT";

struct ConvState {
    std::deque<std::string> answers;
    LoginResult* out;
    const OnPrompt* on_prompt;
};

void free_responses(pam_response* resp, int n) {
    for (int i = 0; i < n; ++i) {
        if (resp[i].resp != nullptr) {
            ::explicit_bzero(resp[i].resp, std::strlen(resp[i].resp));
            std::free(resp[i].resp);
        }
    }
    std::free(resp);
}

// Answers prompts from the queue (each reply malloc'd: libpam frees it) and
// records every prompt and message.
int conversation(int num_msg, const pam_message** msg, pam_response** resp, void* appdata) {
    auto* cs = static_cast<ConvState*>(appdata);
    if (num_msg <= 0 || msg == nullptr || resp == nullptr) {
        return PAM_CONV_ERR;
    }
    auto* replies = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(num_msg), sizeof(pam_response)));
    if (replies == nullptr) {
        return PAM_BUF_ERR;
    }
    for (int i = 0; i < num_msg; ++i) {
        const pam_message* m = msg[i];
        const std::string text = m->msg != nullptr ? m->msg : "";
        switch (m->msg_style) {
            case PAM_PROMPT_ECHO_OFF:
            case PAM_PROMPT_ECHO_ON: {
                if (*cs->on_prompt) {
                    (*cs->on_prompt)(cs->out->prompts.size(), text);
                }
                cs->out->prompts.push_back(Prompt{m->msg_style, text});
                if (cs->answers.empty()) {
                    cs->out->ran_dry = true;
                    free_responses(replies, num_msg);
                    return PAM_CONV_ERR;
                }
                replies[i].resp = ::strdup(cs->answers.front().c_str());
                cs->answers.pop_front();
                if (replies[i].resp == nullptr) {
                    free_responses(replies, num_msg);
                    return PAM_BUF_ERR;
                }
                break;
            }
            case PAM_TEXT_INFO:
                cs->out->infos.push_back(text);
                break;
            case PAM_ERROR_MSG:
                cs->out->errors.push_back(text);
                break;
            default:
                free_responses(replies, num_msg);
                return PAM_CONV_ERR;
        }
    }
    *resp = replies;
    return PAM_SUCCESS;
}

int remove_entry(const char* path, const struct stat* /*sb*/, int /*flag*/, struct FTW* /*ftw*/) {
    (void)::remove(path);
    return 0;
}

std::string pad_code(unsigned long value, unsigned digits) {
    std::string s = std::to_string(value);
    while (s.size() < digits) {
        s.insert(s.begin(), '0');
    }
    return s;
}

pam_totp::SecureBuffer fresh_key() {
    auto key = pam_totp::random_bytes(20);
    if (!key) {
        fail_msg("random_bytes failed");
    }
    return std::move(key).value();
}

std::string fresh_enrollment_id() {
    auto id = pam_totp::random_hex(16);
    if (!id) {
        fail_msg("random_hex failed");
    }
    return std::move(id).value();
}

// `codes` (or, when empty, `count` fresh ones) as printed, and their
// hashes (fresh salts) as written.
void make_recovery(const std::vector<std::string>& codes, std::size_t count, std::vector<std::string>& printed,
                   std::vector<std::string>& hashes) {
    printed = codes;
    while (codes.empty() && printed.size() < count) {
        auto code = pam_totp::generate_recovery_code();
        if (!code) {
            fail_msg("generate_recovery_code: %s", code.error().message.c_str());
        }
        printed.emplace_back(code.value().view());
    }
    hashes.clear();
    for (const std::string& code : printed) {
        auto canonical = pam_totp::normalise_recovery_code(code);
        if (!canonical) {
            fail_msg("normalise_recovery_code(%s): %s", code.c_str(), canonical.error().message.c_str());
        }
        auto hash = pam_totp::hash_recovery_code(canonical.value());
        if (!hash) {
            fail_msg("hash_recovery_code: %s", hash.error().message.c_str());
        }
        hashes.push_back(std::move(hash).value());
    }
}

// Written beside the secret file and renamed over it, as totp-enroll does:
// a login that has the old file open keeps reading the old one.
void install_secret(const std::string& path, const std::string& content, uid_t owner, gid_t group) {
    const std::string tmp = path + ".pamtest-new";
    (void)::unlink(tmp.c_str());
    write_file(tmp, content, 0600);
    if (::chown(tmp.c_str(), owner, group) != 0) {
        fail_msg("chown %s: %s", tmp.c_str(), std::strerror(errno));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        fail_msg("rename %s: %s", path.c_str(), std::strerror(errno));
    }
}

// Serialises `sf` (format 2 unless it is one plain default TOTP token),
// installs it at e.path, and makes `e` describe it.
void write_tokens(TokensEnrollment& e, const pam_totp::SecretFile& sf) {
    auto text = pam_totp::serialise_secret_file(sf);
    if (!text) {
        fail_msg("serialise_secret_file: %s", text.error().message.c_str());
    }
    install_secret(e.path, std::string(text.value().view()), e.owner, e.group);
    e.enrollment_id = sf.enrollment_id;
    e.tokens.clear();
    for (const pam_totp::TokenEntry& t : sf.tokens) {
        e.tokens.push_back(Token{t.name, t.type, t.key.clone(), t.params, t.offset, t.counter});
    }
}

// The wall clock without the time shim (the raw system call).
long long real_now() {
    timespec ts{};
    (void)::syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    return static_cast<long long>(ts.tv_sec);
}

// Over /dev, a tmpfs holding every entry of the real one (bind-mounted;
// symbolic links copied) except `log`, so that the fixture can bind a
// /dev/log of its own (tests/lib/private_ns.py does the same for the
// Python suites). Only in a private mount namespace.
bool private_dev() {
    char scratch[] = "/tmp/pamtest-dev.XXXXXX";
    if (::mkdtemp(scratch) == nullptr) {
        std::perror("pamtest: mkdtemp");
        return false;
    }
    if (::mount("pamtest-dev", scratch, "tmpfs", MS_NOSUID, "mode=0755,size=1m") != 0) {
        std::perror("pamtest: mount tmpfs");
        (void)::rmdir(scratch);
        return false;
    }
    DIR* d = ::opendir("/dev");
    if (d == nullptr) {
        std::perror("pamtest: opendir /dev");
        (void)::umount2(scratch, MNT_DETACH);
        (void)::rmdir(scratch);
        return false;
    }
    while (const dirent* ent = ::readdir(d)) {
        const std::string name = ent->d_name;
        if (name == "." || name == ".." || name == "log") {
            continue;
        }
        const std::string src = "/dev/" + name;
        const std::string dst = std::string(scratch) + "/" + name;
        struct stat st {};
        if (::lstat(src.c_str(), &st) != 0) {
            continue;  // gone while we looked
        }
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            const ssize_t n = ::readlink(src.c_str(), target, sizeof target - 1);
            if (n > 0) {
                target[n] = '\0';
                if (::symlink(target, dst.c_str()) != 0) {
                    std::perror("pamtest: symlink in the private /dev");
                }
            }
        } else if (S_ISDIR(st.st_mode)) {
            if (::mkdir(dst.c_str(), 0755) == 0) {
                (void)::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr);
            }
        } else {
            const int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0) {
                ::close(fd);
                (void)::mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr);
            }
        }
    }
    ::closedir(d);
    if (::mount(scratch, "/dev", nullptr, MS_MOVE, nullptr) != 0) {
        std::perror("pamtest: move the private /dev");
        (void)::umount2(scratch, MNT_DETACH);
        (void)::rmdir(scratch);
        return false;
    }
    (void)::rmdir(scratch);  // the mount moved away: an empty directory on the host
    return true;
}

}  // namespace

void init(int /*argc*/, char** argv) {
    if (::geteuid() != 0 || std::getenv(init_marker) != nullptr) {
        return;  // not root (the tests skip), or this is the re-executed binary
    }
    ::setenv(init_marker, "1", 1);
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        std::perror("pamtest: private mount namespace (log lines may not be captured)");
    } else {
        (void)private_dev();
    }
    const char* shim = std::getenv("TIME_SHIM");
    if (shim == nullptr || *shim == '\0') {
        std::fprintf(stderr, "pamtest: TIME_SHIM is not set: tests of time will fail (run through make check-pam)\n");
        return;
    }
    const char* old = std::getenv("LD_PRELOAD");
    const std::string preload = std::string(shim) + (old != nullptr && *old != '\0' ? std::string(" ") + old : "");
    ::setenv("LD_PRELOAD", preload.c_str(), 1);
#if defined(__SANITIZE_ADDRESS__)
    // The shim comes before the ASan runtime in the library list; it only
    // wraps clock functions, which ASan does not intercept.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string opts =
        (asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : std::string()) + "verify_asan_link_order=0";
    ::setenv("ASAN_OPTIONS", opts.c_str(), 1);
#endif
    ::execv("/proc/self/exe", argv);
    std::perror("pamtest: re-exec with the time shim");
}

bool LoginResult::said(const std::string& needle) const {
    const auto has = [&](const std::string& s) { return s.find(needle) != std::string::npos; };
    return std::any_of(infos.begin(), infos.end(), has) || std::any_of(errors.begin(), errors.end(), has);
}

std::unique_ptr<Fixture> Fixture::create() {
    std::unique_ptr<Fixture> f(new Fixture());
    char templ[] = "/tmp/pamtotp-test.XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
        std::perror("mkdtemp");
        return nullptr;
    }
    f->m_root = templ;
    f->m_confdir = f->m_root + "/conf";
    f->m_secrets = f->m_root + "/secrets";
    f->m_state = f->m_root + "/state";
    if (::mkdir(f->m_confdir.c_str(), 0755) != 0 || ::mkdir(f->m_secrets.c_str(), 0700) != 0) {
        std::perror("mkdir");
        return nullptr;  // the destructor removes what was made
    }
    // libpam logs an error at every pam_start when "other" is missing.
    write_file(f->m_confdir + "/other", "auth required pam_deny.so\n", 0644);
    // The shim reads the offset from this file at every call (absent: 0).
    ::setenv("TIME_SHIM_FILE", (f->m_root + "/clock").c_str(), 1);
    f->open_log_sink();
    return f;
}

Fixture::~Fixture() {
    for (const pid_t pid : m_children) {
        (void)::kill(pid, SIGKILL);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    for (const std::string& user : m_users) {
        if (run_command({"userdel", user}) != 0) {
            std::fprintf(stderr, "pam_fixture: userdel %s failed\n", user.c_str());
        }
    }
    if (m_log_fd >= 0) {
        (void)::unlink(log_socket);
        ::close(m_log_stop[1]);
        m_log_thread.join();
        ::close(m_log_stop[0]);
        ::close(m_log_fd);
    }
    ::unsetenv("TIME_SHIM_FILE");
    if (!m_root.empty()) {
        (void)::nftw(m_root.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

void Fixture::open_log_sink() {
    struct stat st {};
    if (::lstat(log_socket, &st) == 0 || errno != ENOENT) {
        return;  // a syslog daemon (or another test) owns it
    }
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, log_socket, sizeof addr.sun_path - 1);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return;
    }
    (void)::chmod(log_socket, 0666);  // children that drop privileges log too
    if (::pipe2(m_log_stop, O_CLOEXEC) != 0) {
        ::close(fd);
        (void)::unlink(log_socket);
        return;
    }
    m_log_fd = fd;
    m_log_thread = std::thread([this] {
        for (;;) {
            pollfd fds[2] = {{m_log_fd, POLLIN, 0}, {m_log_stop[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                continue;
            }
            char buf[4096];
            ssize_t n = 0;
            while ((n = ::recv(m_log_fd, buf, sizeof buf, 0)) > 0) {
                const std::lock_guard<std::mutex> lock(m_log_mutex);
                m_logs.emplace_back(buf, static_cast<std::size_t>(n));
            }
            if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) {
                return;
            }
        }
    });
}

std::vector<std::string> Fixture::drain_logs() {
    const std::lock_guard<std::mutex> lock(m_log_mutex);
    return m_logs;
}

int log_level(const std::string& line) {
    if (line.size() < 3 || line[0] != '<') {
        return -1;
    }
    const std::size_t end = line.find('>');
    if (end == std::string::npos || end == 1 || end > 4) {
        return -1;
    }
    int pri = 0;
    for (std::size_t i = 1; i < end; ++i) {
        if (line[i] < '0' || line[i] > '9') {
            return -1;
        }
        pri = pri * 10 + (line[i] - '0');
    }
    return pri & 7;
}

bool Fixture::wait_for_log(const std::string& needle, double timeout, int level) {
    const double end = now_seconds() + timeout;
    do {
        for (const std::string& line : drain_logs()) {
            if (line.find(needle) != std::string::npos && (level < 0 || log_level(line) == level)) {
                return true;
            }
        }
        ::usleep(10 * 1000);
    } while (now_seconds() < end);
    return false;
}

void Fixture::expect_log(const std::string& needle, int level, double timeout) {
    if (!logs_captured()) {
        fail_msg("cannot capture log lines (no private /dev/log; run through make check-pam as root)");
    }
    if (wait_for_log(needle, timeout, level)) {
        return;
    }
    const std::vector<std::string> lines = drain_logs();
    const std::size_t from = lines.size() > 15 ? lines.size() - 15 : 0;
    for (std::size_t i = from; i < lines.size(); ++i) {
        print_message("log: %s\n", lines[i].c_str());
    }
    fail_msg("no log line containing \"%s\" at level %d (the last lines are above)", needle.c_str(), level);
}

void Fixture::expect_no_log(const std::string& needle) {
    if (!logs_captured()) {
        fail_msg("cannot capture log lines (no private /dev/log; run through make check-pam as root)");
    }
    for (const std::string& line : drain_logs()) {
        if (line.find(needle) != std::string::npos) {
            fail_msg("a log line contains \"%s\": %s", needle.c_str(), line.c_str());
        }
    }
}

std::size_t Fixture::count_logs(const std::string& needle) {
    const std::vector<std::string> lines = drain_logs();
    return static_cast<std::size_t>(std::count_if(
        lines.begin(), lines.end(), [&](const std::string& line) { return line.find(needle) != std::string::npos; }));
}

void Fixture::expect_log_count(const std::string& needle, std::size_t n, double timeout) {
    if (!logs_captured()) {
        fail_msg("cannot capture log lines (no private /dev/log; run through make check-pam as root)");
    }
    const double end = now_seconds() + timeout;
    std::size_t seen = count_logs(needle);
    while (seen < n && now_seconds() < end) {
        ::usleep(10 * 1000);
        seen = count_logs(needle);
    }
    if (seen != n) {
        fail_msg("%zu log lines contain \"%s\", expected %zu", seen, needle.c_str(), n);
    }
}

std::string Fixture::module_path() {
    const char* p = std::getenv("PAM_TOTP_MODULE");
    return p != nullptr ? p : "";
}

std::string Fixture::module_args(bool with_secret) const {
    std::string line = module_path();
    if (with_secret) {
        line += " secret=" + m_secrets + "/%u";
    }
    line += " state_dir=" + m_state;
    return line;
}

void Fixture::service(const std::string& name, const std::string& options, bool with_secret) {
    service_text(name, "auth required " + module_args(with_secret) + (options.empty() ? "" : " " + options) + "\n");
}

void Fixture::service_text(const std::string& name, const std::string& content) {
    write_file(m_confdir + "/" + name, content, 0644);
}

Enrollment& Fixture::enroll(const std::string& user, const pam_totp::TotpParams& params, std::size_t recovery,
                            const std::string& path, uid_t owner, gid_t group) {
    EnrollSpec spec;
    spec.user = user;
    spec.path = path;
    spec.owner = owner;
    spec.group = group;
    spec.params = params;
    spec.recovery = recovery;
    return enroll(spec);
}

Enrollment& Fixture::enroll(const EnrollSpec& spec) {
    auto e = std::make_unique<Enrollment>();
    e->user = spec.user;
    e->path = spec.path.empty() ? m_secrets + "/" + spec.user : spec.path;
    e->owner = spec.owner;
    e->group = spec.group;
    e->params = spec.params;
    pam_totp::SecretFile sf;
    sf.enrolled = ::time(nullptr);
    sf.enrollment_id = fresh_enrollment_id();
    e->enrollment_id = sf.enrollment_id;
    // One TOTP token named "default", added at enrollment: the serialiser
    // writes it as format 1, the file every earlier pam_totp wrote.
    pam_totp::TokenEntry token;
    token.name = std::string(pam_totp::default_token_name);
    token.key = spec.key_of != nullptr ? spec.key_of->key.clone() : fresh_key();
    token.params = spec.params;
    token.added = sf.enrolled;
    token.confirmed_until = spec.confirmed;
    e->key = token.key.clone();
    sf.tokens.push_back(std::move(token));
    make_recovery(spec.codes, spec.recovery, e->recovery_codes, e->recovery_hashes);
    sf.recovery_hashes = e->recovery_hashes;
    auto text = pam_totp::serialise_secret_file(sf);
    if (!text) {
        fail_msg("serialise_secret_file: %s", text.error().message.c_str());
    }
    std::string content(text.value().view());
    for (const std::string& raw : spec.raw_recovery) {
        content += "recovery " + raw + "\n";
    }
    install_secret(e->path, content, spec.owner, spec.group);
    m_enrollments.push_back(std::move(e));
    return *m_enrollments.back();
}

const Token& TokensEnrollment::token(const std::string& name) const {
    for (const Token& t : tokens) {
        if (t.name == name) {
            return t;
        }
    }
    fail_msg("%s has no token called %s", path.c_str(), name.c_str());
    return tokens.front();  // not reached: fail_msg longjmps out
}

TokensEnrollment& Fixture::enroll_tokens(const TokensSpec& spec) {
    auto e = std::make_unique<TokensEnrollment>();
    e->user = spec.user;
    e->path = spec.path.empty() ? m_secrets + "/" + spec.user : spec.path;
    e->owner = spec.owner;
    e->group = spec.group;
    pam_totp::SecretFile sf;
    sf.enrolled = ::time(nullptr);
    sf.enrollment_id = fresh_enrollment_id();
    sf.window = spec.window;
    e->enrollment_id = sf.enrollment_id;
    for (const TokenSpec& ts : spec.tokens) {
        pam_totp::TokenEntry t;
        t.name = ts.name;
        t.type = ts.type;
        t.key = ts.key.empty() ? fresh_key() : pam_totp::SecureBuffer(std::string_view(ts.key));
        t.params = ts.params;
        t.offset = ts.offset;
        t.counter = ts.counter;
        t.added = sf.enrolled;
        sf.tokens.push_back(std::move(t));
    }
    make_recovery({}, spec.recovery, e->recovery_codes, e->recovery_hashes);
    sf.recovery_hashes = e->recovery_hashes;
    write_tokens(*e, sf);
    m_token_enrollments.push_back(std::move(e));
    return *m_token_enrollments.back();
}

void Fixture::rewrite_tokens(TokensEnrollment& e, const std::function<void(pam_totp::SecretFile&)>& edit) {
    const std::string text = read_file(e.path);
    auto parsed = pam_totp::parse_secret_file(text);
    if (!parsed) {
        fail_msg("%s does not parse: %s", e.path.c_str(), parsed.error().message.c_str());
    }
    pam_totp::SecretFile sf = std::move(parsed).value();
    edit(sf);
    write_tokens(e, sf);
}

void Fixture::remove_token(TokensEnrollment& e, const std::string& name) {
    rewrite_tokens(e, [&](pam_totp::SecretFile& sf) {
        const auto it = std::find_if(sf.tokens.begin(), sf.tokens.end(),
                                     [&](const pam_totp::TokenEntry& t) { return t.name == name; });
        if (it == sf.tokens.end()) {
            fail_msg("%s has no token called %s", e.path.c_str(), name.c_str());
        }
        if (sf.tokens.size() == 1) {
            fail_msg("remove_token: %s is the last token (that is plain --remove)", name.c_str());
        }
        if (it == sf.tokens.begin() && !sf.recovery_anchor) {
            sf.recovery_anchor = it->key.clone();
        }
        sf.tokens.erase(it);
    });
}

long Fixture::resync_totp(TokensEnrollment& e, const std::string& name, long ahead) {
    const Token& t = e.token(name);
    const std::time_t app_now = ::time(nullptr) + static_cast<std::time_t>(ahead);
    const std::string first = code_at(t, app_now - static_cast<std::time_t>(t.params.period));
    const std::string second = code_at(t, app_now);
    auto found = pam_totp::totp_resync(t.key, t.params, first, second, ::time(nullptr));
    if (!found) {
        fail_msg("totp_resync of %s (%ld s fast): %s", name.c_str(), ahead, found.error().message.c_str());
    }
    const pam_totp::TotpResync clock = found.value();
    rewrite_tokens(e, [&](pam_totp::SecretFile& sf) {
        for (pam_totp::TokenEntry& entry : sf.tokens) {
            if (entry.name == name) {
                entry.offset = clock.offset;
                entry.confirmed_until = std::max(entry.confirmed_until, clock.used_until);
            }
        }
    });
    return clock.offset;
}

std::string Fixture::code(const Enrollment& e, long offset) {
    const std::time_t when = ::time(nullptr) + static_cast<std::time_t>(offset) * e.params.period;
    auto c = pam_totp::totp_generate(e.key, e.params, when);
    if (!c) {
        return "totp_generate failed";
    }
    return std::string(c.value().view());
}

std::string Fixture::code_at(const Token& t, std::time_t when) {
    if (t.type != pam_totp::TokenType::totp) {
        fail_msg("code_at: %s is not a TOTP token", t.name.c_str());
    }
    auto c = pam_totp::totp_generate(t.key, t.params, when);
    if (!c) {
        fail_msg("totp_generate: %s", c.error().message.c_str());
    }
    return std::string(c.value().view());
}

std::string Fixture::code(const Token& t, long offset) {
    return code_at(t, ::time(nullptr) + static_cast<std::time_t>(offset) * t.params.period);
}

std::string Fixture::hotp_code(const Token& t, std::uint64_t counter) {
    if (t.type != pam_totp::TokenType::hotp) {
        fail_msg("hotp_code: %s is not an HOTP token", t.name.c_str());
    }
    auto c = pam_totp::hotp_generate(t.key, t.params.digits, counter);
    if (!c) {
        fail_msg("hotp_generate: %s", c.error().message.c_str());
    }
    return std::string(c.value().view());
}

std::string Fixture::wrong_code(const Enrollment& e) {
    std::set<std::string> near;
    for (long k = -3; k <= 3; ++k) {
        near.insert(code(e, k));
    }
    unsigned long modulus = 1;
    for (unsigned i = 0; i < e.params.digits; ++i) {
        modulus *= 10;
    }
    const unsigned long base = std::stoul(code(e, 0));
    for (unsigned long n = 1;; ++n) {
        const std::string candidate = pad_code((base + n * 7919) % modulus, e.params.digits);
        if (near.count(candidate) == 0) {
            return candidate;
        }
    }
}

LoginResult Fixture::login(const std::string& service, const std::string& user, std::vector<std::string> answers,
                           const AfterAuth& after, int flags, const OnPrompt& on_prompt) const {
    LoginResult r;
    ConvState cs{std::deque<std::string>(answers.begin(), answers.end()), &r, &on_prompt};
    const pam_conv conv{conversation, &cs};
    pam_handle_t* pamh = nullptr;
    const int start = ::pam_start_confdir(service.c_str(), user.c_str(), &conv, m_confdir.c_str(), &pamh);
    if (start != PAM_SUCCESS) {
        r.rc = start;
        return r;
    }
    r.rc = ::pam_authenticate(pamh, flags);
    r.fsuid_after = ::setfsuid(static_cast<uid_t>(-1));
    if (after) {
        after(pamh);
    }
    ::pam_end(pamh, r.rc);
    return r;
}

std::vector<int> Fixture::simultaneous_logins(int n, const std::string& service, const std::string& user,
                                              const std::string& answer) {
    int barrier[2];
    if (::pipe2(barrier, O_CLOEXEC) != 0) {
        fail_msg("pipe2: %s", std::strerror(errno));
    }
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            ::close(barrier[1]);
            ::close(barrier[0]);
            fail_msg("fork failed");
        }
        if (pid == 0) {
            ::close(barrier[1]);
            ::alarm(30);  // never outlive a stuck parent
            char c = 0;
            // Blocks until the parent closes the write end: EOF releases everyone.
            while (::read(barrier[0], &c, 1) < 0) {
            }
            const LoginResult r = login(service, user, {answer});
            ::_exit(r.rc & 0x7f);
        }
        track_child(pid);
        pids.push_back(pid);
    }
    ::close(barrier[0]);
    ::close(barrier[1]);  // go
    std::vector<int> rcs;
    for (const pid_t pid : pids) {
        rcs.push_back(reap(pid));
    }
    return rcs;
}

std::string Fixture::authtok_probe() const {
    return "auth required pam_exec.so expose_authtok quiet /usr/bin/tee " + m_root + "/authtok\n";
}

std::optional<std::string> Fixture::captured_authtok() const {
    const std::string path = m_root + "/authtok";
    if (::access(path.c_str(), F_OK) != 0) {
        return std::nullopt;
    }
    std::string text = read_file(path);
    (void)::unlink(path.c_str());
    // pam_exec writes the token with its terminating NUL.
    while (!text.empty() && text.back() == '\0') {
        text.pop_back();
    }
    return text;
}

std::string Fixture::password_check(const std::string& password, const std::string& control) {
    if (password.empty() ||
        password.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
            std::string::npos) {
        fail_msg("password_check: use letters and digits only");
    }
    const std::string script = m_root + "/check-password-" + password;
    // pam_exec writes PAM_AUTHTOK and its NUL to the script's standard input.
    write_file(script, "#!/bin/sh\npw=$(tr -d '\\000')\n[ \"$pw\" = '" + password + "' ]\n", 0700);
    return "auth " + control + " pam_exec.so expose_authtok quiet " + script + "\n";
}

std::string Fixture::state_path(const std::string& user) const {
    return m_state + "/" + pam_totp::FileStateStore::account_file_name(user);
}

std::string Fixture::state_text(const std::string& user) const {
    const pam_totp::UniqueFd dir(::open(m_state.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
        return "";
    }
    const std::string name = pam_totp::FileStateStore::account_file_name(user);
    auto text = pam_totp::SlotFile::peek(dir.get(), name, m_state + "/" + name, 0);
    if (!text) {
        fail_msg("reading the state of %s: %s", user.c_str(), text.error().message.c_str());
    }
    return text.value() ? *text.value() : "";
}

std::optional<pam_totp::AccountState> Fixture::account_state(const std::string& user) const {
    const std::string text = state_text(user);
    if (text.empty()) {
        return std::nullopt;
    }
    auto parsed = pam_totp::parse_account_state(text);
    if (!parsed) {
        fail_msg("the state of %s does not parse: %s", user.c_str(), parsed.error().message.c_str());
    }
    return std::move(parsed).value();
}

std::optional<pam_totp::TokenRecord> Fixture::token_record(const Enrollment& e) const {
    return record_of(e.key);
}

std::optional<pam_totp::TokenRecord> Fixture::token_record(const Token& t) const {
    return record_of(t.key);
}

std::optional<pam_totp::TokenRecord> Fixture::record_of(const pam_totp::SecureBuffer& key) const {
    pam_totp::FileStateStore store(m_state);
    auto record = store.peek_token(pam_totp::token_id_of(key));
    if (!record) {
        fail_msg("reading a replay record in %s: %s", m_state.c_str(), record.error().message.c_str());
    }
    return std::move(record).value();
}

std::string Fixture::claim_of(const Enrollment& e) const {
    const std::string claim = m_state + "/" + pam_totp::FileStateStore::claim_name(pam_totp::token_id_of(e.key));
    char buf[512];
    const ssize_t n = ::readlink(claim.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

void Fixture::set_clock(long long offset) {
    const char* file = std::getenv("TIME_SHIM_FILE");
    const char* preload = std::getenv("LD_PRELOAD");
    const char* shim = std::getenv("TIME_SHIM");
    if (file == nullptr || preload == nullptr || shim == nullptr || std::strstr(preload, shim) == nullptr) {
        fail_msg("the time shim is not loaded (main must call pamtest::init; run through make check-pam)");
    }
    write_file(file, std::to_string(offset) + "\n", 0644);
    m_clock = offset;
    // The shim must really move this process's clock (and so the module's).
    const long long seen = static_cast<long long>(::time(nullptr)) - real_now();
    if (seen < offset - 2 || seen > offset + 2) {
        fail_msg("the time shim does not work: offset %lld written, %lld seen", offset, seen);
    }
}

void Fixture::advance_clock(long long seconds) {
    set_clock(m_clock + seconds);
}

void Fixture::align_clock(unsigned period, unsigned margin) {
    const long long now = static_cast<long long>(::time(nullptr));
    const long long p = period;
    const long long ahead = ((static_cast<long long>(margin) - now % p) % p + p) % p;
    advance_clock(ahead);
}

int Fixture::reap(pid_t pid) {
    int status = 0;
    pid_t got = 0;
    while ((got = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    m_children.erase(std::remove(m_children.begin(), m_children.end(), pid), m_children.end());
    if (got != pid || !WIFEXITED(status)) {
        return -1;
    }
    return WEXITSTATUS(status);
}

bool Fixture::add_user(const std::string& name, const std::string& home, std::optional<uid_t> uid) {
    std::vector<std::string> argv = {"useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin"};
    if (uid) {
        argv.insert(argv.end(), {"-o", "-u", std::to_string(*uid)});
    }
    argv.push_back(name);
    if (run_command(argv) != 0) {
        return false;
    }
    m_users.push_back(name);
    return true;
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        fail_msg("open %s: %s", path.c_str(), std::strerror(errno));
    }
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n <= 0) {
            ::close(fd);
            fail_msg("write %s: %s", path.c_str(), std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    (void)::fchmod(fd, mode);
    ::close(fd);
}

std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        return "";
    }
    std::string out;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

int run_command(const std::vector<std::string>& argv) {
    const pid_t pid = ::fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        const int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, 1);
            ::dup2(null, 2);
        }
        std::vector<char*> args;
        for (const std::string& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string line_value(const std::string& text, const std::string& key) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        const std::string line = text.substr(pos, end - pos);
        if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == ' ') {
            return line.substr(key.size() + 1);
        }
        pos = end + 1;
    }
    return "";
}

std::size_t count_lines(const std::string& text, const std::string& key) {
    std::size_t n = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        if (end - pos > key.size() && text.compare(pos, key.size(), key) == 0 && text[pos + key.size()] == ' ') {
            ++n;
        }
        pos = end + 1;
    }
    return n;
}

double now_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int setup(void** state) {
    if (Fixture::module_path().empty()) {
        std::fprintf(stderr, "PAM_TOTP_MODULE is not set (run through make check-pam)\n");
        return -1;
    }
    auto f = Fixture::create();
    if (!f) {
        return -1;
    }
    *state = f.release();
    return 0;
}

int teardown(void** state) {
    delete static_cast<Fixture*>(*state);
    *state = nullptr;
    return 0;
}

Fixture& get(void** state) {
    if (::geteuid() != 0) {
        print_message("skipped: the PAM tests need root (secret files owned by root, useradd, setuid)\n");
        skip();
    }
    return *static_cast<Fixture*>(*state);
}

}  // namespace pamtest
