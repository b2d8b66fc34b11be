// Outbox::parse on an arbitrary outbox file. A file that parses is saved
// again (serialize) and that text must parse into a fresh outbox and save to
// the same text. Then to_send() folds and renders it once, and what it
// leaves must round-trip the same way (the daemon saves after sending).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/outbox.h"
#include "agent_fixture.h"
#include "fuzz_util.h"

using imwatch::agent::Outbox;

namespace {

void round_trip(const Outbox& o) {
  std::string saved = o.serialize();
  Outbox fresh("web1", 1000, "q");
  std::string err = fresh.parse(saved);
  IMWATCH_FUZZ_CHECK(err.empty(), err + " in: " + saved);
  std::string again = fresh.serialize();
  IMWATCH_FUZZ_CHECK(again == saved, saved + "  ->  " + again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = (imwatch::fuzz::quiet_logs(), true);
  (void)once;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Outbox o("web1", 1000, "p");
  std::string err = o.parse(text);
  imwatch::fuzz::check_error(err);
  if (!err.empty()) {
    IMWATCH_FUZZ_CHECK(o.size() == 0, err);  // on error unchanged
    return 0;
  }
  round_trip(o);
  for (auto* m : o.to_send(1'700'000'000)) IMWATCH_FUZZ_CHECK(!m->id.empty(), m->text);
  round_trip(o);
  return 0;
}
