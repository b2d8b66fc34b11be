// loadavg probe: /proc/loadavg, divided by the online CPUs of /proc/stat.
// Kernel documentation: Documentation/filesystems/proc.rst, "1.2 Kernel data".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "probes/probe.h"

namespace imwatch::probes {

struct LoadAvgData {
  double load1 = 0, load5 = 0, load15 = 0;
  double runnable = 0, total = 0;  // 4th field, "runnable/total"
};

// Parses "0.22 0.12 0.09 1/68 12621". Returns "" or an error quoting the token.
std::string parse_loadavg(std::string_view text, LoadAvgData& out);

class LoadAvgProbe final : public Probe {
 public:
  explicit LoadAvgProbe(const ProcRoot& root);
  // Known without an instance: probes::catalogue() lists them.
  static constexpr std::string_view probe_name = "loadavg";
  static std::span<const MetricInfo> metric_table();

  std::string_view name() const override { return probe_name; }
  std::span<const MetricInfo> metrics() const override { return metric_table(); }
  std::string collect(double now, Values& out) override;

  // /proc/stat is the costliest file we read (its intr line grows with the
  // number of IRQs) and the vmstat probe reads it anyway; CPU hotplug is rare.
  // So the CPU count is refreshed from it at most this often.
  static constexpr double cpu_count_refresh = 60;

 private:
  ProcFile loadavg_;
  ProcFile stat_;
  std::optional<unsigned> cpus_;
  std::optional<double> cpus_read_at_;
};

}  // namespace imwatch::probes
