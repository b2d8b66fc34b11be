// vmstat probe: what vmstat(8) shows, from /proc/stat (probes/stat.h),
// /proc/vmstat and /proc/uptime (probes/uptime.h) for the since-boot
// averages. /proc/vmstat's counters are defined in the kernel's
// include/linux/vm_event_item.h and mm/vmstat.c.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "probes/probe.h"
#include "probes/stat.h"

namespace imwatch::probes {

struct VmstatData {
  std::optional<uint64_t> pswpin, pswpout, pgpgin, pgpgout, pgmajfault, oom_kill;
};

std::string parse_vmstat(std::string_view text, VmstatData& out);

class VmstatProbe final : public Probe {
 public:
  explicit VmstatProbe(const ProcRoot& root);
  // Known without an instance: probes::catalogue() lists them.
  static constexpr std::string_view probe_name = "vmstat";
  static std::span<const MetricInfo> metric_table();

  std::string_view name() const override { return probe_name; }
  std::span<const MetricInfo> metrics() const override { return metric_table(); }
  std::string collect(double now, Values& out) override;

  // The counters turned into rates, in the order of their metrics.
  static constexpr size_t rate_count = 7;

 private:
  std::optional<double> uptime();
  // The steps of collect(), each with the part of the previous sample it
  // needs: counters to rates, the OOM kill counter, CPU time to shares.
  void collect_rates(double now, const StatData& st, const VmstatData& vm, Values& out);
  void collect_oom(const VmstatData& vm, Values& out);
  void collect_cpu(const StatData& st, Values& out);

  ProcFile stat_, vmstat_, uptime_;
  double page_kib_;
  // The previous sample, the baseline of the rates.
  std::optional<double> prev_time_;
  std::array<std::optional<uint64_t>, rate_count> prev_counters_{};
  std::optional<uint64_t> prev_oom_;
  std::optional<std::array<std::optional<uint64_t>, cpu_columns>> prev_cpu_;
};

}  // namespace imwatch::probes
