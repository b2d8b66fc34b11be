// parse_rule on one `rule =` value, with the real metric catalogue. A rule
// that parses is explained (--check-config) and its canonical form (the
// fingerprint the state file keys on, what chat's `rules` shows) must parse
// again to the same canonical text.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/config.h"
#include "agent/rule.h"
#include "agent/text_util.h"
#include "agent_fixture.h"
#include "fuzz_util.h"

using imwatch::agent::Rule;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& metrics = imwatch::fuzz::metrics();
  Rule r;
  std::string err = imwatch::agent::parse_rule(text, metrics, r);
  imwatch::fuzz::check_error(err);
  if (!err.empty()) return 0;

  std::string canonical = r.canonical();
  imwatch::fuzz::check_error(canonical);
  imwatch::fuzz::check_error(r.explain(3600));
  imwatch::fuzz::check_error(r.explain(0));

  Rule again;
  std::string err2 = imwatch::agent::parse_rule(canonical, metrics, again);
  std::string second = err2.empty() ? again.canonical() : "";
  IMWATCH_FUZZ_CHECK(err2.empty(), canonical + "  ->  " + err2);
  IMWATCH_FUZZ_CHECK(second == canonical, canonical + "  ->  " + second);
  return 0;
}
