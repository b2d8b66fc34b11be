// Every chat command's reply on every fixture tree under tests/fixtures/proc,
// diffed against tests/fixtures/golden/chat/TREE.txt (IMWATCH_UPDATE_GOLDEN=1
// rewrites them), and held to the layout every client can show: no line over
// 40 code points (a phone held upright), every XEP-0393 preformatted block
// opened after a title line and closed, so no table row follows the sender
// prefix a client prints before a message's first line, and no row inside a
// block starting with a space.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/chat.h"
#include "agent/daemon.h"
#include "agent/report.h"
#include "fakes/fake_statfs.h"
#include "probes/probes.h"

using namespace imwatch::agent;
using namespace imwatch;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = IMWATCH_FIXTURES;

std::vector<std::string> fixture_trees() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kFixtures + "/proc"))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// What a reply breaks of the layout rules, "" when nothing.
std::string layout_problems(const std::string& reply) {
  std::vector<std::string> lines;
  std::istringstream in(reply);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (!reply.empty() && reply.back() == '\n') lines.push_back("");
  std::string problems;
  bool in_block = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    const std::string where = "line " + std::to_string(i + 1) + " '" + l + "': ";
    if (columns(l) > kChatWidth) problems += where + "over 40 columns\n";
    if (l == "```") {
      if (!in_block && (i == 0 || lines[i - 1].empty() || lines[i - 1] == "```"))
        problems += where + "a block opens without a title line before it\n";
      in_block = !in_block;
    } else if (l.starts_with("```")) {
      problems += where + "starts with backticks but is no fence\n";
    } else if (in_block && l.starts_with(' ')) {
      // profanity drops a continued line's first space: the row would shift.
      problems += where + "a row starts with a space\n";
    }
  }
  if (in_block) problems += "a preformatted block is never closed\n";
  return problems;
}

// One fixture tree's snapshot, an engine whose rules are evaluated on it
// (one of them always fires), and a handler: what the daemon holds.
struct Agent {
  explicit Agent(const std::string& tree) : root(kFixtures + "/proc/" + tree) {
    // The filesystems of the trees (tests/fixtures/proc/filesystems; the
    // others have pseudo filesystems only): figures from a table, and /tank
    // does not answer.
    auto statfs = std::make_unique<test::FakeStatfs>();
    statfs->table = {{"/", test::fs_stats(250, 40, 300)},
                     {"/var", test::fs_stats(20, 93, 950)},
                     {"/mnt/my disk", test::fs_stats(1800, 99.9)},
                     {"/media/usb", test::fs_stats(0.5, 12)},
                     {"/var/tmp\\odd", test::fs_stats(0.01, 0, 0)}};
    statfs->hang = {"/tank"};
    list = probes::make_probes(root, {}, std::move(statfs));
    for (auto& p : list) {
      ProbeSample s{p->name(), p->metrics(), {}, {}, true, {}};
      s.error = p->collect(1, s.values);
      auto inst = p->instances();
      s.instances.assign(inst.begin(), inst.end());
      snap.probes.push_back(std::move(s));
    }
    std::vector<Rule> rules;
    for (const char* text :
         {"load: load1_per_cpu >= 0 crit 5", "memory: mem_used_pct > 80 crit 95 clear 75",
          "memory_pressure: psi_memory_some_avg10 > 10 crit 40 for 5m clear 5 repeat 2h", "swap: swap_used_pct > 50",
          "disk: fs_used_pct > 90 crit 95", "srv: fs_used_pct{/srv} > 90"}) {
      Rule r;
      EXPECT_EQ(parse_rule(text, metric_catalogue(), r), "") << text;
      rules.push_back(r);
    }
    engine.configure(rules, {}, [](const std::string&) { return std::string("loadavg"); });
    for (size_t i = 0; i < rules.size(); ++i)
      if (!rules[i].each_instance) engine.evaluate_rule(i, snap.get(rules[i].metric), 1, wall);
    for (const auto& p : snap.probes)
      if (p.labelled())
        engine.evaluate_instances(
            "loadavg", p.instances, [&](const std::string& m, size_t k) { return snap.get(probes::labelled_name(m, p.instances[k])); },
            1, wall);
    engine.take_events();
  }
  std::string say(const std::string& body, double after = 0) {
    ChatContext ctx{snap, engine, host, 3 * 86400 + 4 * 3600 + 59, wall + after};
    auto r = handler.handle("alice@example.org/phone", body, now += 1, ctx);
    return r ? *r : "(no reply)";
  }

  probes::ProcRoot root;
  std::vector<std::unique_ptr<probes::Probe>> list;
  Snapshot snap;
  AlertEngine engine;
  std::string host = "web1";
  double wall = 1'700'000'000;
  double now = 0;  // monotonic: one command a second, under the rate limit
  ChatHandler handler{{"alice@example.org"}};
};

// Every command, its help, typos and errors, in the order an admin might.
std::vector<std::pair<std::string, std::string>> transcript(const std::string& tree) {
  Agent a(tree);
  std::vector<std::pair<std::string, std::string>> out;
  auto ask = [&](const std::string& body, double after = 0) { out.emplace_back(body, a.say(body, after)); };
  for (const char* c : {"help", "status", "load", "mem", "vmstat", "psi", "disk", "df", "alerts", "rules", "graph", "ping"})
    ask(c);
  for (const char* c : {"status", "load", "mem", "vmstat", "psi", "disk", "alerts", "graph", "rules", "mute", "unmute",
                        "ack", "ping", "help"})
    ask(std::string("help ") + c);
  for (const char* c : {"stauts", "help stauts", "frobnicate", "", "mute 10m memory", "mute nosuchrule", "unmute x",
                        "ack x", "ack 7", "ack 1", "mute 2h"})
    ask(c);
  ask("alerts", 61);  // a minute on: what is left of a mute, rounded up
  ask("rules", 61);
  ask("unmute");
  // Past the rate limit: one warning that says when it listens again.
  ChatHandler h({"alice@example.org"});
  ChatContext ctx{a.snap, a.engine, a.host, std::nullopt, a.wall};
  std::optional<std::string> warning;
  for (int i = 0; i < 21; ++i) warning = h.handle("alice@example.org", "ping", 100 + i * 0.25, ctx);
  out.emplace_back("ping (21 in 5s)", warning.value_or("(no reply)"));
  return out;
}

class ChatGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ChatGolden, EveryReplyFitsFortyColumnsWithClosedFences) {
  for (const auto& [cmd, reply] : transcript(GetParam()))
    EXPECT_EQ(layout_problems(reply), "") << "> " << cmd << "\n" << reply;
}

TEST_P(ChatGolden, RepliesMatch) {
  std::string text;
  for (const auto& [cmd, reply] : transcript(GetParam())) text += "> " + cmd + "\n" + reply + "\n\n";
  const std::string golden = kFixtures + "/golden/chat/" + GetParam() + ".txt";
  if (std::getenv("IMWATCH_UPDATE_GOLDEN")) {
    fs::create_directories(kFixtures + "/golden/chat");
    std::ofstream(golden) << text;
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " (run with IMWATCH_UPDATE_GOLDEN=1)";
  std::ifstream in(golden);
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(text, want.str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChatGolden, ::testing::ValuesIn(fixture_trees()), [](const auto& info) {
  std::string n = info.param;
  for (auto& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
});

// The checker itself: each rule it enforces, on a reply that breaks it.
TEST(ChatLayout, CheckerCatchesEachBreak) {
  EXPECT_EQ(layout_problems("title\n```\nrow\n```"), "");
  EXPECT_NE(layout_problems(std::string(41, 'x')), "");
  EXPECT_EQ(layout_problems("\u2581\u2582\u2583" + std::string(37, 'x')), "");  // 40 code points, 46 bytes
  EXPECT_NE(layout_problems("```\nrow\n```"), "");                              // no title
  EXPECT_NE(layout_problems("title\n```\nrow"), "");                            // never closed
  EXPECT_NE(layout_problems("title\n```text\nrow\n```"), "");                   // not a bare fence
}

TEST(ChatLayout, FitBreaksBetweenPartsThenWordsThenCodePoints) {
  EXPECT_EQ(fit({"#1 WARNING load:", "load1 2 > 1,", "firing 12m"}), "#1 WARNING load: load1 2 > 1, firing 12m");
  EXPECT_EQ(fit({"#1 WARNING load:", "load1_per_cpu 0.21 > 0.1,", "firing 12m"}),
            "#1 WARNING load:\n  load1_per_cpu 0.21 > 0.1, firing 12m");
  // A word longer than a line is cut into pieces that fit a continued line.
  EXPECT_EQ(fit({std::string(50, 'a')}), std::string(38, 'a') + "\n  " + std::string(12, 'a'));
  std::string spark;
  for (int i = 0; i < 45; ++i) spark += "\u2585";
  std::string fitted = fit({spark});
  EXPECT_EQ(layout_problems(fitted), "") << fitted;
  EXPECT_EQ(columns(fitted), 45u + 1 + 2);  // nothing lost: the newline and the indent added
}

TEST(ChatLayout, OneLineUndoesFit) {
  const std::string text = "acknowledged #1: no more reminders until it resolves";
  const std::string fitted = fit({"acknowledged #1:", "no more reminders until it resolves"});
  EXPECT_EQ(fitted, "acknowledged #1:\n  no more reminders until it resolves");
  EXPECT_EQ(one_line(fitted), text);
  EXPECT_EQ(one_line("a\nb\n    c"), "a b c");
}

// The largest values a healthy or a sick machine shows still fit: full
// percentages, a load of 999, a PiB of memory, 10 GB/s of io, ten million
// interrupts a second, 99999 OOM kills.
TEST(ChatLayout, WorstCaseValuesFit) {
  probes::ProcRoot root(kFixtures + "/proc/current");
  auto list = probes::make_probes(root);
  Snapshot snap;
  for (auto& p : list) {
    ProbeSample s{p->name(), p->metrics(), {}, {}, true, {}};
    p->collect(1, s.values);
    for (size_t i = 0; i < s.metrics.size() && i < s.values.size(); ++i) {
      std::string_view m = s.metrics[i].name;
      double v = m.ends_with("_pct") || m.starts_with("psi_") ? 100
                 : m.starts_with("load")                      ? 999.99
                 : m.ends_with("_kb")                         ? 1023.0 * 1024 * 1024 * 1024 * 1024
                 : m == "cpu_count"                           ? 4096
                 : m.starts_with("oom_")                      ? 99'999
                                                              : 9'999'999;
      s.values[i] = v;
    }
    snap.probes.push_back(std::move(s));
  }
  for (const auto& rows : {chat_load(snap), chat_memory(snap), chat_vmstat(snap), chat_pressure(snap)})
    EXPECT_EQ(layout_problems("t\n```\n" + rows + "\n```"), "") << rows;
}

}  // namespace
