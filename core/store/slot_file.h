// One state file of the file store: two checksummed slots rewritten in
// place (pam_totp(8), FILES), so that updating it is one pwrite(2) and, when
// it must be durable, one fdatasync(2): no temporary file, no rename, no
// directory fsync on the login path, and nothing a killed process can leave
// behind.
//
//   slot 0 | slot 1            each `slot_size` bytes (a power of two,
//                              1 KiB to 256 KiB); the file is two slots
//   magic "PTOTPST2" (8 bytes), sequence number (u64), text length (u32),
//   flags (u32, bit 0: durable), 8 bytes of zero, SHA-256 of the first 32
//   bytes and the text (32 bytes), then the text and zero padding
//
// The reader takes the valid slot with the higher sequence number; a torn
// write spoils only the slot being written, and the other still holds the
// record before it. A durable write goes to the slot that does not hold the
// newest durable record, so that record survives until a newer one is on
// disk; a relaxed write (not flushed) likewise never overwrites it. Text
// that outgrows the slots moves to a new file with larger ones (n-NAME:
// written, synced, renamed over the old; the only rename, and rare).
//
// The file is locked with flock(2) on itself; a waiter that finds the name
// replaced by a larger file once it holds the lock opens the new one.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/store/durability.h"
#include "core/util/result.h"
#include "core/util/unique_fd.h"

namespace pam_totp {

inline constexpr std::size_t slot_header_size = 64;
inline constexpr std::size_t min_slot_size = 1024;
inline constexpr std::size_t max_slot_size = std::size_t{256} * 1024;

class SlotFile {
  public:
    // Opens `name` in the directory `dir_fd` (kept open by the caller for
    // the object's life), creating it empty (mode 0600) when missing and
    // `create` is set, and locks it, waiting at most `lock_wait`. The file
    // must be a regular file owned by `owner`, no group or world access, one
    // link. Errc::not_found when missing and not `create`; Errc::format when
    // both slots are damaged; Errc::busy when the lock stays taken.
    static Result<SlotFile> open_locked(int dir_fd, const std::string& name, const std::string& path, uid_t owner,
                                        std::chrono::milliseconds lock_wait, bool create);

    // The newest record without taking the lock (a quick look: it may be a
    // moment old). nullopt when there is no file or it was never written.
    static Result<std::optional<std::string>> peek(int dir_fd, const std::string& name, const std::string& path,
                                                   uid_t owner);

    // The text of the newest valid record; nullopt for a file never written.
    [[nodiscard]] const std::optional<std::string>& text() const noexcept { return m_text; }

    // Writes `text` as the newest record. Errors leave the previous records
    // as they were.
    Status write(std::string_view text, Durability durability);

  private:
    struct Slot {
        bool valid = false;
        std::uint64_t seq = 0;
        bool durable = false;
    };

    SlotFile(UniqueFd fd, int dir_fd, std::string name, std::string path, uid_t owner)
        : m_fd(std::move(fd)), m_dir_fd(dir_fd), m_name(std::move(name)), m_path(std::move(path)), m_owner(owner) {}

    // Reads both slots; `known_size` is the file's size when the caller has
    // just seen it (else fstat says).
    Status load(std::optional<off_t> known_size = std::nullopt);
    [[nodiscard]] std::size_t target_slot() const noexcept;
    [[nodiscard]] std::uint64_t next_seq() const noexcept;
    Status write_slot(int fd, std::size_t slot_size, std::size_t index, std::string_view text, std::uint64_t seq,
                      bool durable) const;
    Status grow(std::string_view text);

    UniqueFd m_fd;
    int m_dir_fd;
    std::string m_name;
    std::string m_path;
    uid_t m_owner;
    std::size_t m_slot_size = 0;  // 0: an empty file, never written
    std::array<Slot, 2> m_slots{};
    bool m_new = true;  // no valid record yet: the first write also syncs the directory
    std::optional<std::string> m_text;
};

}  // namespace pam_totp
