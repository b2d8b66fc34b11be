#include "probes/stat.h"

#include "probes/text.h"

namespace imwatch::probes {

namespace {

bool is_cpu_n(std::string_view key) {
  return key.size() > 3 && key.substr(0, 3) == "cpu" &&
         key.find_first_not_of("0123456789", 3) == std::string_view::npos;
}

}  // namespace

std::string parse_stat(std::string_view text, StatData& out) {
  out = {};
  bool have_cpu = false;
  Lines lines(text);
  std::string_view line, key;
  while (lines.next(line)) {
    Fields f(line);
    if (!f.next(key)) continue;
    std::string err;
    if (key == "cpu") {
      std::string_view tok;
      size_t n = 0;
      for (; n < cpu_columns && f.next(tok); ++n) {
        out.cpu[n] = to_u64(tok);
        if (!out.cpu[n]) return "stat: cpu line: bad value " + quote(tok);
      }
      // user, nice, system, idle exist on every kernel this agent runs on.
      if (n < 4) return "stat: cpu line has " + std::to_string(n) + " columns, expected at least 4";
      have_cpu = true;
    } else if (is_cpu_n(key)) {
      ++out.cpu_count;
    } else if (key == "intr") {
      err = u64_value("stat", key, f, out.intr);  // first number: the total
    } else if (key == "ctxt") {
      err = u64_value("stat", key, f, out.ctxt);
    } else if (key == "procs_running") {
      err = u64_value("stat", key, f, out.procs_running);
    } else if (key == "procs_blocked") {
      err = u64_value("stat", key, f, out.procs_blocked);
    }
    if (!err.empty()) return err;
  }
  if (!have_cpu) return "stat: no cpu line";
  return {};
}

unsigned count_cpu_lines(std::string_view stat) {
  unsigned n = 0;
  Lines lines(stat);
  std::string_view line, key;
  while (lines.next(line)) {
    Fields f(line);
    if (f.next(key) && is_cpu_n(key)) ++n;
  }
  return n;
}

}  // namespace imwatch::probes
