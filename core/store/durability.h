// How far a state write must have gone before it returns (records.h says
// which writes need which).
#pragma once

namespace pam_totp {

enum class Durability {
    durable,  // on disk before the write returns (fdatasync; PostgreSQL: COMMIT)
    relaxed,  // may reach the disk later; a crash may lose it, never the durable record before it
};

}  // namespace pam_totp
