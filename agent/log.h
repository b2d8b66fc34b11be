// Logging: spdlog to stderr. Under systemd (JOURNAL_STREAM set) each line
// carries an sd-daemon "<N>" priority prefix so journald keeps the levels.
#pragma once

#include <string>

namespace imwatch::agent {

// `level` is trace, debug, info, warn or error (already validated).
void setup_logging(const std::string& level);

}  // namespace imwatch::agent
