// pressure probe: pressure stall information, /proc/pressure/{cpu,memory,io}.
// Kernel documentation: Documentation/accounting/psi.rst. PSI exists since
// 4.20 and can be disabled (psi=0): then its metrics are unknown, which is
// not an error.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "probes/probe.h"

namespace imwatch::probes {

struct PressureData {
  // avg10, avg60, avg300, in percent. `full` is absent from cpu before 5.13.
  std::optional<std::array<double, 3>> some, full;
};

std::string parse_pressure(std::string_view text, PressureData& out);

class PressureProbe final : public Probe {
 public:
  explicit PressureProbe(const ProcRoot& root);
  // Known without an instance: probes::catalogue() lists them.
  static constexpr std::string_view probe_name = "pressure";
  static std::span<const MetricInfo> metric_table();

  std::string_view name() const override { return probe_name; }
  std::span<const MetricInfo> metrics() const override { return metric_table(); }
  std::string collect(double now, Values& out) override;

 private:
  std::array<ProcFile, 3> files_;
};

}  // namespace imwatch::probes
