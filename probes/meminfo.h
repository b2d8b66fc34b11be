// meminfo probe: /proc/meminfo, with procps-ng 4 `free` semantics.
// Kernel documentation: Documentation/filesystems/proc.rst, "meminfo".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "probes/probe.h"

namespace imwatch::probes {

// The fields we use, in kB. Absent keys stay nullopt; unknown keys are
// ignored (they come and go between kernel versions).
struct MeminfoData {
  std::optional<uint64_t> mem_total, mem_free, mem_available, buffers, cached, sreclaimable, active_file, inactive_file,
      swap_total, swap_free;
};

std::string parse_meminfo(std::string_view text, MeminfoData& out);

// MemAvailable as the kernel estimates it (si_mem_available) for kernels
// before 3.14 that lack the field. min_free_kbytes comes from
// /proc/sys/vm/min_free_kbytes; without it, the classic free + buffers + cached.
std::optional<double> estimate_available(const MeminfoData& m, std::optional<uint64_t> min_free_kbytes);

class MeminfoProbe final : public Probe {
 public:
  explicit MeminfoProbe(const ProcRoot& root);
  // Known without an instance: probes::catalogue() lists them.
  static constexpr std::string_view probe_name = "meminfo";
  static std::span<const MetricInfo> metric_table();

  std::string_view name() const override { return probe_name; }
  std::span<const MetricInfo> metrics() const override { return metric_table(); }
  std::string collect(double now, Values& out) override;

 private:
  ProcFile meminfo_;
  ProcFile min_free_;
};

}  // namespace imwatch::probes
