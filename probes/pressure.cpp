#include "probes/pressure.h"

#include "probes/text.h"

namespace imwatch::probes {

namespace {

// Ordered resource, kind (some, full), window (avg10, avg60, avg300).
constexpr MetricInfo kMetrics[] = {
    {"psi_cpu_some_avg10", "%", "share of time some tasks waited for CPU, last 10 s"},
    {"psi_cpu_some_avg60", "%", "share of time some tasks waited for CPU, last 60 s"},
    {"psi_cpu_some_avg300", "%", "share of time some tasks waited for CPU, last 300 s"},
    {"psi_cpu_full_avg10", "%", "share of time all tasks waited for CPU, last 10 s"},
    {"psi_cpu_full_avg60", "%", "share of time all tasks waited for CPU, last 60 s"},
    {"psi_cpu_full_avg300", "%", "share of time all tasks waited for CPU, last 300 s"},
    {"psi_memory_some_avg10", "%", "share of time some tasks waited for memory, last 10 s"},
    {"psi_memory_some_avg60", "%", "share of time some tasks waited for memory, last 60 s"},
    {"psi_memory_some_avg300", "%", "share of time some tasks waited for memory, last 300 s"},
    {"psi_memory_full_avg10", "%", "share of time all tasks waited for memory, last 10 s"},
    {"psi_memory_full_avg60", "%", "share of time all tasks waited for memory, last 60 s"},
    {"psi_memory_full_avg300", "%", "share of time all tasks waited for memory, last 300 s"},
    {"psi_io_some_avg10", "%", "share of time some tasks waited for I/O, last 10 s"},
    {"psi_io_some_avg60", "%", "share of time some tasks waited for I/O, last 60 s"},
    {"psi_io_some_avg300", "%", "share of time some tasks waited for I/O, last 300 s"},
    {"psi_io_full_avg10", "%", "share of time all tasks waited for I/O, last 10 s"},
    {"psi_io_full_avg60", "%", "share of time all tasks waited for I/O, last 60 s"},
    {"psi_io_full_avg300", "%", "share of time all tasks waited for I/O, last 300 s"},
};

constexpr std::string_view kResources[] = {"cpu", "memory", "io"};

// Index of avg10, avg60, avg300 in PressureData's arrays; -1 for any other key.
int window_slot(std::string_view key) { return key == "avg10" ? 0 : key == "avg60" ? 1 : key == "avg300" ? 2 : -1; }

// The key=value fields after a line's kind ("some" or "full"): all three
// averages must be there. "" or the error.
std::string parse_averages(std::string_view kind, Fields& f, std::array<double, 3>& out) {
  std::array<std::optional<double>, 3> avg;
  std::string_view field;
  while (f.next(field)) {
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) return "pressure: expected key=value, got " + quote(field);
    std::string_view key = field.substr(0, eq), value = field.substr(eq + 1);
    int slot = window_slot(key);
    if (slot < 0) continue;  // total=, and whatever later kernels add
    auto v = to_double(value);
    if (!v || *v < 0) return "pressure: " + std::string(key) + ": bad value " + quote(value);
    avg[static_cast<size_t>(slot)] = *v;
  }
  if (!avg[0] || !avg[1] || !avg[2]) return "pressure: " + std::string(kind) + " line lacks avg10/avg60/avg300";
  out = {*avg[0], *avg[1], *avg[2]};
  return {};
}

}  // namespace

std::string parse_pressure(std::string_view text, PressureData& out) {
  out = {};
  Lines lines(text);
  std::string_view line, kind;
  while (lines.next(line)) {
    Fields f(line);
    if (!f.next(kind)) continue;
    std::optional<std::array<double, 3>>* dest = nullptr;
    if (kind == "some")
      dest = &out.some;
    else if (kind == "full")
      dest = &out.full;
    else
      return "pressure: unexpected line kind " + quote(kind);
    std::array<double, 3> avg{};
    if (auto err = parse_averages(kind, f, avg); !err.empty()) return err;
    *dest = avg;
  }
  if (!out.some) return "pressure: no 'some' line";
  return {};
}

PressureProbe::PressureProbe(const ProcRoot& root)
    : files_{ProcFile(root, "pressure/cpu"), ProcFile(root, "pressure/memory"), ProcFile(root, "pressure/io")} {}

std::span<const MetricInfo> PressureProbe::metric_table() { return kMetrics; }

std::string PressureProbe::collect(double, Values& out) {
  out.assign(std::size(kMetrics), std::nullopt);
  std::string errors;
  for (size_t r = 0; r < files_.size(); ++r) {
    ReadStatus s = files_[r].read();
    if (s == ReadStatus::missing) continue;  // no PSI on this kernel: unknown
    std::string err;
    PressureData p;
    if (s != ReadStatus::ok)
      err = files_[r].error();
    else
      err = parse_pressure(files_[r].data(), p);
    if (!err.empty()) {
      if (!errors.empty()) errors += "; ";
      errors += err.starts_with("pressure:") ? "pressure/" + std::string(kResources[r]) + err.substr(8) : err;
      continue;
    }
    size_t base = r * 6;
    for (size_t w = 0; w < 3; ++w) {
      if (p.some) out[base + w] = (*p.some)[w];
      if (p.full) out[base + 3 + w] = (*p.full)[w];
    }
  }
  return errors;
}

}  // namespace imwatch::probes
