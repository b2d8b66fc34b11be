// parse_overrides on an overrides file (the state dir's "overrides"): a file
// that parses serializes to text that parses to the same overrides, and
// each override applied over a fixed rule gets printable words from the
// rule parser (they reach chat and the log). The input's first line is also
// read as the words of a `set` command.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/overrides.h"
#include "agent/text_util.h"
#include "agent_fixture.h"
#include "fuzz_util.h"

using namespace imwatch::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& metrics = imwatch::fuzz::metrics();

  std::map<std::string, std::string> fields;
  imwatch::fuzz::check_error(parse_set_fields(split_words(text.substr(0, text.find('\n'))), fields));

  Overrides o;
  std::string err = parse_overrides(text, o);
  imwatch::fuzz::check_error(err);
  if (!err.empty()) {
    IMWATCH_FUZZ_CHECK(o.empty(), err);
    return 0;
  }
  IMWATCH_FUZZ_CHECK(o.size() <= kMaxOverrides, "too many");
  const std::string once = serialize_overrides(o);
  Overrides again;
  std::string err2 = parse_overrides(once, again);
  IMWATCH_FUZZ_CHECK(err2.empty(), once + "  ->  " + err2);
  IMWATCH_FUZZ_CHECK(serialize_overrides(again) == once, once);

  Rule file;
  IMWATCH_FUZZ_CHECK(parse_rule("memory: mem_used_pct > 80 crit 95 for 2m", metrics, file).empty(), "fixture");
  for (auto& [name, ov] : o) {
    Rule out;
    imwatch::fuzz::check_error(apply_override(file, ov, metrics, out));
    imwatch::fuzz::check_error(fields_text(ov));  // echoed in chat before the parser judged the values
    IMWATCH_FUZZ_CHECK(valid_utf8(ov.who), ov.who);
  }
  std::vector<std::string> dropped;
  auto rules = overridden_rules({file}, o, metrics, dropped);
  IMWATCH_FUZZ_CHECK(rules.size() == 1, "one rule in, one out");
  return 0;
}
