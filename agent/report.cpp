#include "agent/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "probes/filesystem.h"

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
std::string bytes(const std::optional<double>& v) { return v ? human_kib(*v / 1024) : "?"; }

constexpr int label_width = 10;
std::string row(std::string_view label, std::string_view text) {
  return fmt::format("{:<{}}{}\n", label, label_width, text);
}

// Chat rows: a label of chat_label columns, then the text. Every row starts
// with its label, never with a space: profanity drops a continued line's
// first space, which would shift such a row by one column.
constexpr int chat_label = 6;
std::string chat_row(std::string_view label, std::string_view text) {
  return fmt::format("{:<{}}{}\n", label, chat_label, text);
}

std::string drop_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

size_t columns(std::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8)
    if ((c & 0xc0) != 0x80) ++n;  // every byte but UTF-8 continuation bytes starts a code point
  return n;
}

namespace {

// Cuts `w` into pieces of at most `room` code points (a word longer than a
// whole line), appending them to `units`.
void add_word(std::string_view w, size_t room, std::vector<std::string_view>& units) {
  while (columns(w) > room) {
    size_t cut = 0;
    for (size_t n = 0; n <= room && cut < w.size(); ++cut)
      if ((static_cast<unsigned char>(w[cut]) & 0xc0) != 0x80 && ++n > room) break;
    units.push_back(w.substr(0, cut));
    w.remove_prefix(cut);
  }
  if (!w.empty()) units.push_back(w);
}

// Units that are never broken: whole parts where they fit a continued line
// of `room` code points, else their words, else pieces of a word.
std::vector<std::string_view> fit_units(const std::vector<std::string>& parts, size_t room) {
  std::vector<std::string_view> units;
  for (const auto& part : parts) {
    std::string_view p = part;
    if (columns(p) <= room) {
      if (!p.empty()) units.push_back(p);
      continue;
    }
    for (size_t at = 0; at <= p.size();) {
      size_t sp = std::min(p.find(' ', at), p.size());
      if (sp > at) add_word(p.substr(at, sp - at), room, units);
      at = sp + 1;
    }
  }
  return units;
}

}  // namespace

std::string fit(const std::vector<std::string>& parts, size_t indent, size_t width) {
  indent = std::min(indent, width / 2);
  const size_t narrow = width - indent;  // a continued line's room
  std::string out, line;
  bool first = true;
  for (auto u : fit_units(parts, narrow)) {
    const size_t room = first ? width : narrow;
    if (line.empty()) {
      line = u;
    } else if (columns(line) + 1 + columns(u) <= room) {
      line += ' ';
      line += u;
    } else {
      out += (first ? "" : std::string(indent, ' ')) + line + "\n";
      first = false;
      line = u;
    }
  }
  if (!line.empty()) out += (first ? "" : std::string(indent, ' ')) + line;
  return drop_newline(std::move(out));
}

std::string one_line(std::string_view fitted) {
  std::string out;
  for (size_t i = 0; i < fitted.size(); ++i) {
    if (fitted[i] != '\n') {
      out += fitted[i];
      continue;
    }
    out += ' ';
    while (i + 1 < fitted.size() && fitted[i + 1] == ' ') ++i;
  }
  return out;
}

std::string preformatted(std::string_view title, std::string_view rows) {
  return fmt::format("{}\n```\n{}\n```", fit({std::string(title)}, 0), rows);
}

std::string chat_load(const Snapshot& s) {
  auto g = [&](std::string_view m) { return s.get(m); };
  auto three = [&](std::string_view a, std::string_view b, std::string_view c) {
    return fmt::format(" {:>5} {:>5} {:>5}", num(g(a), 2), num(g(b), 2), num(g(c), 2));
  };
  std::string cpus = g("cpu_count") ? fmt::format("{} CPUs", *g("cpu_count")) : "CPUs ?";
  return drop_newline(
      chat_row("load", three("load1", "load5", "load15") + " (1/5/15m)") +
      chat_row("/CPU", three("load1_per_cpu", "load5_per_cpu", "load15_per_cpu") + " (" + cpus + ")") +
      chat_row("tasks", fmt::format("{} runnable of {}", num(g("tasks_runnable"), 0), num(g("tasks_total"), 0))));
}

std::string chat_memory(const Snapshot& s) {
  auto g = [&](std::string_view m) { return s.get(m); };
  return drop_newline(chat_row("mem", fmt::format("used {} of {} ({})", kib(g("mem_used_kb")), kib(g("mem_total_kb")),
                                                  num(g("mem_used_pct"), 1, "%"))) +
                      chat_row("avail", fmt::format("{}, free {}", kib(g("mem_available_kb")), kib(g("mem_free_kb")))) +
                      chat_row("cache", fmt::format("{} (buff/cache)", kib(g("mem_buff_cache_kb")))) +
                      chat_row("swap", g("swap_total_kb") == 0.0
                                           ? std::string("none")
                                           : fmt::format("used {} of {} ({})", kib(g("swap_used_kb")),
                                                         kib(g("swap_total_kb")), num(g("swap_used_pct"), 1, "%"))));
}

std::string chat_vmstat(const Snapshot& s) {
  auto g = [&](std::string_view m) { return s.get(m); };
  return drop_newline(
      chat_row("cpu", fmt::format("us {} sy {} id {}", num(g("cpu_user_pct"), 1, "%"), num(g("cpu_system_pct"), 1, "%"),
                                  num(g("cpu_idle_pct"), 1, "%"))) +
      chat_row("cpu", fmt::format("wa {} st {}", num(g("cpu_iowait_pct"), 1, "%"), num(g("cpu_steal_pct"), 1, "%"))) +
      chat_row("procs", fmt::format("running {}, blocked {}", num(g("procs_running"), 0), num(g("procs_blocked"), 0))) +
      chat_row("swap", fmt::format("in {}, out {} KiB/s", num(g("swap_in_kbps"), 1), num(g("swap_out_kbps"), 1))) +
      chat_row("disk", fmt::format("in {}, out {} KiB/s", num(g("io_in_kbps"), 1), num(g("io_out_kbps"), 1))) +
      chat_row("intr", fmt::format("{}/s, context sw {}/s", num(g("interrupts_ps"), 0), num(g("ctx_switches_ps"), 0))) +
      chat_row("major", fmt::format("{} page faults/s", num(g("major_faults_ps"), 1))) +
      chat_row("oom",
               fmt::format("{} kills since boot, {} new", num(g("oom_kills_total"), 0), num(g("oom_kills"), 0))));
}

std::string chat_pressure(const Snapshot& s) {
  // 33 columns: resource, kind, then the three averages.
  std::string out = fmt::format("{:<11}{:>7}{:>7}{:>7}\n", "% stalled", "avg10", "avg60", "avg300");
  bool any = false;
  for (std::string_view res : {"cpu", "memory", "io"}) {
    for (std::string_view kind : {"some", "full"}) {
      out += fmt::format("{:<7}{:<4}", res, kind);
      for (std::string_view w : {"avg10", "avg60", "avg300"}) {
        auto v = s.get(fmt::format("psi_{}_{}_{}", res, kind, w));
        any = any || v.has_value();
        out += fmt::format("{:>7}", num(v, 2));
      }
      out += '\n';
    }
  }
  return any ? drop_newline(std::move(out)) : std::string();
}

std::string short_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "K", "M", "G", "T", "P", "E"};
  double v = bytes;
  size_t u = 0;
  while (std::fabs(v) >= 999.5 && u + 1 < std::size(units)) v /= 1024, ++u;
  return fmt::format("{:.{}f}{}", v, u == 0 || std::fabs(v) >= 9.95 ? 0 : 1, units[u]);
}

namespace {

// The mount point in at most `width` columns: a longer one keeps its end
// (the part that tells mounts apart) after an ellipsis.
std::string mount_cell(std::string_view m, size_t width) {
  if (columns(m) <= width) return std::string(m);
  while (!m.empty() && (columns(m) > width - 1 || (static_cast<unsigned char>(m[0]) & 0xc0) == 0x80)) m.remove_prefix(1);
  return "…" + std::string(m);
}

std::string opt_bytes(const std::optional<double>& v) { return v ? short_bytes(*v) : "?"; }

// Pads to `width` columns (fmt pads by code units, and a mount may not be ASCII).
std::string pad(std::string s, size_t width) {
  size_t c = columns(s);
  if (c < width) s.append(width - c, ' ');
  return s;
}

}  // namespace

std::string chat_disks(const Snapshot& s) {
  auto rows = disk_rows(s);
  if (rows.empty()) return {};
  // 15 + 5 + 7 + 6 + 6 = 39 columns.
  std::string out = pad("mount", 15) + fmt::format("{:>5}{:>7}{:>6}{:>6}\n", "use", "avail", "size", "inode");
  for (const auto& d : rows)
    out += pad(mount_cell(d.mount, 14), 15) + fmt::format("{:>5}{:>7}{:>6}{:>6}\n", num(d.used_pct, 0, "%"),
                                                        opt_bytes(d.avail), opt_bytes(d.size),
                                                        num(d.inodes_pct, 0, "%"));
  return drop_newline(std::move(out));
}

std::vector<std::string> chat_disk_notes(const Snapshot& s) {
  std::vector<std::string> notes;
  for (const auto& d : disk_rows(s)) {
    if (d.readonly == 1.0) notes.push_back(fit({d.mount, "is read-only"}));
    // +inf is "not filling": nothing to note, as for a mount with no fit yet.
    if (d.full_in_hours && std::isfinite(*d.full_in_hours))
      notes.push_back(fit({d.mount, fmt::format("full in {:.0f}h at this rate", std::ceil(*d.full_in_hours))}));
  }
  return notes;
}

std::string chat_fullest_disk(const Snapshot& s) {
  auto d = fullest_disk(s);
  if (!d) return {};
  return drop_newline(
      chat_row("disk", fmt::format("{} {} used, {} free", mount_cell(d->mount, 17), num(d->used_pct, 0, "%"),
                                   opt_bytes(d->avail))));
}

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
    p.each([&](std::string_view name, const std::optional<double>& v) {
      // JSON has no infinity: +inf (fs_full_in_hours, not filling) is null,
      // unknown is left out (README, metrics).
      if (v && !std::isfinite(*v))
        fmt::format_to(std::back_inserter(out), ",{}:null", json_string(name));
      else if (v)
        fmt::format_to(std::back_inserter(out), ",{}:{}", json_string(name), *v);
    });
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

std::vector<DiskRow> disk_rows(const Snapshot& s) {
  std::vector<DiskRow> rows;
  const ProbeSample* p = s.labelled("fs_used_pct");
  if (!p) return rows;
  for (size_t k = 0; k < p->instances.size(); ++k)
    rows.push_back({p->instances[k], p->at(k, probes::fs_used_pct), p->at(k, probes::fs_avail_bytes),
                    p->at(k, probes::fs_size_bytes), p->at(k, probes::fs_inodes_used_pct),
                    p->at(k, probes::fs_readonly), p->at(k, probes::fs_full_in_hours)});
  return rows;
}

std::optional<DiskRow> fullest_disk(const Snapshot& s) {
  std::optional<DiskRow> best;
  for (auto& r : disk_rows(s))
    if (r.used_pct && (!best || *r.used_pct > *best->used_pct)) best = std::move(r);
  return best;
}

std::string format_disks(const Snapshot& s) {
  std::string out;
  for (const auto& d : disk_rows(s)) {
    std::string ro = d.readonly == 1.0 ? ", read-only" : "";
    out += row(out.empty() ? "disks" : "",
               fmt::format("{} used {} of {}, avail {}, inodes {}{}", d.mount, num(d.used_pct, 0, "%"),
                           bytes(d.size), bytes(d.avail), num(d.inodes_pct, 0, "%"), ro));
  }
  return out.empty() ? row("disks", "none watched") : out;
}

std::string format_text(const Snapshot& s, const std::string& host) {
  std::string out = row("host", host) + format_load(s) + format_memory(s) + format_vmstat(s);
  std::string psi = format_pressure(s);
  return out + (psi.empty() ? row("pressure", "not available (kernel without PSI)") : psi) + format_disks(s);
}

}  // namespace imwatch::agent
