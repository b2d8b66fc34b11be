// Rule syntax: the documented forms, errors that quote the token, the
// canonical form, and compile_rules' file:line errors.
#include "agent/rule.h"

#include <gtest/gtest.h>

using namespace imwatch::agent;

namespace {

const std::vector<std::string> kMetrics = {"load5_per_cpu", "mem_used_pct", "oom_kills", "mem_available_kb", "load1"};

Rule rule(const std::string& text) {
  Rule r;
  std::string err = parse_rule(text, kMetrics, r);
  EXPECT_EQ(err, "") << text;
  return r;
}

std::string parse_error(const std::string& text) {
  Rule r;
  return parse_rule(text, kMetrics, r);
}

// ---- syntax ----

TEST(RuleSyntax, ParsesTheDocumentedForms) {
  Rule r = rule("load: load5_per_cpu > 1.5 crit 3 for 5m clear 1.2");
  EXPECT_EQ(r.name, "load");
  EXPECT_EQ(r.op, Op::gt);
  EXPECT_EQ(r.warn, 1.5);
  EXPECT_EQ(*r.crit, 3);
  EXPECT_EQ(r.for_s, 300);
  EXPECT_EQ(*r.clear, 1.2);
  EXPECT_FALSE(r.repeat);
  EXPECT_EQ(r.canonical(), "load: load5_per_cpu > 1.5 crit 3 for 5m clear 1.2");
  Rule o = rule("oom: oom_kills > 0 repeat 0");
  EXPECT_EQ(*o.repeat, 0);
  Rule low = rule("lowmem: mem_available_kb <= 100000 crit 50000 clear 150000");
  EXPECT_EQ(low.op, Op::le);
  // Keywords in any order.
  EXPECT_EQ(rule("m: mem_used_pct >= 90 for 1m crit 97 repeat 2h").canonical(),
            "m: mem_used_pct >= 90 crit 97 for 1m repeat 2h");
}

TEST(RuleSyntax, ErrorsQuoteTheToken) {
  EXPECT_NE(parse_error("load load5_per_cpu > 1").find("expected 'NAME:"), std::string::npos);
  EXPECT_NE(parse_error("bad name!: load1 > 1").find("'bad name!'"), std::string::npos);
  std::string e = parse_error("x: load5_per_cpux > 1");
  EXPECT_NE(e.find("unknown metric 'load5_per_cpux'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'load5_per_cpu'"), std::string::npos) << e;
  EXPECT_NE(parse_error("x: load1 => 1").find("'=>'"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > high").find("'high'"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > 1 for 5").find("'5'"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > 1 crit").find("needs a value"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > 1 crit 2 crit 3").find("twice"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > 1 soon 3").find("'soon'"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > 2 crit 1").find("crit 1 must be >= warn 2"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 > 2 clear 3").find("good side"), std::string::npos);
  EXPECT_NE(parse_error("x: mem_available_kb < 10 clear 5").find("good side"), std::string::npos);
  EXPECT_NE(parse_error("x: load1 >").find("expected 'METRIC OP VALUE'"), std::string::npos);
}

TEST(RuleSyntax, CompileRulesReportsFileLineAndDuplicates) {
  Config cfg;
  cfg.rules = {{"a: load1 > 1", {"f.conf", 3}}, {"a: load1 > 2", {"f.conf", 4}}, {"b: nope > 1", {"f.conf", 5}}};
  std::vector<std::string> errors;
  auto rules = compile_rules(cfg, kMetrics, errors);
  EXPECT_EQ(rules.size(), 1u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "f.conf:4: rule 'a' is already defined at f.conf:3");
  EXPECT_EQ(errors[1].rfind("f.conf:5: rule 'b': unknown metric 'nope'", 0), 0u) << errors[1];
}

}  // namespace
