// Reads the RFC test-vector files in tests/data (found through TESTS_DATA).
#pragma once

#include <string>
#include <vector>

namespace pam_totp::test {

// The whitespace-separated fields of each non-comment, non-blank line.
std::vector<std::vector<std::string>> read_vector_file(const std::string& name);

// Hex text -> bytes.
std::string from_hex(const std::string& hex);

}  // namespace pam_totp::test
