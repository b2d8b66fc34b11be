// The fleet's room: addressed() on any line a room occupant can send, and
// PeerWatch driven by any sequence of room events and ping answers (what
// the room can make an agent do). addressed() never crashes, and what it
// returns as a command is non-empty, trimmed and the end of the line;
// PeerWatch stays within its bound and never announces one nick vanished
// twice without the room showing it present in between.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "agent/fleet.h"
#include "agent/peer_watch.h"
#include "fuzz_util.h"

using namespace imwatch::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The first byte picks the nick from the text's start: the fuzzer finds addressed lines.
  const std::string nick = text.substr(0, data[0] % 8);
  Addressed a = addressed(text, nick, "web1");
  if (a.to != Addressed::nobody) {
    IMWATCH_FUZZ_CHECK(!a.command.empty(), text);
    IMWATCH_FUZZ_CHECK(text.find(a.command) != std::string::npos, text);
    IMWATCH_FUZZ_CHECK(a.command.front() != ' ' && a.command.back() != ' ', text);
  }
  // Every byte an event about one of eight nicks.
  PeerWatch w(2, 6);
  w.set_self("n3", 0);
  double now = 0;
  std::map<std::string, int> vanished;  // nick -> announcements since its last return
  auto note = [&](const PeerNews& n) {
    if (n.kind == PeerNews::vanished)
      IMWATCH_FUZZ_CHECK(++vanished[n.nick] == 1, n.nick);
    else
      vanished[n.nick] = 0;
  };
  for (size_t i = 1; i < size; ++i) {
    const std::string who = "n" + std::to_string(data[i] & 7);
    now += 0.5;
    std::optional<PeerNews> n;
    switch ((data[i] >> 3) % 6) {
      case 0:
        vanished[who] = 0;  // it is back: a new disappearance may be announced
        n = w.present(who, 0, now, now);
        break;
      case 1: w.left(who, false, now, now); break;
      case 2: w.left(who, true, now, now); break;
      case 3: w.answered(who, now, now); break;
      case 4: n = w.gone(who, now, now); break;
      default:
        for (const auto& t : w.tick(now, now).news) note(t);
    }
    if (n) note(*n);
    IMWATCH_FUZZ_CHECK(w.tracked() <= 6, text);
  }
  return 0;
}
