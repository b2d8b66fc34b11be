// parse_meminfo on arbitrary /proc/meminfo contents, then estimate_available
// (the pre-3.14 MemAvailable estimate) over what was parsed.
#include <cstddef>
#include <cstdint>
#include <limits>

#include "fuzz_util.h"
#include "probes/meminfo.h"

using imwatch::probes::MeminfoData;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  MeminfoData m;
  std::string err = imwatch::probes::parse_meminfo(text, m);
  imwatch::fuzz::check_error(err);
  if (!err.empty()) return 0;
  IMWATCH_FUZZ_CHECK(m.mem_total.has_value(), text);

  // min_free_kbytes comes from another file: absent, typical, and extremes.
  const std::optional<uint64_t> min_free[] = {std::nullopt, 0, 67584, m.mem_free.value_or(1),
                                              std::numeric_limits<uint64_t>::max()};
  for (auto mf : min_free) {
    auto avail = imwatch::probes::estimate_available(m, mf);
    if (avail) imwatch::fuzz::check_value(*avail, text);
    // MemAvailable, when the kernel gives it, is taken as is.
    if (m.mem_available) IMWATCH_FUZZ_CHECK(avail && *avail == static_cast<double>(*m.mem_available), text);
  }
  return 0;
}
