// parse_stat and count_cpu_lines on arbitrary /proc/stat contents.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "probes/stat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  imwatch::probes::StatData st;
  std::string err = imwatch::probes::parse_stat(text, st);
  imwatch::fuzz::check_error(err);
  unsigned n = imwatch::probes::count_cpu_lines(text);
  if (err.empty()) {
    // The loadavg probe counts CPUs with the cheap function, vmstat with the
    // full parser: they must agree.
    IMWATCH_FUZZ_CHECK(n == st.cpu_count, text);
    // user, nice, system and idle are required; columns come in order.
    for (size_t c = 0; c < 4; ++c) IMWATCH_FUZZ_CHECK(st.cpu[c].has_value(), text);
    for (size_t c = 1; c < imwatch::probes::cpu_columns; ++c) IMWATCH_FUZZ_CHECK(!st.cpu[c] || st.cpu[c - 1], text);
  }
  return 0;
}
