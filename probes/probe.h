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
};

// One value per metric of the probe, in the order of Probe::metrics().
// nullopt is *unknown*: the kernel did not say. It is never 0.
using Values = std::vector<std::optional<double>>;

class Probe {
 public:
  virtual ~Probe() = default;

  virtual std::string_view name() const = 0;
  virtual std::span<const MetricInfo> metrics() const = 0;

  // Takes one sample. `now` is a monotonic time in seconds, used for rates
  // between samples. `out` is resized to metrics().size(); what could be read
  // is filled in, the rest stays unknown. Returns an error naming the file
  // and quoting the offending token, or "" when everything read is fine.
  // Partial data and an error can come together (Telegraf's partial failure).
  virtual std::string collect(double now, Values& out) = 0;
};

// Index of `metric` in `probe.metrics()`, if it has it.
std::optional<size_t> find_metric(const Probe& probe, std::string_view metric);

}  // namespace imwatch::probes
