#include "core/store/file_store.h"

#include <memory>

#include "core/store/file_backend.h"

namespace pam_totp {

FileStateStore::FileStateStore(std::string state_dir, uid_t owner, std::chrono::milliseconds lock_wait)
    : ClaimStore(std::make_unique<FileBackend>(state_dir, owner, lock_wait)), m_dir(std::move(state_dir)) {}

}  // namespace pam_totp
