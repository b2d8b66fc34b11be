#include "probes/loadavg.h"

#include "probes/text.h"
#include "probes/stat.h"

namespace imwatch::probes {

namespace {

enum : size_t { load1, load5, load15, load1_pc, load5_pc, load15_pc, runnable, total, count };

constexpr MetricInfo kMetrics[count] = {
    {"load1", "", "1-minute load average"},
    {"load5", "", "5-minute load average"},
    {"load15", "", "15-minute load average"},
    {"load1_per_cpu", "", "load1 divided by the online CPUs"},
    {"load5_per_cpu", "", "load5 divided by the online CPUs"},
    {"load15_per_cpu", "", "load15 divided by the online CPUs"},
    {"tasks_runnable", "", "runnable scheduling entities"},
    {"tasks_total", "", "existing scheduling entities"},
};

}  // namespace

std::string parse_loadavg(std::string_view text, LoadAvgData& out) {
  Fields f(text.substr(0, text.find('\n')));
  std::string_view tok;
  double* loads[] = {&out.load1, &out.load5, &out.load15};
  for (double* d : loads) {
    if (!f.next(tok)) return "loadavg: expected 5 fields, got fewer";
    auto v = to_double(tok);
    if (!v || *v < 0) return "loadavg: bad load value " + quote(tok);
    *d = *v;
  }
  if (!f.next(tok)) return "loadavg: missing runnable/total field";
  size_t slash = tok.find('/');
  auto r = slash == std::string_view::npos ? std::nullopt : to_u64(tok.substr(0, slash));
  auto t = slash == std::string_view::npos ? std::nullopt : to_u64(tok.substr(slash + 1));
  if (!r || !t) return "loadavg: bad runnable/total field " + quote(tok);
  out.runnable = static_cast<double>(*r);
  out.total = static_cast<double>(*t);
  return {};
}

LoadAvgProbe::LoadAvgProbe(const ProcRoot& root) : loadavg_(root, "loadavg"), stat_(root, "stat") {}

std::span<const MetricInfo> LoadAvgProbe::metric_table() { return kMetrics; }

std::string LoadAvgProbe::collect(double now, Values& out) {
  out.assign(count, std::nullopt);

  if (!cpus_read_at_ || now - *cpus_read_at_ >= cpu_count_refresh || now < *cpus_read_at_) {
    // A missing or unreadable /proc/stat only makes the per-CPU loads unknown;
    // the vmstat probe reports what is wrong with that file.
    cpus_.reset();
    if (stat_.read() == ReadStatus::ok) {
      unsigned n = count_cpu_lines(stat_.data());
      if (n > 0) cpus_ = n;
    }
    cpus_read_at_ = now;
  }

  if (loadavg_.read() != ReadStatus::ok) return loadavg_.error();
  LoadAvgData d;
  if (auto err = parse_loadavg(loadavg_.data(), d); !err.empty()) return err;
  out[load1] = d.load1;
  out[load5] = d.load5;
  out[load15] = d.load15;
  out[runnable] = d.runnable;
  out[total] = d.total;
  if (cpus_) {
    out[load1_pc] = d.load1 / *cpus_;
    out[load5_pc] = d.load5 / *cpus_;
    out[load15_pc] = d.load15 / *cpus_;
  }
  return {};
}

}  // namespace imwatch::probes
