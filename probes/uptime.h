// /proc/uptime: seconds since boot, and the sum of the CPUs' idle seconds.
// Kernel documentation: Documentation/filesystems/proc.rst, "1.2 Kernel
// data" (uptime). The vmstat probe divides counters by it on the first
// sample; the chat's status shows it.
#pragma once

#include <string>
#include <string_view>

namespace imwatch::probes {

// First field of /proc/uptime, in seconds.
std::string parse_uptime(std::string_view text, double& seconds);

}  // namespace imwatch::probes
