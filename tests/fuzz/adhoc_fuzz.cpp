// XEP-0050 form values (agent/adhoc_forms.h): what an admin's client
// submits for a command's form, or for the two stages of `set thresholds`,
// becomes a command line only when every value is one clean, bounded word
// of its kind; the line then runs through the registry.
//
// Input: the first byte picks the form, the rest are the values of its
// fields in order, separated by NUL bytes.
#include <cstddef>
#include <cstdint>
#include <map>

#include "agent/adhoc_forms.h"
#include "agent/text_util.h"
#include "agent_fixture.h"
#include "fuzz_util.h"

using namespace imwatch::agent;

namespace {

std::vector<std::string> split_nul(std::string_view in) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= in.size() && out.size() < 8) {
    size_t end = std::min(in.find('\0', start), in.size());
    out.emplace_back(in.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// A line made of the command's name and clean words, one per field at most.
void check_line(const FormLine& l, size_t max_words, std::string_view in) {
  if (!l.error.empty()) {
    // The error quotes what it refused, escaped: printable ASCII whatever came.
    IMWATCH_FUZZ_CHECK(l.line.empty() && imwatch::fuzz::printable(l.error), l.error);
    return;
  }
  auto words = split_words(l.line);
  IMWATCH_FUZZ_CHECK(!words.empty() && words.size() <= max_words, l.line + " <- " + std::string(in));
  IMWATCH_FUZZ_CHECK(valid_utf8(l.line), l.line);
  for (unsigned char c : l.line) IMWATCH_FUZZ_CHECK(c >= 0x20 && c != 0x7F, l.line);
  for (const auto& w : words) IMWATCH_FUZZ_CHECK(w.size() <= kMaxFieldValue, w);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  imwatch::fuzz::quiet_logs();
  static const std::vector<Rule> rules = imwatch::fuzz::fixed_rules();
  AlertEngine engine;
  engine.configure(rules, {3600, 6, 3600}, imwatch::fuzz::any_probe);
  const double wall = 1'700'000'000;
  engine.evaluate_rule(0, 0.21, 1, wall);  // load fires: alert #1
  engine.take_events();
  Snapshot snap;
  const std::string host = "web1";
  ChatContext ctx{snap, engine, host, std::nullopt, wall};

  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto values = split_nul(in);
  const auto nodes = adhoc_nodes();
  const AdhocNode& node = nodes[data[0] % nodes.size()];
  if (node.command && !node.command->params.empty()) {
    std::map<std::string, std::string> submitted;
    for (size_t i = 0; i < node.command->params.size() && i < values.size(); ++i)
      submitted[std::string(node.command->params[i].name)] = values[i];
    IMWATCH_FUZZ_CHECK(command_form(*node.command, ctx).has_value(), node.node);
    FormLine l = line_from_form(*node.command, submitted, ctx);
    check_line(l, 1 + node.command->params.size(), in);
    if (l.error.empty()) (void)run_command(l.line, ctx);
  } else {
    // `set thresholds`: stage one picks a rule, stage two its values.
    std::map<std::string, std::string> stage1{{"rule", values[0]}};
    const Rule* rule = chosen_rule(stage1, ctx);
    if (!rule) rule = &engine.rules()[data[0] & 1];
    std::map<std::string, std::string> stage2;
    const char* vars[] = {"warn", "crit", "for", "clear", "repeat"};
    for (size_t i = 1; i < values.size() && i <= 5; ++i) stage2[vars[i - 1]] = values[i];
    (void)threshold_values_form(*rule, 3600);
    FormLine l = threshold_line(*rule, stage2, 3600);
    check_line(l, 2 + 2 * 5, in);
    if (l.error.empty()) {
      IMWATCH_FUZZ_CHECK(l.line.rfind("set " + rule->name, 0) == 0, l.line);
      (void)run_command(l.line, ctx);
    }
  }
  return 0;
}
