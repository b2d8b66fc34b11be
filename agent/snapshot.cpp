#include "agent/snapshot.h"

namespace imwatch::agent {

std::optional<double> ProbeSample::get(std::string_view metric) const {
  const auto n = probes::split_metric(metric);
  if (labelled() != n.labelled) return std::nullopt;
  for (size_t m = 0; m < metrics.size(); ++m) {
    if (metrics[m].name != n.family) continue;
    if (!n.labelled) return at(0, m);
    for (size_t k = 0; k < instances.size(); ++k)
      if (instances[k] == n.instance) return at(k, m);
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> Snapshot::get(std::string_view metric) const {
  for (const auto& p : probes)
    if (auto v = p.get(metric)) return v;
  return std::nullopt;
}

const ProbeSample* Snapshot::labelled(std::string_view family) const {
  for (const auto& p : probes)
    if (p.labelled())
      for (const auto& m : p.metrics)
        if (m.name == family) return &p;
  return nullptr;
}

}  // namespace imwatch::agent
