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
  // Labelled metrics (probes/probe.h): the instances of `values`, copied
  // from the probe after each sample.
  std::vector<std::string> instances;

  bool labelled() const { return !metrics.empty() && metrics[0].labelled; }
  // The value of metric `m` of instance `k` (k = 0 for a probe without
  // instances), or unknown.
  std::optional<double> at(size_t k, size_t m) const {
    size_t i = k * metrics.size() + m;
    return m < metrics.size() && i < values.size() ? values[i] : std::nullopt;
  }
  // The value of `metric` ("load1", "fs_used_pct{/var}") in this sample.
  std::optional<double> get(std::string_view metric) const;
  // f(name, value) for every value, labelled ones named "family{instance}".
  template <class F>
  void each(F&& f) const;
};

struct Snapshot {
  std::vector<ProbeSample> probes;
  // The latest value of a metric ("load1", "fs_used_pct{/var}"), or unknown.
  std::optional<double> get(std::string_view metric) const;
  // The probe sample holding labelled family `family`, or null.
  const ProbeSample* labelled(std::string_view family) const;
};

template <class F>
void ProbeSample::each(F&& f) const {
  if (!labelled()) {
    for (size_t m = 0; m < metrics.size() && m < values.size(); ++m) f(std::string_view(metrics[m].name), values[m]);
    return;
  }
  for (size_t k = 0; k < instances.size(); ++k)
    for (size_t m = 0; m < metrics.size(); ++m) {
      const std::string name = probes::labelled_name(metrics[m].name, instances[k]);
      f(std::string_view(name), at(k, m));
    }
}

}  // namespace imwatch::agent
