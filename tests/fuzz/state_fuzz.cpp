// parse_state on an arbitrary state file, into an engine configured with two
// fixed rules (agent_fixture.h). A file that parses is saved again
// (serialize_state) and that text must parse into a fresh engine and save
// to the same text: what the agent writes, it can read back.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "agent/state_store.h"
#include "agent_fixture.h"
#include "fuzz_util.h"

using imwatch::agent::AlertEngine;

namespace {

AlertEngine engine() {
  AlertEngine e;
  e.configure(imwatch::fuzz::fixed_rules(), {3600, 6, 3600}, imwatch::fuzz::any_probe);
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  AlertEngine e = engine();
  std::string err = imwatch::agent::parse_state(text, e);
  imwatch::fuzz::check_error(err);
  if (!err.empty()) return 0;

  std::string saved = imwatch::agent::serialize_state(e);
  AlertEngine f = engine();
  std::string err2 = imwatch::agent::parse_state(saved, f);
  IMWATCH_FUZZ_CHECK(err2.empty(), err2 + " in: " + saved);
  std::string again = imwatch::agent::serialize_state(f);
  IMWATCH_FUZZ_CHECK(again == saved, saved + "  ->  " + again);
  return 0;
}
