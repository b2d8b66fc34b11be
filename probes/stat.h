// /proc/stat: CPU time, online CPUs, interrupts, context switches, tasks.
// Kernel documentation: Documentation/filesystems/proc.rst, "1.8
// Miscellaneous kernel statistics in /proc/stat". Read by the vmstat probe
// (everything) and the loadavg probe (the CPU count).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imwatch::probes {

// Columns of the aggregate "cpu" line, in USER_HZ ticks. Old kernels have
// fewer columns (2.6.32 has 9); absent ones stay nullopt.
enum CpuColumn : size_t { user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice };
constexpr size_t cpu_columns = 10;

struct StatData {
  std::array<std::optional<uint64_t>, cpu_columns> cpu;
  unsigned cpu_count = 0;  // "cpuN" lines: online CPUs
  std::optional<uint64_t> intr, ctxt, procs_running, procs_blocked;
};

std::string parse_stat(std::string_view text, StatData& out);
// Number of "cpuN" lines: cheap, never fails (0 when there are none).
unsigned count_cpu_lines(std::string_view stat);

}  // namespace imwatch::probes
