#include "agent/snapshot.h"

namespace imwatch::agent {

std::optional<double> Snapshot::get(std::string_view metric) const {
  for (const auto& p : probes)
    for (size_t i = 0; i < p.metrics.size() && i < p.values.size(); ++i)
      if (p.metrics[i].name == metric) return p.values[i];
  return std::nullopt;
}

}  // namespace imwatch::agent
