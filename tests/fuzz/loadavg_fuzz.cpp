// parse_loadavg on arbitrary /proc/loadavg contents.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "probes/loadavg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  imwatch::probes::LoadAvgData d;
  std::string err = imwatch::probes::parse_loadavg(text, d);
  imwatch::fuzz::check_error(err);
  if (err.empty()) {
    for (double v : {d.load1, d.load5, d.load15, d.runnable, d.total}) imwatch::fuzz::check_value(v, text);
  }
  return 0;
}
