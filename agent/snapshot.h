// The latest sample of every probe: what --once prints, what rules and chat
// commands read.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/probe.h"

namespace imwatch::agent {

struct ProbeSample {
  std::string_view name;
  std::span<const probes::MetricInfo> metrics;
  probes::Values values;  // unknown until the first sample
  std::string error;      // of the latest sample; "" when it was fine
  bool sampled = false;
};

struct Snapshot {
  std::vector<ProbeSample> probes;
  // The latest value of a metric, or unknown.
  std::optional<double> get(std::string_view metric) const;
};

}  // namespace imwatch::agent
