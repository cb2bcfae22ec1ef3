// Writing the JSON totp-admin prints (RFC 8259), and the times in it and
// in its tables: small on purpose, one document per run.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace totp_admin {

// A JSON string: quoted, with '"', '\' and control characters escaped
// (RFC 8259 section 7); bytes that are not UTF-8 as U+FFFD.
std::string json_string(std::string_view text);

// "2026-11-30T10:00:00Z" (RFC 3339, UTC), for JSON.
std::string utc_iso(std::time_t t);

// "2026-11-30 10:00:00" (UTC), for tables.
std::string utc_text(std::time_t t);

// One JSON object, its fields in the order they are added.
class JsonObject {
  public:
    JsonObject& add(std::string_view key, std::string_view value);
    JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
    JsonObject& add(std::string_view key, std::int64_t value);
    JsonObject& add(std::string_view key, bool value);
    JsonObject& add_null(std::string_view key);
    // A value already in JSON (an object or array built here).
    JsonObject& add_raw(std::string_view key, std::string_view json);
    // A string, or null when there is none (an empty one counts as none).
    JsonObject& add_text(std::string_view key, const std::optional<std::string>& value);
    // An integer, or null.
    JsonObject& add_count(std::string_view key, std::optional<std::int64_t> value);
    // KEY_at (RFC 3339) and KEY_unix, both null when `t` is nullopt.
    JsonObject& add_time(std::string_view key, std::optional<std::time_t> t);

    [[nodiscard]] std::string str() const { return m_text + "}"; }

  private:
    JsonObject& key(std::string_view name);
    std::string m_text = "{";
    bool m_empty = true;
};

// A JSON array of values already in JSON.
class JsonArray {
  public:
    JsonArray& add_raw(std::string_view json);
    [[nodiscard]] std::string str() const { return m_text + "]"; }

  private:
    std::string m_text = "[";
    bool m_empty = true;
};

}  // namespace totp_admin
