// libFuzzer target: the slot decoder of a state file (core/store/slot_file.h),
// reached through SlotFile on a real file: the input becomes the whole file
// (in a private temporary directory, in memory when /dev/shm is a tmpfs).
// Properties: any content reads as a new file, a record, or Errc::format
// (never another error, never a crash); peek and open_locked agree; a file
// that reads can be written, and then reads back what was written, durable
// or relaxed, also when opened again.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "core/store/slot_file.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr const char* name = "u-fuzz";

// The directory, made once per process and emptied and removed at exit.
struct Scratch {
    std::string dir;
    int fd = -1;
};

Scratch* scratch_instance = nullptr;

void remove_scratch() {
    if (scratch_instance != nullptr) {
        ::unlinkat(scratch_instance->fd, name, 0);
        ::unlinkat(scratch_instance->fd, (std::string("n-") + name).c_str(), 0);  // a growth file
        ::close(scratch_instance->fd);
        ::rmdir(scratch_instance->dir.c_str());
    }
}

const Scratch& scratch() {
    if (scratch_instance == nullptr) {
        struct statfs sfs {};
        const bool tmpfs = ::statfs("/dev/shm", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
        std::string templ = std::string(tmpfs ? "/dev/shm" : "/tmp") + "/pam_totp-fuzz-slot.XXXXXX";
        FUZZ_CHECK(::mkdtemp(templ.data()) != nullptr);
        scratch_instance = new Scratch{templ, ::open(templ.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
        FUZZ_CHECK(scratch_instance->fd >= 0);
        std::atexit(remove_scratch);
    }
    return *scratch_instance;
}

void put_file(const Scratch& s, const std::uint8_t* data, std::size_t size) {
    ::unlinkat(s.fd, name, 0);
    const int fd = ::openat(s.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::write(fd, data + done, size - done);
        FUZZ_CHECK(n > 0);
        done += static_cast<std::size_t>(n);
    }
    FUZZ_CHECK(::fchmod(fd, 0600) == 0);
    FUZZ_CHECK(::close(fd) == 0);
}

std::optional<std::string> peek(const Scratch& s) {
    auto r = pam_totp::SlotFile::peek(s.fd, name, s.dir + "/" + name, ::geteuid());
    FUZZ_CHECK_MSG(r.ok(), r.ok() ? std::string() : r.error().message);
    return r.value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Scratch& s = scratch();
    put_file(s, data, size);
    const std::string path = s.dir + "/" + name;
    auto peeked = pam_totp::SlotFile::peek(s.fd, name, path, ::geteuid());
    auto opened = pam_totp::SlotFile::open_locked(s.fd, name, path, ::geteuid(), std::chrono::milliseconds(100), false);
    if (!peeked) {
        FUZZ_CHECK_MSG(peeked.error().code == pam_totp::Errc::format, peeked.error().message);
        FUZZ_CHECK(!opened.ok());
        FUZZ_CHECK(opened.error().code == pam_totp::Errc::format);
        return 0;
    }
    FUZZ_CHECK_MSG(opened.ok(), opened.error().message);
    pam_totp::SlotFile& file = opened.value();
    FUZZ_CHECK(file.text() == peeked.value());
    if (peeked.value()) {
        FUZZ_CHECK(size >= 2 * pam_totp::min_slot_size);
        FUZZ_CHECK(peeked.value()->size() + pam_totp::slot_header_size <= size / 2);
    }
    // Written over, whatever it held: each write reads back at once.
    const std::string first = "version 2\naccount fuzz\nlockouts " + std::to_string(size) + "\n";
    const pam_totp::Status relaxed = file.write(first, pam_totp::Durability::relaxed);
    FUZZ_CHECK_MSG(relaxed.ok(), relaxed.error().message);
    FUZZ_CHECK(peek(s) == first);
    const std::string second = first + "charge 1764290000\n";
    const pam_totp::Status durable = file.write(second, pam_totp::Durability::durable);
    FUZZ_CHECK_MSG(durable.ok(), durable.error().message);
    FUZZ_CHECK(peek(s) == second);
    const pam_totp::Status third = file.write(first, pam_totp::Durability::relaxed);
    FUZZ_CHECK(third.ok());
    {
        // Released and opened again: the newest record.
        pam_totp::SlotFile released = std::move(file);
    }
    auto again = pam_totp::SlotFile::open_locked(s.fd, name, path, ::geteuid(), std::chrono::milliseconds(100), false);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again.value().text() == first);
    return 0;
}
