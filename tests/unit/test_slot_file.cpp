// One state file of two checksummed slots (core/store/slot_file.h): round
// trips, the newest valid slot wins, a write torn at every byte offset of
// its slot leaves the record before it, a relaxed write never overwrites
// the newest durable record, growth into a larger file, new and damaged
// files, the file checks, and the bounded lock wait.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cmocka.hpp"
#include "core/store/slot_file.h"
#include "temp_tree.h"

namespace {

using pam_totp::Durability;
using pam_totp::Errc;
using pam_totp::SlotFile;
using pam_totp::UniqueFd;
using unittest::temp_dir;
using unittest::temp_tree_setup_in_memory;
using unittest::temp_tree_teardown;

constexpr uid_t other_uid = 65534;
constexpr std::chrono::milliseconds wait{2000};
constexpr std::size_t slot = pam_totp::min_slot_size;

UniqueFd open_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    assert_true(fd.valid());
    return fd;
}

SlotFile open_file(int dir_fd, const std::string& dir, const std::string& name, bool create = true) {
    auto f = SlotFile::open_locked(dir_fd, name, dir + "/" + name, ::geteuid(), wait, create);
    if (!f.ok()) {
        fail_msg("open_locked %s: %s", name.c_str(), f.error().message.c_str());
    }
    return std::move(f).value();
}

void write_ok(SlotFile& f, const std::string& text, Durability d) {
    const pam_totp::Status st = f.write(text, d);
    if (!st.ok()) {
        fail_msg("write: %s", st.error().message.c_str());
    }
}

// The newest record as a fresh reader sees it: nullopt for a new file.
std::optional<std::string> peek(int dir_fd, const std::string& dir, const std::string& name) {
    auto r = SlotFile::peek(dir_fd, name, dir + "/" + name, ::geteuid());
    if (!r.ok()) {
        fail_msg("peek %s: %s", name.c_str(), r.error().message.c_str());
    }
    return r.value();
}

std::string file_bytes(const std::string& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    assert_true(fd.valid());
    struct stat st {};
    assert_int_equal(::fstat(fd.get(), &st), 0);
    std::string data(static_cast<std::size_t>(st.st_size), '\0');
    assert_int_equal(::pread(fd.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
    return data;
}

// Replaces the whole content of `path` (same inode, mode kept).
void put_bytes(const std::string& path, const std::string& data) {
    const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    assert_true(fd.valid());
    assert_int_equal(::ftruncate(fd.get(), 0), 0);
    assert_int_equal(::pwrite(fd.get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
}

std::vector<std::string> dir_entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    assert_non_null(d);
    while (const struct dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") {
            out.push_back(name);
        }
    }
    ::closedir(d);
    return out;
}

std::string record(char fill, std::size_t size) {
    std::string text = "version 2\n";
    text.append(size > text.size() ? size - text.size() : 0, fill);
    return text;
}

// --- round trip, newest wins -------------------------------------------------

void round_trip(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    {
        SlotFile f = open_file(dfd.get(), dir, "u-alice");
        assert_false(f.text().has_value());  // created, never written
        assert_false(peek(dfd.get(), dir, "u-alice").has_value());
        write_ok(f, "first\n", Durability::durable);
        assert_true(*f.text() == "first\n");
        write_ok(f, "second\n", Durability::relaxed);
        write_ok(f, "third\n", Durability::durable);
        assert_true(*f.text() == "third\n");
        assert_true(*peek(dfd.get(), dir, "u-alice") == "third\n");
        // An empty text is a record too (not "never written").
        write_ok(f, "", Durability::durable);
        assert_true(peek(dfd.get(), dir, "u-alice").has_value());
        assert_true(peek(dfd.get(), dir, "u-alice")->empty());
        write_ok(f, "fourth\n", Durability::relaxed);
    }
    SlotFile again = open_file(dfd.get(), dir, "u-alice", false);
    assert_true(*again.text() == "fourth\n");
    struct stat st {};
    assert_int_equal(::stat((dir + "/u-alice").c_str(), &st), 0);
    assert_int_equal(st.st_size, 2 * slot);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_nlink, 1);
    // Nothing else was created: no temporary file, no lock file.
    assert_int_equal(dir_entries(dir).size(), 1);
}

// Of two valid slots the higher sequence number wins, whichever slot holds
// it; of one valid slot, that one.
void newest_valid_slot_wins(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    const std::string path = dir + "/u-bob";
    {
        SlotFile f = open_file(dfd.get(), dir, "u-bob");
        for (int i = 0; i < 7; ++i) {
            write_ok(f, "record " + std::to_string(i) + "\n", Durability::durable);
        }
    }
    // Records 5 and 6 are in the file, 6 the newest. Damage 6's slot: 5.
    const std::string good = file_bytes(path);
    const bool six_in_0 = good.find("record 6") < slot;
    const std::size_t six = six_in_0 ? 0 : slot;
    const std::size_t five = six_in_0 ? slot : 0;
    assert_true(good.compare(five + pam_totp::slot_header_size, 9, "record 5\n") == 0);
    assert_true(*peek(dfd.get(), dir, "u-bob") == "record 6\n");
    std::string bad = good;
    bad[six + pam_totp::slot_header_size] ^= 1;  // a bit of the text
    put_bytes(path, bad);
    assert_true(*peek(dfd.get(), dir, "u-bob") == "record 5\n");
    bad = good;
    bad[six + 9] ^= 1;  // a bit of the sequence number
    put_bytes(path, bad);
    assert_true(*peek(dfd.get(), dir, "u-bob") == "record 5\n");
    bad = good;
    bad[five + 40] ^= 1;  // a bit of the older slot's checksum
    put_bytes(path, bad);
    assert_true(*peek(dfd.get(), dir, "u-bob") == "record 6\n");
    // Swapping the slots changes nothing: the sequence number decides.
    put_bytes(path, good.substr(slot) + good.substr(0, slot));
    assert_true(*peek(dfd.get(), dir, "u-bob") == "record 6\n");
    // The next write after a damaged newest slot keeps the older good one.
    bad = good;
    bad[six + pam_totp::slot_header_size] ^= 1;
    put_bytes(path, bad);
    {
        SlotFile f = open_file(dfd.get(), dir, "u-bob", false);
        assert_true(*f.text() == "record 5\n");
        write_ok(f, "record 7\n", Durability::durable);
    }
    assert_true(*peek(dfd.get(), dir, "u-bob") == "record 7\n");
    const std::string after = file_bytes(path);
    assert_true(after.find("record 5\n") != std::string::npos);
}

// --- torn writes ---------------------------------------------------------------

// Every way the write that turned `before` into `after` can be cut short
// inside its slot: the first k bytes of the new slot written and the rest
// still old, or (a write reordered by the disk) the last bytes written and
// the first k still old. A reader must find `old_text` until the whole
// record is in the slot, then `new_text`; never anything else, never an
// error.
void expect_torn_writes_safe(int dir_fd, const std::string& dir, const std::string& before, const std::string& after,
                             const std::string& new_text, const std::string& previous, const std::string& last_durable,
                             bool previous_durable, const char* what) {
    assert_int_equal(before.size(), after.size());
    std::size_t changed = 0;
    std::size_t slots_changed = 0;
    for (std::size_t s = 0; s < 2; ++s) {
        if (before.compare(s * slot, slot, after, s * slot, slot) != 0) {
            changed = s;
            ++slots_changed;
        }
    }
    assert_int_equal(slots_changed, 1);  // one write touches one slot
    const std::size_t base = changed * slot;
    const std::size_t complete = pam_totp::slot_header_size + new_text.size();
    const std::string path = dir + "/torn";
    for (std::size_t k = 0; k <= slot; ++k) {
        for (const bool prefix : {true, false}) {
            std::string torn = before;
            if (prefix) {
                torn.replace(base, k, after, base, k);  // bytes [0, k) of the slot written
            } else {
                torn.replace(base + k, slot - k, after, base + k, slot - k);  // [k, slot) written
            }
            put_bytes(path, torn);
            auto r = SlotFile::peek(dir_fd, "torn", path, ::geteuid());
            const char* how = prefix ? "prefix" : "suffix";
            if (!r.ok()) {
                fail_msg("%s: torn at %zu (%s): %s", what, k, how, r.error().message.c_str());
            }
            if (!r.value()) {
                fail_msg("%s: torn at %zu (%s): read as a new file", what, k, how);
            }
            const std::string& got = *r.value();
            // The new record is readable exactly when its checked bytes (the
            // header and the text) all made it: with the prefix written, from
            // k = header + text on; with the suffix, when the bytes not written
            // happen to be equal already (the magic, for small k).
            const bool whole = torn.compare(base, complete, after, base, complete) == 0;
            if (prefix && k >= complete) {
                assert_true(whole);
            }
            if (prefix && k < pam_totp::slot_header_size && k > 32) {
                assert_false(whole);  // the sequence number and the checksum differ
            }
            if (whole) {
                if (got != new_text) {
                    fail_msg("%s: torn at %zu (%s): the whole new record was not read", what, k, how);
                }
                continue;
            }
            // Not whole: the record before it, or (when that one was relaxed:
            // never flushed, it may be lost) the newest durable record. Never
            // anything older, never nothing.
            const bool fine = got == previous || (!previous_durable && got == last_durable);
            if (!fine) {
                fail_msg("%s: torn at %zu (%s): read %zu bytes '%.20s'", what, k, how, got.size(), got.c_str() + 10);
            }
            // An untouched slot reads as before.
            if (torn == before && got != previous) {
                fail_msg("%s: untouched file at %zu (%s) lost its newest record", what, k, how);
            }
        }
    }
}

struct Step {
    std::string text;
    Durability durability;
};

// Writes `steps` in order; each write after the first is torn at every
// offset against the file as it was before it.
void torn_sequence(void** state, const std::vector<Step>& steps, const char* what) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    ::unlink((dir + "/u-seq").c_str());
    SlotFile f = open_file(dfd.get(), dir, "u-seq");
    write_ok(f, steps.front().text, steps.front().durability);
    std::string last_durable = steps.front().text;  // a file's first record is always durable
    bool previous_durable = true;
    for (std::size_t i = 1; i < steps.size(); ++i) {
        const std::string before = file_bytes(dir + "/u-seq");
        write_ok(f, steps[i].text, steps[i].durability);
        const std::string after = file_bytes(dir + "/u-seq");
        expect_torn_writes_safe(dfd.get(), dir, before, after, steps[i].text, steps[i - 1].text, last_durable,
                                previous_durable, what);
        previous_durable = steps[i].durability == Durability::durable;
        if (previous_durable) {
            last_durable = steps[i].text;
        }
    }
}

void torn_write_at_every_offset_keeps_the_previous_record(void** state) {
    // Both slots in turn (durable writes alternate), short and full records.
    torn_sequence(state,
                  {{record('a', 40), Durability::durable},
                   {record('b', 100), Durability::durable},
                   {record('c', 10), Durability::durable},
                   {record('d', slot - pam_totp::slot_header_size), Durability::durable},
                   {record('e', 500), Durability::durable}},
                  "durable");
    // Relaxed writes (settling) after a durable one (the charge).
    torn_sequence(state,
                  {{record('a', 40), Durability::durable},
                   {record('b', 80), Durability::relaxed},
                   {record('c', 60), Durability::durable},
                   {record('d', 300), Durability::relaxed},
                   {record('e', 20), Durability::relaxed},
                   {record('f', 70), Durability::durable}},
                  "durable and relaxed");
}

// Durable A, relaxed B, then a durable C torn: A must survive, since B was
// never flushed and a crash may have lost it. A relaxed write never goes
// to the slot of the newest durable record, and nor does the durable
// write after a relaxed one.
void relaxed_write_never_overwrites_the_newest_durable_record(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    const std::string path = dir + "/u-rule";
    const std::string a = record('A', 50);
    const std::string b = record('B', 60);
    const std::string c = record('C', 70);
    const std::string d = record('D', 80);
    SlotFile f = open_file(dfd.get(), dir, "u-rule");
    write_ok(f, a, Durability::durable);
    const std::string after_a = file_bytes(path);
    const std::size_t a_slot = after_a.find(a) < slot ? 0 : 1;
    write_ok(f, b, Durability::relaxed);
    const std::string after_b = file_bytes(path);
    // A's slot is untouched by B.
    assert_true(after_a.compare(a_slot * slot, slot, after_b, a_slot * slot, slot) == 0);
    write_ok(f, c, Durability::durable);
    const std::string after_c = file_bytes(path);
    // Nor by C: C replaced B, so that a torn C leaves A.
    assert_true(after_a.compare(a_slot * slot, slot, after_c, a_slot * slot, slot) == 0);
    // Torn C: the reader gets A (B's slot is the one torn), never nothing.
    const std::size_t c_slot = 1 - a_slot;
    for (std::size_t k = 0; k <= slot; ++k) {
        std::string torn = after_b;
        torn.replace(c_slot * slot, k, after_c, c_slot * slot, k);
        put_bytes(dir + "/torn", torn);
        auto r = SlotFile::peek(dfd.get(), "torn", dir + "/torn", ::geteuid());
        assert_true(r.ok());
        assert_true(r.value().has_value());
        const std::string& got = *r.value();
        if (got != a && got != b && got != c) {
            fail_msg("torn C at %zu: lost A", k);
        }
        const bool whole = torn.compare(c_slot * slot, pam_totp::slot_header_size + c.size(), after_c, c_slot * slot,
                                        pam_totp::slot_header_size + c.size()) == 0;
        // Untouched (k = 0): B; C whole: C; anything between: A.
        const std::string& want = whole ? c : (torn == after_b ? b : a);
        if (got != want) {
            fail_msg("torn C at %zu: read '%.3s'", k, got.c_str() + 10);
        }
    }
    // B torn while being written (it was never flushed): A.
    for (std::size_t k = 0; k < pam_totp::slot_header_size + b.size(); ++k) {
        std::string torn = after_a;
        torn.replace(c_slot * slot, k, after_b, c_slot * slot, k);
        put_bytes(dir + "/torn", torn);
        auto r = SlotFile::peek(dfd.get(), "torn", dir + "/torn", ::geteuid());
        assert_true(r.ok() && r.value().has_value());
        assert_true(*r.value() == a);
    }
    // Now C is the newest durable: a relaxed D goes to the other slot.
    write_ok(f, d, Durability::relaxed);
    const std::string after_d = file_bytes(path);
    assert_true(after_c.compare(c_slot * slot, slot, after_d, c_slot * slot, slot) == 0);
    assert_true(*peek(dfd.get(), dir, "u-rule") == d);
}

// --- growth --------------------------------------------------------------------

void growth_moves_to_a_bigger_file(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    const std::string path = dir + "/u-big";
    const std::string small = record('s', 100);
    const std::string big = record('g', 3000);  // more than a 1 KiB slot holds
    struct stat old_st {};
    {
        SlotFile f = open_file(dfd.get(), dir, "u-big");
        write_ok(f, small, Durability::durable);
        assert_int_equal(::stat(path.c_str(), &old_st), 0);
        assert_int_equal(old_st.st_size, 2 * slot);
        write_ok(f, big, Durability::relaxed);
        assert_true(*f.text() == big);
        // Writes after the growth go to the new file.
        write_ok(f, big + "x", Durability::durable);
    }
    struct stat st {};
    assert_int_equal(::stat(path.c_str(), &st), 0);
    assert_int_equal(st.st_size, 2 * 4096);  // 64 + 3000 bytes: 4 KiB slots
    assert_true(st.st_ino != old_st.st_ino);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_nlink, 1);
    assert_true(*peek(dfd.get(), dir, "u-big") == big + "x");
    // No growth file (n-u-big) left behind.
    const auto names = dir_entries(dir);
    assert_int_equal(names.size(), 1);
    // It grows again, up to the largest slot; beyond that a write is refused
    // and the record before it stays.
    SlotFile f = open_file(dfd.get(), dir, "u-big", false);
    const std::string huge = record('h', pam_totp::max_slot_size - pam_totp::slot_header_size);
    write_ok(f, huge, Durability::durable);
    assert_int_equal(::stat(path.c_str(), &st), 0);
    assert_int_equal(st.st_size, 2 * pam_totp::max_slot_size);
    const pam_totp::Status too_big = f.write(huge + "!", Durability::durable);
    assert_false(too_big.ok());
    assert_int_equal(too_big.error().code, Errc::invalid_argument);
    assert_true(*peek(dfd.get(), dir, "u-big") == huge);
    // And shrinking text stays in the big slots.
    write_ok(f, small, Durability::durable);
    assert_true(*peek(dfd.get(), dir, "u-big") == small);
}

// A new file's first record may already be big: the file is sized for it.
void first_record_sizes_the_file(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    SlotFile f = open_file(dfd.get(), dir, "u-first");
    const std::string big = record('f', 5000);
    write_ok(f, big, Durability::relaxed);  // the first record is written durably anyway
    struct stat st {};
    assert_int_equal(::stat((dir + "/u-first").c_str(), &st), 0);
    assert_int_equal(st.st_size, 2 * 8192);
    assert_true(*peek(dfd.get(), dir, "u-first") == big);
    // Its durable flag: a relaxed write next goes to the other slot.
    const std::string before = file_bytes(dir + "/u-first");
    write_ok(f, "next\n", Durability::relaxed);
    const std::string after = file_bytes(dir + "/u-first");
    assert_true(before.compare(0, 8192, after, 0, 8192) == 0);
}

// A login waiting for the lock while another grows the file reads the
// grown file, not the old inode it opened.
void waiter_follows_a_grown_file(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    const std::string path = dir + "/u-grow";
    const std::string big = record('w', 2000);
    {
        SlotFile f = open_file(dfd.get(), dir, "u-grow");
        write_ok(f, "small\n", Durability::durable);
    }
    struct stat old_st {};
    assert_int_equal(::stat(path.c_str(), &old_st), 0);
    // The child starts before the parent takes the lock: a child forked
    // while it is held would inherit the locked descriptor and wait for itself.
    int go[2];
    assert_int_equal(::pipe(go), 0);
    const pid_t child = ::fork();
    assert_true(child >= 0);
    if (child == 0) {
        ::close(go[1]);
        char c = 0;
        if (::read(go[0], &c, 1) != 1) {
            ::_exit(2);
        }
        auto w = SlotFile::open_locked(dfd.get(), "u-grow", path, ::geteuid(), std::chrono::milliseconds(10000), false);
        if (!w.ok()) {
            std::fprintf(stderr, "child: %s\n", w.error().message.c_str());
        } else if (!w.value().text() || *w.value().text() != big) {
            std::fprintf(stderr, "child: read %zu bytes\n", w.value().text() ? w.value().text()->size() : 0);
        }
        ::_exit(w.ok() && w.value().text() && *w.value().text() == big ? 0 : 1);
    }
    ::close(go[0]);
    std::optional<SlotFile> f(open_file(dfd.get(), dir, "u-grow", false));
    assert_int_equal(::write(go[1], "g", 1), 1);
    ::close(go[1]);
    // Wait until the child holds a descriptor of the old file (it then waits
    // for the lock), then grow it.
    const std::string fd_dir = "/proc/" + std::to_string(child) + "/fd";
    bool opened = false;
    for (int i = 0; i < 5000 && !opened; ++i) {
        if (DIR* d = ::opendir(fd_dir.c_str())) {
            while (const struct dirent* e = ::readdir(d)) {
                struct stat st {};
                if (::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && st.st_ino == old_st.st_ino &&
                    st.st_dev == old_st.st_dev) {
                    opened = true;
                }
            }
            ::closedir(d);
        }
        if (!opened) {
            const timespec pause{0, 1000 * 1000};
            ::nanosleep(&pause, nullptr);
        }
    }
    write_ok(*f, big, Durability::durable);
    f.reset();  // the lock goes with the file
    int status = 0;
    assert_int_equal(::waitpid(child, &status, 0), child);
    assert_true(opened);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

// --- new and damaged files -------------------------------------------------------

void empty_and_zero_files_read_as_new(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    // Size 0: created, and its creator died before the first write.
    put_bytes(dir + "/u-zero", "");
    assert_false(peek(dfd.get(), dir, "u-zero").has_value());
    // All zero: sized, and its creator died before the first record was whole.
    for (const std::size_t size : {2 * slot, std::size_t{2} * 4096}) {
        put_bytes(dir + "/u-zero", std::string(size, '\0'));
        assert_false(peek(dfd.get(), dir, "u-zero").has_value());
        SlotFile f = open_file(dfd.get(), dir, "u-zero", false);
        assert_false(f.text().has_value());
        write_ok(f, "now written\n", Durability::relaxed);
        assert_true(*peek(dfd.get(), dir, "u-zero") == "now written\n");
        put_bytes(dir + "/u-zero", "");
    }
    // The first record torn at any offset: a new file, or the record.
    {
        SlotFile f = open_file(dfd.get(), dir, "u-first");
        write_ok(f, "the first record\n", Durability::durable);
    }
    const std::string first = file_bytes(dir + "/u-first");
    for (std::size_t k = 0; k <= slot; ++k) {
        std::string torn(first.size(), '\0');
        torn.replace(0, k, first, 0, k);
        put_bytes(dir + "/torn", torn);
        const std::optional<std::string> got = peek(dfd.get(), dir, "torn");
        assert_true(got.has_value() == (k >= pam_totp::slot_header_size + 17));
        if (got) {
            assert_true(*got == "the first record\n");
        }
    }
    // A missing file: nothing to peek; not_found without create.
    assert_false(peek(dfd.get(), dir, "u-absent").has_value());
    auto absent = SlotFile::open_locked(dfd.get(), "u-absent", dir + "/u-absent", ::geteuid(), wait, false);
    assert_false(absent.ok());
    assert_int_equal(absent.error().code, Errc::not_found);
    assert_int_equal(::access((dir + "/u-absent").c_str(), F_OK), -1);
}

void expect_format(int dir_fd, const std::string& dir, const std::string& name) {
    auto p = SlotFile::peek(dir_fd, name, dir + "/" + name, ::geteuid());
    assert_false(p.ok());
    assert_int_equal(p.error().code, Errc::format);
    assert_non_null(std::strstr(p.error().message.c_str(), (dir + "/" + name).c_str()));
    auto o = SlotFile::open_locked(dir_fd, name, dir + "/" + name, ::geteuid(), wait, false);
    assert_false(o.ok());
    assert_int_equal(o.error().code, Errc::format);
}

void both_slots_damaged_is_a_format_error(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    {
        SlotFile f = open_file(dfd.get(), dir, "u-dmg");
        write_ok(f, "one\n", Durability::durable);
        write_ok(f, "two\n", Durability::durable);
    }
    const std::string good = file_bytes(dir + "/u-dmg");
    std::string bad = good;
    bad[pam_totp::slot_header_size] ^= 1;
    bad[slot + pam_totp::slot_header_size] ^= 1;
    put_bytes(dir + "/u-dmg", bad);
    expect_format(dfd.get(), dir, "u-dmg");
    // Garbage of the right size.
    put_bytes(dir + "/u-dmg", std::string(2 * slot, 'x'));
    expect_format(dfd.get(), dir, "u-dmg");
    // Sizes that are not two slots of a valid size.
    for (const std::size_t size : {std::size_t{1}, 2 * slot - 1, 2 * slot + 2, std::size_t{3} * slot, std::size_t{1024},
                                   2 * std::size_t{3000}}) {
        std::string odd = good;
        odd.resize(size, '\0');
        put_bytes(dir + "/u-dmg", odd);
        expect_format(dfd.get(), dir, "u-dmg");
    }
    // A wrong magic in both.
    bad = good;
    bad[0] = 'X';
    bad[slot] = 'X';
    put_bytes(dir + "/u-dmg", bad);
    expect_format(dfd.get(), dir, "u-dmg");
}

// --- file checks -----------------------------------------------------------------

void expect_unsafe_file(int dir_fd, const std::string& dir, const std::string& name, const char* why) {
    const std::string path = dir + "/" + name;
    auto o = SlotFile::open_locked(dir_fd, name, path, ::geteuid(), wait, true);
    assert_false(o.ok());
    if (o.error().code != Errc::unsafe || std::strstr(o.error().message.c_str(), why) == nullptr) {
        fail_msg("open_locked %s: %d '%s', expected unsafe '%s'", name.c_str(), static_cast<int>(o.error().code),
                 o.error().message.c_str(), why);
    }
    auto p = SlotFile::peek(dir_fd, name, path, ::geteuid());
    assert_false(p.ok());
    assert_int_equal(p.error().code, Errc::unsafe);
}

void refuses_what_is_not_a_private_state_file(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    {
        SlotFile f = open_file(dfd.get(), dir, "u-ok");
        write_ok(f, "ok\n", Durability::durable);
    }
    const std::string ok = dir + "/u-ok";
    // A symbolic link (to a good state file): refused, not followed.
    assert_int_equal(::symlink(ok.c_str(), (dir + "/u-link").c_str()), 0);
    expect_unsafe_file(dfd.get(), dir, "u-link", "symbolic link");
    // A dangling one is not followed to create a file either.
    assert_int_equal(::symlink((dir + "/elsewhere").c_str(), (dir + "/u-dangling").c_str()), 0);
    expect_unsafe_file(dfd.get(), dir, "u-dangling", "symbolic link");
    assert_int_equal(::access((dir + "/elsewhere").c_str(), F_OK), -1);
    // A second link.
    assert_int_equal(::link(ok.c_str(), (dir + "/u-second").c_str()), 0);
    expect_unsafe_file(dfd.get(), dir, "u-second", "links, expected 1");
    expect_unsafe_file(dfd.get(), dir, "u-ok", "links, expected 1");
    assert_int_equal(::unlink((dir + "/u-second").c_str()), 0);
    // Group or other access.
    assert_int_equal(::chmod(ok.c_str(), 0640), 0);
    expect_unsafe_file(dfd.get(), dir, "u-ok", "group or others have access");
    assert_int_equal(::chmod(ok.c_str(), 0600), 0);
    // A directory, a FIFO.
    assert_int_equal(::mkdir((dir + "/u-dir").c_str(), 0700), 0);
    auto d = SlotFile::open_locked(dfd.get(), "u-dir", dir + "/u-dir", ::geteuid(), wait, true);
    assert_false(d.ok());
    assert_int_equal(::mkfifo((dir + "/u-fifo").c_str(), 0600), 0);
    expect_unsafe_file(dfd.get(), dir, "u-fifo", "not a regular file");
    // Another owner (root may not own it either when the owner is not root).
    if (::geteuid() == 0) {
        assert_int_equal(::chown(ok.c_str(), other_uid, other_uid), 0);
        expect_unsafe_file(dfd.get(), dir, "u-ok", "owned by uid 65534");
        assert_int_equal(::chown(ok.c_str(), 0, 0), 0);
        auto as_other = SlotFile::peek(dfd.get(), "u-ok", ok, other_uid);
        assert_false(as_other.ok());
        assert_int_equal(as_other.error().code, Errc::unsafe);
    }
    // The good file is still fine.
    assert_true(*peek(dfd.get(), dir, "u-ok") == "ok\n");
}

// --- the lock --------------------------------------------------------------------

void lock_wait_is_bounded(void** state) {
    const std::string& dir = temp_dir(state);
    const UniqueFd dfd = open_dir(dir);
    {
        SlotFile f = open_file(dfd.get(), dir, "u-lock");
        write_ok(f, "held\n", Durability::durable);
    }
    // Another holder: a second open file description with the flock.
    const UniqueFd holder(::open((dir + "/u-lock").c_str(), O_RDONLY | O_CLOEXEC));
    assert_true(holder.valid());
    assert_int_equal(::flock(holder.get(), LOCK_EX | LOCK_NB), 0);
    const auto start = std::chrono::steady_clock::now();
    auto busy =
        SlotFile::open_locked(dfd.get(), "u-lock", dir + "/u-lock", ::geteuid(), std::chrono::milliseconds(150), false);
    const auto waited = std::chrono::steady_clock::now() - start;
    assert_false(busy.ok());
    assert_int_equal(busy.error().code, Errc::busy);
    // (The remaining wait is passed on in whole milliseconds, rounded down.)
    assert_true(waited >= std::chrono::milliseconds(140));
    assert_true(waited < std::chrono::seconds(2));
    // A look without the lock still works.
    assert_true(*peek(dfd.get(), dir, "u-lock") == "held\n");
    // Released: taken at once.
    assert_int_equal(::flock(holder.get(), LOCK_UN), 0);
    SlotFile f = open_file(dfd.get(), dir, "u-lock", false);
    assert_true(*f.text() == "held\n");
    // And held while the object lives.
    assert_int_equal(::flock(holder.get(), LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(newest_valid_slot_wins, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(torn_write_at_every_offset_keeps_the_previous_record, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(relaxed_write_never_overwrites_the_newest_durable_record,
                                        temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(growth_moves_to_a_bigger_file, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(first_record_sizes_the_file, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(waiter_follows_a_grown_file, temp_tree_setup_in_memory, temp_tree_teardown),
        cmocka_unit_test_setup_teardown(empty_and_zero_files_read_as_new, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(both_slots_damaged_is_a_format_error, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(refuses_what_is_not_a_private_state_file, temp_tree_setup_in_memory,
                                        temp_tree_teardown),
        cmocka_unit_test_setup_teardown(lock_wait_is_bounded, temp_tree_setup_in_memory, temp_tree_teardown),
    };
    return cmocka_run_group_tests_name("slot_file", tests, nullptr, nullptr);
}
