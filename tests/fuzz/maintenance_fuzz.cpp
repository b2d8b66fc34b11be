// parse_window on one `maintenance =` value. A window that parses writes a
// canonical text that parses again to the same text, and at instants around
// both DST changes of a zone that has them, an open window ends after now
// and a next start is after now.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "agent/maintenance.h"
#include "fuzz_util.h"

using namespace imwatch::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool tz = [] {
    ::setenv("TZ", "Europe/Berlin", 1);
    ::tzset();
    return true;
  }();
  (void)tz;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Window w;
  std::string err = parse_window(text, w);
  imwatch::fuzz::check_error(err);
  if (!err.empty()) return 0;

  const std::string canonical = w.canonical();
  imwatch::fuzz::check_error(canonical);
  Window again;
  std::string err2 = parse_window(canonical, again);
  IMWATCH_FUZZ_CHECK(err2.empty(), canonical + "  ->  " + err2);
  IMWATCH_FUZZ_CHECK(again.canonical() == canonical, canonical + "  ->  " + again.canonical());

  // 2026-03-29 00:30 UTC and 2026-10-25 00:30 UTC, then a step set by the input.
  const double step = 60.0 * static_cast<double>(size % 1440);
  for (double base : {1774744200.0, 1792888200.0})
    for (double t = base - 86400; t < base + 2 * 86400; t += 3600 + step) {
      if (auto end = window_end(w, t)) IMWATCH_FUZZ_CHECK(*end > t, canonical);
      if (auto next = window_next_start(w, t)) IMWATCH_FUZZ_CHECK(*next > t && *next < t + 9 * 86400, canonical);
    }
  return 0;
}
