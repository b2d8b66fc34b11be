#include "probes/probe.h"

namespace imwatch::probes {

std::optional<size_t> find_metric(const Probe& probe, std::string_view metric) {
  auto m = probe.metrics();
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i].name == metric) return i;
  return std::nullopt;
}

}  // namespace imwatch::probes
