// parse_duration: the "30s", "5m", "1.5h" values of the config file.
#include <cstddef>
#include <cstdint>

#include "agent/config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // Intervals and windows feed the scheduler: a parsed duration is finite and >= 0.
  if (auto d = imwatch::agent::parse_duration(text)) imwatch::fuzz::check_value(*d, text);
  return 0;
}
