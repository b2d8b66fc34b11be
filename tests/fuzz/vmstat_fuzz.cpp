// parse_vmstat on arbitrary /proc/vmstat contents.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "probes/vmstat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  imwatch::probes::VmstatData vm;
  imwatch::fuzz::check_error(imwatch::probes::parse_vmstat(text, vm));
  return 0;
}
