// ChatHandler::handle on an arbitrary message: the input is FROM NUL BODY
// (no NUL: all of it is the body, from an admin). The handler sees a fixed
// snapshot (every probe sampled once over tests/fixtures/proc/current) and an
// engine with two rules, one of them firing as alert #1. The message is
// handled a few times at increasing monotonic times (rate limit, stranger
// refusals), then an admin's `status` and `rules` show what it changed
// (mutes, acks).
//
// Every reply goes to a chat client as is: no control bytes but '\n'
// (chat.h: "what is echoed back is quoted"), and no line over the 40
// columns a phone shows (report.h), whatever is echoed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/chat.h"
#include "agent/report.h"
#include "agent_fixture.h"
#include "fuzz_util.h"
#include "probes/probes.h"

using namespace imwatch::agent;
namespace probes = imwatch::probes;

namespace {

struct Setup {
  probes::ProcRoot root{IMWATCH_FIXTURES "/proc/current"};
  std::vector<std::unique_ptr<probes::Probe>> list = probes::make_probes(root);
  Snapshot snap;
  std::vector<Rule> rules = imwatch::fuzz::fixed_rules();

  Setup() {
    imwatch::fuzz::quiet_logs();
    for (auto& p : list) {
      ProbeSample s{p->name(), p->metrics(), {}, {}, true};
      s.error = p->collect(1, s.values);
      snap.probes.push_back(std::move(s));
    }
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void check_reply(const std::optional<std::string>& reply, std::string_view input) {
  if (!reply) return;
  for (char c : *reply)
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n')
      imwatch::fuzz::fail("reply free of control bytes but '\\n'", *reply + "  <-  " + std::string(input), __FILE__,
                          __LINE__);
  for (size_t at = 0; at <= reply->size();) {
    size_t end = std::min(reply->find('\n', at), reply->size());
    if (columns(std::string_view(*reply).substr(at, end - at)) > kChatWidth)
      imwatch::fuzz::fail("every reply line fits 40 columns", *reply + "  <-  " + std::string(input), __FILE__,
                          __LINE__);
    at = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Setup& s = setup();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string_view from = nul == std::string_view::npos ? "alice@example.org/phone" : in.substr(0, nul);
  std::string_view body = nul == std::string_view::npos ? in : in.substr(nul + 1);

  AlertEngine engine;
  engine.configure(s.rules, {3600, 6, 3600}, imwatch::fuzz::any_probe);
  const double wall = 1'700'000'000;
  engine.evaluate_rule(0, 0.21, 1, wall);  // load fires: alert #1
  engine.take_events();
  const std::string host = "web1";
  ChatHandler handler({"alice@example.org", "Bob@Example.org"});

  for (double now : {0.0, 0.5, 11.0, 3600.0}) {
    ChatContext ctx{s.snap, engine, host, 3 * 86400 + 4 * 3600, wall + now};
    check_reply(handler.handle(from, body, now, ctx), in);
  }
  for (const char* cmd : {"status", "rules"}) {
    ChatContext ctx{s.snap, engine, host, std::nullopt, wall + 4000};
    check_reply(handler.handle("bob@example.org", cmd, 4000, ctx), in);
  }
  return 0;
}
