#include "agent/report.h"

#include <fmt/format.h>

#include <cmath>

namespace imwatch::agent {

namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      out += '\\', out += static_cast<char>(c);
    else if (c < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out += static_cast<char>(c);
  }
  return out + "\"";
}

// A value with a fixed number of decimals, or "?" when unknown.
std::string num(const std::optional<double>& v, int decimals, std::string_view suffix = "") {
  if (!v) return "?";
  return fmt::format("{:.{}f}{}", *v, decimals, suffix);
}

std::string kib(const std::optional<double>& v) { return v ? human_kib(*v) : "?"; }

constexpr int label_width = 10;
std::string row(std::string_view label, std::string_view text) {
  return fmt::format("{:<{}}{}\n", label, label_width, text);
}

}  // namespace

std::string human_kib(double kib) {
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = kib;
  size_t u = 0;
  while (std::fabs(v) >= 1024 && u + 1 < std::size(units)) v /= 1024, ++u;
  return fmt::format("{:.{}f} {}", v, u == 0 || v >= 100 ? 0 : 1, units[u]);
}

std::string format_json(const Snapshot& s, const std::string& host) {
  std::string out = "{\"host\":" + json_string(host);
  for (const auto& p : s.probes)
    for (size_t i = 0; i < p.metrics.size() && i < p.values.size(); ++i)
      if (p.values[i]) fmt::format_to(std::back_inserter(out), ",\"{}\":{}", p.metrics[i].name, *p.values[i]);
  return out + "}\n";
}

std::string format_load(const Snapshot& s) {
  auto g = [&](std::string_view m) { return s.get(m); };
  std::string cpus = g("cpu_count") ? fmt::format("{} CPUs", *g("cpu_count")) : "CPUs ?";
  return row("load",
             fmt::format("{} {} {}  per CPU {} {} {}", num(g("load1"), 2), num(g("load5"), 2), num(g("load15"), 2),
                         num(g("load1_per_cpu"), 2), num(g("load5_per_cpu"), 2), num(g("load15_per_cpu"), 2))) +
         row("",
             fmt::format("{}, tasks {} runnable of {}", cpus, num(g("tasks_runnable"), 0), num(g("tasks_total"), 0)));
}

std::string format_memory(const Snapshot& s) {
  auto g = [&](std::string_view m) { return s.get(m); };
  return row("memory", fmt::format("used {} of {} ({})", kib(g("mem_used_kb")), kib(g("mem_total_kb")),
                                   num(g("mem_used_pct"), 1, "%"))) +
         row("", fmt::format("available {}, free {}, buff/cache {}", kib(g("mem_available_kb")), kib(g("mem_free_kb")),
                             kib(g("mem_buff_cache_kb")))) +
         row("swap", g("swap_total_kb") == 0.0 ? std::string("none")
                                               : fmt::format("used {} of {} ({})", kib(g("swap_used_kb")),
                                                             kib(g("swap_total_kb")), num(g("swap_used_pct"), 1, "%")));
}

std::string format_vmstat(const Snapshot& s) {
  auto g = [&](std::string_view m) { return s.get(m); };
  return row("cpu", fmt::format("us {} sy {} id {} wa {} st {}", num(g("cpu_user_pct"), 1, "%"),
                                num(g("cpu_system_pct"), 1, "%"), num(g("cpu_idle_pct"), 1, "%"),
                                num(g("cpu_iowait_pct"), 1, "%"), num(g("cpu_steal_pct"), 1, "%"))) +
         row("procs", fmt::format("running {}, blocked {}", num(g("procs_running"), 0), num(g("procs_blocked"), 0))) +
         row("swap io",
             fmt::format("in {} KiB/s, out {} KiB/s", num(g("swap_in_kbps"), 1), num(g("swap_out_kbps"), 1))) +
         row("disk io", fmt::format("in {} KiB/s, out {} KiB/s", num(g("io_in_kbps"), 1), num(g("io_out_kbps"), 1))) +
         row("events", fmt::format("{} intr/s, {} cs/s, {} major faults/s", num(g("interrupts_ps"), 0),
                                   num(g("ctx_switches_ps"), 0), num(g("major_faults_ps"), 1))) +
         row("oom", fmt::format("{} kills since boot, {} new", num(g("oom_kills_total"), 0), num(g("oom_kills"), 0)));
}

std::string format_pressure(const Snapshot& s) {
  std::string out;
  bool any = false;
  for (std::string_view res : {"cpu", "memory", "io"}) {
    std::string line;
    for (std::string_view kind : {"some", "full"}) {
      line += fmt::format("{}{}", line.empty() ? "" : "  ", kind);
      for (std::string_view w : {"avg10", "avg60", "avg300"}) {
        auto v = s.get(fmt::format("psi_{}_{}_{}", res, kind, w));
        any = any || v.has_value();
        line += fmt::format("{:>7}", num(v, 2));
      }
    }
    out += row(fmt::format(" {}", res), line);
  }
  if (!any) return {};
  std::string cols = fmt::format("{:>7}{:>7}{:>7}", "avg10", "avg60", "avg300");
  return row("pressure", "    " + cols + "      " + cols + "  (% of time stalled)") + out;
}

std::string format_text(const Snapshot& s, const std::string& host) {
  std::string out = row("host", host) + format_load(s) + format_memory(s) + format_vmstat(s);
  std::string psi = format_pressure(s);
  return out + (psi.empty() ? row("pressure", "not available (kernel without PSI)") : psi);
}

}  // namespace imwatch::agent
