#include "core/store/slot_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/files/file_lock.h"
#include "core/files/safe_file.h"
#include "core/util/hash.h"

namespace pam_totp {

namespace {

constexpr std::array<char, 8> magic = {'P', 'T', 'O', 'T', 'P', 'S', 'T', '2'};
constexpr std::size_t checked_header = 32;  // magic, seq, length, flags, reserved
constexpr std::uint32_t flag_durable = 1;
// Attempts to open the file a waiter finds replaced (by a grow) once it holds the lock.
constexpr int reopen_attempts = 8;

void put_u64(std::uint8_t* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
}
void put_u32(std::uint8_t* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) {
        p[i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
}
std::uint64_t get_u64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}
std::uint32_t get_u32(const std::uint8_t* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}

bool valid_slot_size(std::size_t size) noexcept {
    return size >= min_slot_size && size <= max_slot_size && (size & (size - 1)) == 0;
}

// The smallest slot size that holds `text`.
std::size_t slot_size_for(std::size_t text) noexcept {
    std::size_t size = min_slot_size;
    while (size < slot_header_size + text && size < max_slot_size) {
        size *= 2;
    }
    return size;
}

// What a state file must be when opened: root's (or the store owner's)
// alone, one link, no larger than two of the largest slots.
FileRules state_file_rules(uid_t owner) {
    return FileRules{.owner = owner, .root_may_own = false, .max_size = 2 * max_slot_size, .single_link = true};
}

// The file and what fstat said of it when it was checked.
struct OpenedState {
    UniqueFd fd;
    struct stat st {};
};

Result<OpenedState> open_state_file(int dir_fd, const std::string& name, const std::string& path, uid_t owner,
                                    bool create) {
    // O_NOFOLLOW: a symlink planted in place of the file is refused, not followed.
    const int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (create ? O_CREAT : 0);
    OpenedState opened{UniqueFd(::openat(dir_fd, name.c_str(), flags, 0600))};
    if (!opened.fd.valid()) {
        const int err = errno;
        if (err == ELOOP) {
            return make_error(Errc::unsafe, path + ": is a symbolic link");
        }
        return errno_error(path, err);
    }
    if (::fstat(opened.fd.get(), &opened.st) != 0) {
        return errno_error(path, errno);
    }
    if (Status ok = check_file(opened.st, path, state_file_rules(owner)); !ok) {
        return ok.error();
    }
    return opened;
}

// A slot's record: its text when the slot is valid.
struct Decoded {
    bool valid = false;
    bool zero = false;  // never written (all bytes zero)
    std::uint64_t seq = 0;
    bool durable = false;
    std::string_view text;
};

Decoded decode(std::span<const std::uint8_t> slot) {
    Decoded d;
    d.zero = std::all_of(slot.begin(), slot.end(), [](std::uint8_t b) { return b == 0; });
    if (d.zero || std::memcmp(slot.data(), magic.data(), magic.size()) != 0) {
        return d;
    }
    const std::uint32_t length = get_u32(slot.data() + 16);
    const std::uint32_t flags = get_u32(slot.data() + 20);
    if (length > slot.size() - slot_header_size || (flags & ~flag_durable) != 0 || get_u64(slot.data() + 24) != 0) {
        return d;
    }
    const Sha256Digest sum = sha256({slot.subspan(0, checked_header), slot.subspan(slot_header_size, length)});
    if (std::memcmp(sum.data(), slot.data() + checked_header, sum.size()) != 0) {
        return d;
    }
    d.valid = true;
    d.seq = get_u64(slot.data() + 8);
    d.durable = (flags & flag_durable) != 0;
    d.text = {reinterpret_cast<const char*>(slot.data() + slot_header_size), length};
    return d;
}

Status pwrite_all(int fd, const std::uint8_t* data, std::size_t size, off_t offset, const std::string& what) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pwrite(fd, data + done, size - done, offset + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_error(what + ": write", errno);
        }
        done += static_cast<std::size_t>(n);
    }
    return {};
}

}  // namespace

Result<SlotFile> SlotFile::open_locked(int dir_fd, const std::string& name, const std::string& path, uid_t owner,
                                       std::chrono::milliseconds lock_wait, bool create) {
    const auto deadline = std::chrono::steady_clock::now() + lock_wait;
    for (int attempt = 0; attempt < reopen_attempts; ++attempt) {
        auto opened = open_state_file(dir_fd, name, path, owner, create);
        if (!opened) {
            return std::move(opened).error();
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (Status locked = lock_exclusive(opened.value().fd.get(), std::max(left, std::chrono::milliseconds{0}), path);
            !locked) {
            return locked.error();
        }
        // The lock is on the inode: if a grow renamed a new file over the
        // name while this waited, the lock guards nothing; take the new one.
        // (The descriptor's inode is the one fstat saw when it was opened.)
        const struct stat& held = opened.value().st;
        struct stat named {};
        if (::fstatat(dir_fd, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) {
                continue;
            }
            return errno_error(path, errno);
        }
        if (held.st_dev != named.st_dev || held.st_ino != named.st_ino) {
            continue;
        }
        SlotFile file(std::move(opened.value().fd), dir_fd, name, path, owner);
        if (Status loaded = file.load(); !loaded) {
            return loaded.error();
        }
        return file;
    }
    return make_error(Errc::busy, path + ": replaced again and again while waiting for its lock");
}

Result<std::optional<std::string>> SlotFile::peek(int dir_fd, const std::string& name, const std::string& path,
                                                  uid_t owner) {
    auto opened = open_state_file(dir_fd, name, path, owner, false);
    if (!opened) {
        if (opened.error().code == Errc::not_found) {
            return std::optional<std::string>();
        }
        return std::move(opened).error();
    }
    // No lock: the size fstat saw a moment ago is as good as another's.
    const off_t size = opened.value().st.st_size;
    SlotFile file(std::move(opened.value().fd), dir_fd, name, path, owner);
    if (Status loaded = file.load(size); !loaded) {
        return loaded.error();
    }
    return file.m_text;
}

Status SlotFile::load(std::optional<off_t> known_size) {
    struct stat st {};
    if (known_size) {
        st.st_size = *known_size;
    } else if (::fstat(m_fd.get(), &st) != 0) {
        return errno_error(m_path, errno);
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    m_slots = {};
    m_text.reset();
    m_new = true;
    m_slot_size = 0;
    if (size == 0) {
        return {};  // created and never written (or its creator died first)
    }
    if (size % 2 != 0 || !valid_slot_size(size / 2)) {
        return make_error(Errc::format, m_path + ": damaged state file (" + std::to_string(size) +
                                            " bytes is not two slots); see pam_totp(8), FILES");
    }
    m_slot_size = size / 2;
    std::vector<std::uint8_t> data(size);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(m_fd.get(), data.data() + done, size - done, static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? errno_error(m_path + ": read", errno)
                         : make_error(Errc::io, m_path + ": shorter than its size while being read");
        }
        done += static_cast<std::size_t>(n);
    }
    const std::span<const std::uint8_t> all(data);
    const std::array<Decoded, 2> slots = {decode(all.subspan(0, m_slot_size)), decode(all.subspan(m_slot_size))};
    for (std::size_t i = 0; i < 2; ++i) {
        m_slots[i] = Slot{slots[i].valid, slots[i].seq, slots[i].durable};
    }
    if (!slots[0].valid && !slots[1].valid) {
        if (slots[0].zero || slots[1].zero) {
            return {};  // its creator died before the first record was complete
        }
        return make_error(Errc::format, m_path +
                                            ": damaged state file (no slot holds a valid record); see "
                                            "pam_totp(8), FILES");
    }
    const std::size_t newest = (!slots[1].valid || (slots[0].valid && slots[0].seq > slots[1].seq)) ? 0 : 1;
    m_text = std::string(slots[newest].text);
    m_new = false;
    return {};
}

std::size_t SlotFile::target_slot() const noexcept {
    if (!m_slots[0].valid && !m_slots[1].valid) {
        return 0;
    }
    const std::size_t newest = (!m_slots[1].valid || (m_slots[0].valid && m_slots[0].seq > m_slots[1].seq)) ? 0 : 1;
    const std::size_t other = 1 - newest;
    // Keep the newest durable record: overwrite the other slot when the
    // newest is durable (or the other holds nothing), else the newest itself,
    // which is relaxed and whose durable predecessor is in the other slot.
    if (!m_slots[other].valid || m_slots[newest].durable) {
        return other;
    }
    return newest;
}

std::uint64_t SlotFile::next_seq() const noexcept {
    return std::max(m_slots[0].valid ? m_slots[0].seq : 0, m_slots[1].valid ? m_slots[1].seq : 0) + 1;
}

Status SlotFile::write_slot(int fd, std::size_t slot_size, std::size_t index, std::string_view text, std::uint64_t seq,
                            bool durable) const {
    std::vector<std::uint8_t> slot(slot_size, 0);
    std::memcpy(slot.data(), magic.data(), magic.size());
    put_u64(slot.data() + 8, seq);
    put_u32(slot.data() + 16, static_cast<std::uint32_t>(text.size()));
    put_u32(slot.data() + 20, durable ? flag_durable : 0);
    std::memcpy(slot.data() + slot_header_size, text.data(), text.size());
    const Sha256Digest sum = sha256({std::span<const std::uint8_t>(slot.data(), checked_header),
                                     std::span<const std::uint8_t>(slot.data() + slot_header_size, text.size())});
    std::memcpy(slot.data() + checked_header, sum.data(), sum.size());
    if (Status st = pwrite_all(fd, slot.data(), slot.size(), static_cast<off_t>(index * slot_size), m_path); !st) {
        return st;
    }
    if (durable && ::fdatasync(fd) != 0) {
        return errno_error(m_path + ": fdatasync", errno);
    }
    return {};
}

Status SlotFile::write(std::string_view text, Durability durability) {
    if (slot_header_size + text.size() > max_slot_size) {
        return make_error(Errc::invalid_argument, m_path + ": state of " + std::to_string(text.size()) +
                                                      " bytes is larger than a slot can hold");
    }
    const bool durable = durability == Durability::durable;
    if (m_new) {
        // No record yet: size the file for this one (its creator may have
        // died before or after sizing it; nothing valid is lost either way).
        const std::size_t want = std::max(m_slot_size, slot_size_for(text.size()));
        if (want != m_slot_size) {
            if (::ftruncate(m_fd.get(), static_cast<off_t>(2 * want)) != 0) {
                return errno_error(m_path + ": cannot size the new state file", errno);
            }
            m_slot_size = want;
        }
    } else if (slot_header_size + text.size() > m_slot_size) {
        return grow(text);
    }
    const std::size_t index = target_slot();
    const std::uint64_t seq = next_seq();
    // A new file's name is durable only once the directory is synced, and
    // its first record is always written durably.
    const bool sync_dir = m_new;
    if (Status st = write_slot(m_fd.get(), m_slot_size, index, text, seq, durable || m_new); !st) {
        // The slot may be torn now: it holds nothing valid.
        m_slots[index] = Slot{};
        return st;
    }
    if (sync_dir && ::fsync(m_dir_fd) != 0) {
        return errno_error(m_path + ": directory fsync", errno);
    }
    m_slots[index] = Slot{true, seq, durable || m_new};
    m_new = false;
    m_text = std::string(text);
    return {};
}

Status SlotFile::grow(std::string_view text) {
    const std::size_t size = slot_size_for(text.size());
    // "n-" + the name: outside every name the state directory gives out
    // (u-, h-, t-, and pam_totp 0.1's), so no account's state is ever it.
    const std::string next = "n-" + m_name;
    const std::string next_path = m_path.substr(0, m_path.size() - m_name.size()) + next;
    // A leftover of a grow that died is taken over (O_TRUNC): under the
    // account's lock nobody else writes it, and at most one exists per file.
    UniqueFd fd(::openat(m_dir_fd, next.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600));
    if (!fd.valid()) {
        return errno_error(next_path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return errno_error(next_path, errno);
    }
    if (Status ok = check_file(st, next_path, state_file_rules(m_owner)); !ok) {
        return ok;
    }
    const std::uint64_t seq = next_seq();
    Status st2 = ::ftruncate(fd.get(), static_cast<off_t>(2 * size)) == 0
                     ? write_slot(fd.get(), size, 0, text, seq, true)
                     : errno_error(next_path + ": cannot size it", errno);
    // Locked before it takes the name, so that nobody reads it half-settled.
    if (st2 && ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        st2 = errno_error(next_path + ": cannot lock it", errno);
    }
    if (st2 && ::renameat(m_dir_fd, next.c_str(), m_dir_fd, m_name.c_str()) != 0) {
        st2 = errno_error(next_path + ": rename over " + m_path, errno);
    }
    if (!st2) {
        ::unlinkat(m_dir_fd, next.c_str(), 0);
        return st2;
    }
    if (::fsync(m_dir_fd) != 0) {
        return errno_error(m_path + ": directory fsync after growing it", errno);
    }
    m_fd = std::move(fd);  // the old file's lock goes with its descriptor
    m_slot_size = size;
    m_slots = {Slot{true, seq, true}, Slot{}};
    m_text = std::string(text);
    return {};
}

}  // namespace pam_totp
