#include "probes/probe.h"

namespace imwatch::probes {

std::optional<size_t> find_metric(const Probe& probe, std::string_view metric) {
  auto m = probe.metrics();
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i].name == metric) return i;
  return std::nullopt;
}

MetricName split_metric(std::string_view name) {
  size_t open = name.find('{');
  if (open == std::string_view::npos || open == 0 || name.size() < open + 2 || name.back() != '}') return {name, {}, false};
  return {name.substr(0, open), name.substr(open + 1, name.size() - open - 2), true};
}

std::string labelled_name(std::string_view family, std::string_view instance) {
  std::string s;
  s.reserve(family.size() + instance.size() + 2);
  s.append(family).append("{").append(instance).append("}");
  return s;
}

}  // namespace imwatch::probes
