// parse_pressure on arbitrary /proc/pressure/{cpu,memory,io} contents.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "probes/pressure.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  imwatch::probes::PressureData p;
  std::string err = imwatch::probes::parse_pressure(text, p);
  imwatch::fuzz::check_error(err);
  if (err.empty()) {
    IMWATCH_FUZZ_CHECK(p.some.has_value(), text);
    for (const auto& kind : {p.some, p.full})
      if (kind)
        for (double v : *kind) imwatch::fuzz::check_value(v, text);
  }
  return 0;
}
