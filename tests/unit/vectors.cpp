#include "vectors.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pam_totp::test {

std::vector<std::vector<std::string>> read_vector_file(const std::string& name) {
    const char* dir = std::getenv("TESTS_DATA");
    const std::string path = std::string(dir != nullptr ? dir : "tests/data") + "/" + name;
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("cannot open " + path + " (set TESTS_DATA)");
    }
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream fields(line);
        std::vector<std::string> row;
        std::string field;
        while (fields >> field) {
            row.push_back(field);
        }
        rows.push_back(row);
    }
    return rows;
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

}  // namespace pam_totp::test
