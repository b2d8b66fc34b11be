// parse_uptime on arbitrary /proc/uptime contents.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "probes/uptime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  double seconds = -1;
  std::string err = imwatch::probes::parse_uptime(text, seconds);
  imwatch::fuzz::check_error(err);
  if (err.empty()) imwatch::fuzz::check_value(seconds, text);
  return 0;
}
