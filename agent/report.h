// Human and JSON views of a snapshot, shared by --once and the chat commands.
#pragma once

#include <string>

#include "agent/snapshot.h"

namespace imwatch::agent {

// One JSON object: "host" and every known metric (unknown ones omitted).
std::string format_json(const Snapshot& s, const std::string& host);
// The compact, aligned view of `imwatch --once`.
std::string format_text(const Snapshot& s, const std::string& host);

// Sections, each a few lines that fit a phone screen; unknown values show '?'.
std::string format_load(const Snapshot& s);
std::string format_memory(const Snapshot& s);  // memory and swap
std::string format_vmstat(const Snapshot& s);
std::string format_pressure(const Snapshot& s);  // "" when the kernel has no PSI

// 1536 -> "1.5 MiB"; `kib` is in KiB.
std::string human_kib(double kib);

}  // namespace imwatch::agent
