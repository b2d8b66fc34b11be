#include "probes/vmstat.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "probes/text.h"
#include "probes/uptime.h"

namespace imwatch::probes {

namespace {

enum : size_t {
  cpu_count,
  procs_running,
  procs_blocked,
  // rates, in the order of VmstatProbe's counters
  swap_in,
  swap_out,
  io_in,
  io_out,
  interrupts,
  ctx_switches,
  major_faults,
  oom_total,
  oom_new,
  cpu_user,
  cpu_system,
  cpu_idle,
  cpu_iowait,
  cpu_steal,
  count
};

constexpr MetricInfo kMetrics[count] = {
    {"cpu_count", "", "online CPUs (cpuN lines of /proc/stat)"},
    {"procs_running", "", "runnable tasks (vmstat r)"},
    {"procs_blocked", "", "tasks blocked on I/O (vmstat b)"},
    {"swap_in_kbps", "KiB/s", "memory swapped in from disk (vmstat si)"},
    {"swap_out_kbps", "KiB/s", "memory swapped out to disk (vmstat so)"},
    {"io_in_kbps", "KiB/s", "paged in from block devices (vmstat bi)"},
    {"io_out_kbps", "KiB/s", "paged out to block devices (vmstat bo)"},
    {"interrupts_ps", "/s", "interrupts (vmstat in)"},
    {"ctx_switches_ps", "/s", "context switches (vmstat cs)"},
    {"major_faults_ps", "/s", "major page faults"},
    {"oom_kills_total", "", "processes killed by the OOM killer since boot"},
    {"oom_kills", "", "OOM kills since the previous sample (0 on the first)"},
    {"cpu_user_pct", "%", "user + nice time (vmstat us)"},
    {"cpu_system_pct", "%", "system + irq + softirq time (vmstat sy)"},
    {"cpu_idle_pct", "%", "idle time (vmstat id)"},
    {"cpu_iowait_pct", "%", "time idle while waiting for I/O (vmstat wa)"},
    {"cpu_steal_pct", "%", "time stolen by the hypervisor (vmstat st)"},
};

using CpuTicks = decltype(StatData::cpu);

void append_error(std::string& errors, const std::string& e) {
  if (!errors.empty()) errors += "; ";
  errors += e;
}

// Reads `file` and parses it into `data`: true, or false with why added to
// `errors` (the probe reports what it could read, and the rest as errors).
template <class Data>
bool read_and_parse(ProcFile& file, std::string (*parse)(std::string_view, Data&), Data& data, std::string& errors) {
  if (file.read() != ReadStatus::ok) {
    append_error(errors, file.error());
    return false;
  }
  if (auto e = parse(file.data(), data); !e.empty()) {
    append_error(errors, e);
    return false;
  }
  return true;
}

// The gauges of /proc/stat: online CPUs and tasks running or blocked.
void put_task_counts(const StatData& st, Values& out) {
  if (st.cpu_count > 0) out[cpu_count] = st.cpu_count;
  if (st.procs_running) out[procs_running] = static_cast<double>(*st.procs_running);
  if (st.procs_blocked) out[procs_blocked] = static_cast<double>(*st.procs_blocked);
}

// Whether `ticks` can be measured from the baseline `prev`: the same columns
// present, none gone backwards (else the shares are taken since boot).
bool follows(const CpuTicks& ticks, const CpuTicks& prev) {
  for (size_t c = 0; c < cpu_columns; ++c)
    if (ticks[c].has_value() != prev[c].has_value() || (ticks[c] && *ticks[c] < *prev[c])) return false;
  return true;
}

}  // namespace

std::string parse_vmstat(std::string_view text, VmstatData& out) {
  out = {};
  struct Key {
    std::string_view name;
    std::optional<uint64_t> VmstatData::*field;
  };
  static constexpr Key keys[] = {
      {"pswpin", &VmstatData::pswpin},   {"pswpout", &VmstatData::pswpout},       {"pgpgin", &VmstatData::pgpgin},
      {"pgpgout", &VmstatData::pgpgout}, {"pgmajfault", &VmstatData::pgmajfault}, {"oom_kill", &VmstatData::oom_kill},
  };
  Lines lines(text);
  std::string_view line, key;
  size_t seen = 0;
  while (lines.next(line)) {
    Fields f(line);
    if (!f.next(key)) continue;
    ++seen;
    for (const Key& k : keys)
      if (k.name == key)
        if (auto err = u64_value("vmstat", key, f, out.*(k.field)); !err.empty()) return err;
  }
  if (seen == 0) return "vmstat: empty file";
  return {};
}

VmstatProbe::VmstatProbe(const ProcRoot& root)
    : stat_(root, "stat"),
      vmstat_(root, "vmstat"),
      uptime_(root, "uptime"),
      page_kib_(static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024.0) {}

std::span<const MetricInfo> VmstatProbe::metric_table() { return kMetrics; }

std::optional<double> VmstatProbe::uptime() {
  double s = 0;
  if (uptime_.read() != ReadStatus::ok || !parse_uptime(uptime_.data(), s).empty() || s <= 0) return std::nullopt;
  return s;
}

std::string VmstatProbe::collect(double now, Values& out) {
  out.assign(count, std::nullopt);
  std::string errors;
  StatData st;
  VmstatData vm;
  const bool stat_ok = read_and_parse(stat_, parse_stat, st, errors);
  const bool vm_ok = read_and_parse(vmstat_, parse_vmstat, vm, errors);
  if (stat_ok) put_task_counts(st, out);
  // A file that failed may have been parsed halfway: none of it is used.
  if (!stat_ok) st = {};
  if (!vm_ok) vm = {};
  collect_rates(now, st, vm, out);
  collect_oom(vm, out);
  if (stat_ok)
    collect_cpu(st, out);
  else
    prev_cpu_.reset();
  return errors;
}

void VmstatProbe::collect_rates(double now, const StatData& st, const VmstatData& vm, Values& out) {
  // Counters to rates. pswpin/pswpout count pages; pgpgin/pgpgout are KiB.
  const std::array<std::optional<uint64_t>, rate_count> cur = {vm.pswpin, vm.pswpout, vm.pgpgin,    vm.pgpgout,
                                                               st.intr,   st.ctxt,    vm.pgmajfault};
  const double scale[rate_count] = {page_kib_, page_kib_, 1, 1, 1, 1, 1};
  const double dt = prev_time_ ? now - *prev_time_ : 0;
  std::optional<double> boot_seconds;
  bool boot_read = false;
  for (size_t i = 0; i < rate_count; ++i) {
    if (!cur[i]) continue;
    std::optional<double> rate;
    if (prev_counters_[i] && dt > 0 && *cur[i] >= *prev_counters_[i]) {
      rate = static_cast<double>(*cur[i] - *prev_counters_[i]) / dt;
    } else {
      // First sample, or the counter went backwards (hotplug, wrap, another
      // machine's fixture): restart the baseline and report the since-boot
      // average, like vmstat's first line. Never a negative rate.
      if (!boot_read) boot_seconds = uptime(), boot_read = true;
      if (boot_seconds) rate = static_cast<double>(*cur[i]) / *boot_seconds;
    }
    // A subnormal uptime or a zero-length interval must not make an
    // infinite rate out of a sane counter.
    if (rate && std::isfinite(*rate * scale[i])) out[swap_in + i] = *rate * scale[i];
  }
  prev_counters_ = cur;
  prev_time_ = now;
}

void VmstatProbe::collect_oom(const VmstatData& vm, Values& out) {
  if (vm.oom_kill) {
    out[oom_total] = static_cast<double>(*vm.oom_kill);
    bool grew = prev_oom_ && *vm.oom_kill >= *prev_oom_;
    out[oom_new] = grew ? static_cast<double>(*vm.oom_kill - *prev_oom_) : 0.0;
  }
  prev_oom_ = vm.oom_kill;
}

void VmstatProbe::collect_cpu(const StatData& st, Values& out) {
  // Shares of CPU time between samples (since boot on the first), as
  // vmstat computes them. guest and guest_nice are already in user and
  // nice: only the first eight columns make the total.
  const CpuTicks& ticks = st.cpu;
  const bool delta = prev_cpu_ && follows(ticks, *prev_cpu_);
  double col[cpu_columns] = {};
  double total = 0;
  for (size_t c = 0; c < cpu_columns; ++c) {
    if (!ticks[c]) continue;
    col[c] = static_cast<double>(*ticks[c] - (delta ? *(*prev_cpu_)[c] : 0));
    if (c < guest) total += col[c];
  }
  // No tick elapsed (two samples within 1/USER_HZ): keep the old baseline
  // so the next sample covers a longer window.
  if (total > 0) {
    auto pct = [&](double v) { return v * 100.0 / total; };
    out[cpu_user] = pct(col[user] + col[nice]);
    out[cpu_system] = pct(col[system] + col[irq] + col[softirq]);
    out[cpu_idle] = pct(col[idle]);
    if (ticks[iowait]) out[cpu_iowait] = pct(col[iowait]);
    if (ticks[steal]) out[cpu_steal] = pct(col[steal]);
    prev_cpu_ = ticks;
  }
}

}  // namespace imwatch::probes
