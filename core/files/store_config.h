// The shared store's configuration, store.conf (pam_totp(8), FLEET): who
// the module connects to and how long it waits. Root's alone (owner root,
// mode 0600, in directories only root controls), checked like a central
// secret file, since it may hold a password; never on the PAM line, which
// /etc/pam.d makes world-readable.
//
//   # comment
//   conninfo host=db1,db2 dbname=pam_totp user=pam_totp_host sslmode=verify-full target_session_attrs=read-write
//   timeout 3
//   backend /usr/lib/x86_64-linux-gnu/pam_totp/pam_totp_pgsql.so
//
// A key, one space, and the value to the end of the line (it may hold
// spaces). conninfo is required (a libpq connection string, or service=NAME
// for pg_service.conf); timeout bounds each piece of a login's work on the
// store as a whole (the look before the prompt; the work after an answer),
// connecting included, 1 to 60 seconds (default 3); backend names the object
// that talks to the server (default: the one installed with pam_totp).
// Unknown or repeated keys, and malformed lines, are errors that name the
// line and never quote a value.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/util/result.h"
#include "core/util/secure_buffer.h"

namespace pam_totp {

inline constexpr std::string_view default_store_config = "/etc/pam_totp/store.conf";

struct StoreConfig {
    SecureBuffer conninfo;  // may hold a password: wiped when it goes
    std::chrono::seconds timeout{3};
    std::string backend{};  // the backend object's absolute path
};

// Parses the text of a store.conf; `default_backend` when it names none.
Result<StoreConfig> parse_store_config(std::string_view text, std::string_view default_backend);

// Reads and parses `path`, checked as root's alone.
Result<StoreConfig> read_store_config(const std::string& path, std::string_view default_backend);

}  // namespace pam_totp
