// parse_plugin_output: everything a monitoring plugin may print (its first
// line, long text and perfdata after '|').
#include <cstddef>
#include <cstdint>

#include "agent/perfdata.h"
#include "fuzz_util.h"

using namespace imwatch::agent;

namespace {

// What reaches a chat line or a log: no control byte, bounded.
void check_text(const std::string& s, size_t max, const std::string& input) {
  if (s.size() > max) imwatch::fuzz::fail("text over its bound", s, __FILE__, __LINE__);
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) imwatch::fuzz::fail("control byte in text", input, __FILE__, __LINE__);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  PluginOutput o = parse_plugin_output(text);
  check_text(o.message, kMaxPluginMessage, text);
  for (const auto& d : o.detail) check_text(d, 200, text);
  if (o.perfdata.size() > kMaxPerfdata) imwatch::fuzz::fail("too many perfdata items", text, __FILE__, __LINE__);
  for (const auto& p : o.perfdata) {
    if (p.label.empty() || p.label.size() > kMaxPerfLabel) imwatch::fuzz::fail("bad label kept", text, __FILE__, __LINE__);
    IMWATCH_FUZZ_CHECK(!p.value || std::isfinite(*p.value), text);
    for (const auto& r : {p.warn, p.crit})
      if (r && r->start && r->end && *r->start > *r->end) imwatch::fuzz::fail("empty range kept", text, __FILE__, __LINE__);
    // The metric name is one word a rule can name.
    std::string m = perf_metric("x", p.label);
    if (m.find_first_of(" \t\n'\"=") != std::string::npos) imwatch::fuzz::fail("metric not one word", m, __FILE__, __LINE__);
  }
  // Perfdata alone parses the same way twice (no hidden state).
  std::vector<PerfItem> a, b;
  if (parse_perfdata(text, a) != parse_perfdata(text, b) || a.size() != b.size())
    imwatch::fuzz::fail("parse_perfdata not deterministic", text, __FILE__, __LINE__);
  return 0;
}
