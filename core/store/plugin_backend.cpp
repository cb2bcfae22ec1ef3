#include "core/store/plugin_backend.h"

#include <dlfcn.h>
#include <time.h>

#include <cstdlib>
#include <cstring>

#include "core/files/safe_file.h"
#include "core/store/claim_store.h"

namespace pam_totp {

namespace {

// CLOCK_MONOTONIC in milliseconds, the clock of the backend's deadlines.
pam_totp_deadline monotonic_ms() noexcept {
    timespec ts{};
    (void)::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<pam_totp_deadline>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A text the backend allocated, freed by the backend.
class BackendText {
  public:
    BackendText(const pam_totp_backend_ops* ops, char* text) : m_ops(ops), m_text(text) {}
    ~BackendText() {
        if (m_text != nullptr) {
            m_ops->free_text(m_text);
        }
    }
    BackendText(const BackendText&) = delete;
    BackendText& operator=(const BackendText&) = delete;
    BackendText(BackendText&&) = delete;
    BackendText& operator=(BackendText&&) = delete;

    [[nodiscard]] std::optional<std::string> value() const {
        return m_text != nullptr ? std::optional<std::string>(m_text) : std::nullopt;
    }

  private:
    const pam_totp_backend_ops* m_ops;
    char* m_text;
};

class HeldRow final : public HeldState {
  public:
    HeldRow(PluginBackend& backend, std::string name, std::optional<std::string> text)
        : m_backend(backend), m_name(std::move(name)), m_text(std::move(text)) {}

    [[nodiscard]] const std::optional<std::string>& text() const override { return m_text; }
    Status write(std::string_view text, Durability durability) override {
        Status st = m_backend.write(m_name, text, durability);
        if (st) {
            m_text = std::string(text);
        }
        return st;
    }

  private:
    PluginBackend& m_backend;
    std::string m_name;
    std::optional<std::string> m_text;
};

}  // namespace

Result<std::unique_ptr<PluginBackend>> PluginBackend::load(StoreConfig config, std::chrono::milliseconds lock_wait) {
    const std::string& path = config.backend;
    // Root's alone to write: whoever could replace it would run code in
    // every login.
    auto fd = safe_open_read(path, FileRules{.owner = 0,
                                             .root_may_own = true,
                                             .max_size = std::size_t{64} * 1024 * 1024,
                                             .root_owned_dirs = true,
                                             .readable_by_others = true});
    if (!fd) {
        return make_error(Errc::unavailable, "the store's backend: " + fd.error().message);
    }
    // Loaded through the descriptor just checked, not the name again.
    const std::string by_fd = "/proc/self/fd/" + std::to_string(fd.value().get());
    void* handle = ::dlopen(by_fd.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        return make_error(Errc::unavailable,
                          path + ": cannot load the store's backend: " + std::string(why != nullptr ? why : "?"));
    }
    void* entry = ::dlsym(handle, PAM_TOTP_BACKEND_ENTRY);
    pam_totp_backend_entry get_ops = nullptr;
    static_assert(sizeof get_ops == sizeof entry);
    std::memcpy(&get_ops, &entry, sizeof get_ops);
    const pam_totp_backend_ops* ops = get_ops != nullptr ? get_ops() : nullptr;
    if (ops == nullptr || ops->abi != PAM_TOTP_BACKEND_ABI) {
        ::dlclose(handle);
        return make_error(Errc::unavailable, path + ": not a pam_totp store backend of this version (interface " +
                                                 std::to_string(PAM_TOTP_BACKEND_ABI) + ")");
    }
    return std::unique_ptr<PluginBackend>(new PluginBackend(handle, ops, std::move(config), lock_wait));
}

PluginBackend::~PluginBackend() {
    if (m_connection != nullptr) {
        m_ops->close(m_connection);  // a session's locks go with it
    }
    ::dlclose(m_handle);
}

void PluginBackend::start_work() {
    m_deadline = monotonic_ms() + std::chrono::duration_cast<std::chrono::milliseconds>(m_config.timeout).count();
}

void PluginBackend::idle() {
    if (m_connection != nullptr) {
        m_ops->close(m_connection);  // a look holds no lock: nothing to give back first
        m_connection = nullptr;
    }
}

pam_totp_deadline PluginBackend::deadline() {
    if (!m_deadline) {
        start_work();
    }
    return *m_deadline;
}

std::string PluginBackend::where(const std::string& name) const {
    return "the shared store's " + name;
}

Error PluginBackend::failure(int status, const pam_totp_backend_error& err) const {
    const std::string message(err.message);
    switch (status) {
        case PAM_TOTP_BACKEND_BUSY:
            return make_error(Errc::busy, message);
        case PAM_TOTP_BACKEND_INVALID:
            return make_error(Errc::format, message);
        case PAM_TOTP_BACKEND_UNKNOWN:
            return make_error(Errc::unavailable, message + " (the outcome of a write is unknown)");
        default:
            return make_error(Errc::unavailable, message);
    }
}

Result<pam_totp_backend*> PluginBackend::connection() {
    if (m_connection != nullptr) {
        return m_connection;
    }
    // Connecting again would wait the whole time again (a hung server
    // answers no better the second time): the first failure stands.
    if (m_connect_failure) {
        return *m_connect_failure;
    }
    pam_totp_backend_error err{};
    const auto timeout_ms =
        static_cast<unsigned>(std::chrono::duration_cast<std::chrono::milliseconds>(m_config.timeout).count());
    // The connection string is copied with its terminating NUL for the C side.
    SecureBuffer conninfo = m_config.conninfo.clone();
    conninfo.append("", 1);
    pam_totp_backend* const opened = m_ops->open(conninfo.chars(), timeout_ms, deadline(), &err);
    if (opened == nullptr) {
        m_connect_failure = make_error(Errc::unavailable, std::string(err.message));
        return *m_connect_failure;
    }
    // cppcheck takes the address of `err` passed to open() for one the
    // connection keeps; the backend fills it and keeps no pointer to it.
    // cppcheck-suppress danglingLifetime
    m_connection = opened;
    return m_connection;
}

Result<std::optional<std::string>> PluginBackend::read_claim(const TokenId& id) {
    auto conn = connection();
    if (!conn) {
        return std::move(conn).error();
    }
    const std::string hex = id.hex();
    const char* ids[] = {hex.c_str()};
    char* holder = nullptr;
    pam_totp_backend_error err{};
    const int rc = m_ops->read_claims(conn.value(), ids, 1, &holder, deadline(), &err);
    const BackendText text(m_ops, holder);
    if (rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    auto value = text.value();
    if (value && !ClaimStore::is_state_name(*value)) {
        return make_error(Errc::format, where(ClaimStore::claim_name(id)) + ": names no state pam_totp would");
    }
    return value;
}

Result<bool> PluginBackend::add_claim(const TokenId& id, const std::string& holder) {
    auto conn = connection();
    if (!conn) {
        return std::move(conn).error();
    }
    pam_totp_backend_error err{};
    const int rc = m_ops->add_claim(conn.value(), id.hex().c_str(), holder.c_str(), deadline(), &err);
    if (rc == PAM_TOTP_BACKEND_EXISTS) {
        return false;
    }
    if (rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    return true;
}

Status PluginBackend::drop_claim(const TokenId& id, const std::string& holder) {
    auto conn = connection();
    if (!conn) {
        return conn.error();
    }
    pam_totp_backend_error err{};
    const int rc = m_ops->drop_claim(conn.value(), id.hex().c_str(), holder.c_str(), deadline(), &err);
    if (rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    return {};
}

Result<std::unique_ptr<HeldState>> PluginBackend::lock(const std::string& name, bool create) {
    auto conn = connection();
    if (!conn) {
        return std::move(conn).error();
    }
    pam_totp_backend_error err{};
    const auto wait_ms = static_cast<unsigned>(m_lock_wait.count());
    if (const int rc = m_ops->lock(conn.value(), name.c_str(), wait_ms, deadline(), &err); rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    char* raw = nullptr;
    const int rc = m_ops->read(conn.value(), name.c_str(), &raw, deadline(), &err);
    const BackendText text(m_ops, raw);
    if (rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    if (!text.value() && !create) {
        return make_error(Errc::not_found, where(name) + ": no such state");
    }
    return std::unique_ptr<HeldState>(std::make_unique<HeldRow>(*this, name, text.value()));
}

void PluginBackend::release_all() {
    if (m_connection == nullptr) {
        return;
    }
    pam_totp_backend_error err{};
    // A failure leaves the locks to the session's end (this backend's).
    (void)m_ops->unlock_all(m_connection, deadline(), &err);
}

Result<std::optional<std::string>> PluginBackend::peek(const std::string& name) {
    auto conn = connection();
    if (!conn) {
        return std::move(conn).error();
    }
    char* raw = nullptr;
    pam_totp_backend_error err{};
    const int rc = m_ops->read(conn.value(), name.c_str(), &raw, deadline(), &err);
    const BackendText text(m_ops, raw);
    if (rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    return text.value();
}

Status PluginBackend::write(const std::string& name, std::string_view text, Durability durability) {
    auto conn = connection();
    if (!conn) {
        return conn.error();
    }
    pam_totp_backend_error err{};
    const std::string copy(text);  // NUL-terminated for the C side
    const int rc = m_ops->write(conn.value(), name.c_str(), copy.c_str(), durability == Durability::durable ? 1 : 0,
                                deadline(), &err);
    if (rc != PAM_TOTP_BACKEND_OK) {
        return failure(rc, err);
    }
    return {};
}

}  // namespace pam_totp
