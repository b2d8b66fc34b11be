// The list of probes. Adding a probe touches its own file pair and this list
// (an explicit list, not static self-registration: no initialisation order).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/filesystem.h"
#include "probes/probe.h"

namespace imwatch::probes {

// What a probe measures, known without opening a file: config, rules and
// --help check names against it.
struct ProbeInfo {
  std::string_view name;
  std::span<const MetricInfo> metrics;
};

// Every probe, in the order of make_probes().
std::span<const ProbeInfo> catalogue();
// The names of catalogue()'s probes, and of all their metrics, in order.
std::vector<std::string> probe_names();
std::vector<std::string> metric_names();

// Whether `name` is a metric with one value per instance (fs_used_pct).
bool labelled_family(std::string_view name);

// `statfs` null: the real one (probes/statfs.h); tests pass a fake.
std::vector<std::unique_ptr<Probe>> make_probes(const ProcRoot& root, const FilesystemOptions& fs = {},
                                                std::unique_ptr<Statfs> statfs = nullptr);

}  // namespace imwatch::probes
