// vmstat probe: what vmstat(8) shows, from /proc/stat and /proc/vmstat.
// Kernel documentation: Documentation/filesystems/proc.rst, "1.8
// Miscellaneous kernel statistics in /proc/stat"; /proc/vmstat's counters are
// defined in include/linux/vm_event_item.h and mm/vmstat.c.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "probes/probe.h"

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

struct VmstatData {
  std::optional<uint64_t> pswpin, pswpout, pgpgin, pgpgout, pgmajfault, oom_kill;
};

std::string parse_stat(std::string_view text, StatData& out);
std::string parse_vmstat(std::string_view text, VmstatData& out);
// First field of /proc/uptime, in seconds.
std::string parse_uptime(std::string_view text, double& seconds);
// Number of "cpuN" lines: cheap, never fails (0 when there are none).
unsigned count_cpu_lines(std::string_view stat);

class VmstatProbe final : public Probe {
 public:
  explicit VmstatProbe(const ProcRoot& root);
  std::string_view name() const override { return "vmstat"; }
  std::span<const MetricInfo> metrics() const override;
  std::string collect(double now, Values& out) override;

  // The counters turned into rates, in the order of their metrics.
  static constexpr size_t rate_count = 7;

 private:
  std::optional<double> uptime();

  ProcFile stat_, vmstat_, uptime_;
  double page_kib_;
  // The previous sample, the baseline of the rates.
  std::optional<double> prev_time_;
  std::array<std::optional<uint64_t>, rate_count> prev_counters_{};
  std::optional<uint64_t> prev_oom_;
  std::optional<std::array<std::optional<uint64_t>, cpu_columns>> prev_cpu_;
};

}  // namespace imwatch::probes
