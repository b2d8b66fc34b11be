// The probe interface: a probe turns a proc root into one sample.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "probes/proc_file.h"

namespace imwatch::probes {

struct MetricInfo {
  std::string_view name;  // user-facing: rules and chat use it
  std::string_view unit;  // "", "kB", "%", "KiB/s", "/s"
  std::string_view help;
  // One value per instance of the probe (a mount point), named
  // `name{instance}`: fs_used_pct{/var}. A probe's metrics are all
  // labelled or none.
  bool labelled = false;
};

// One value per metric of the probe, in the order of Probe::metrics(); for
// a probe with labelled metrics, metrics().size() values per instance, in
// the order of instances() (instance-major). nullopt is *unknown*: the
// kernel did not say. It is never 0.
using Values = std::vector<std::optional<double>>;

class Probe {
 public:
  virtual ~Probe() = default;

  virtual std::string_view name() const = 0;
  virtual std::span<const MetricInfo> metrics() const = 0;
  // Labelled metrics only: what the latest collect() found (mount points),
  // which may change from one sample to the next. Empty for the others.
  virtual std::span<const std::string> instances() const { return {}; }

  // Takes one sample. `now` is a monotonic time in seconds, used for rates
  // between samples. `out` is resized to metrics().size(); what could be read
  // is filled in, the rest stays unknown. Returns an error naming the file
  // and quoting the offending token, or "" when everything read is fine.
  // Partial data and an error can come together (Telegraf's partial failure).
  virtual std::string collect(double now, Values& out) = 0;
};

// Index of `metric` in `probe.metrics()`, if it has it.
std::optional<size_t> find_metric(const Probe& probe, std::string_view metric);

// "fs_used_pct{/var}" -> ("fs_used_pct", "/var"); a name without braces
// has no instance. The instance runs from the first '{' to the final '}'.
struct MetricName {
  std::string_view family, instance;
  bool labelled = false;
};
MetricName split_metric(std::string_view name);
std::string labelled_name(std::string_view family, std::string_view instance);

}  // namespace imwatch::probes
