// History::parse on an arbitrary history file. The file ends in a checksum that random bytes never match, so each input
// is tried twice: as it is, and with its last 8 bytes replaced by the checksum of the rest, so that the fuzzer reaches
// the record parser. A file that parses is saved again (serialize) and must parse to the same bytes; the rings it
// restored are then drawn (graph, sparklines) and fed a sample, which must not crash or draw a line over 40 columns.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/history.h"
#include "fuzz_util.h"

using imwatch::agent::History;

namespace {

constexpr double kNow = 1'700'000'000;

std::string with_checksum(std::string_view data) {
  std::string body(data.substr(0, data.size() - 8));
  const uint64_t h = imwatch::agent::history_checksum(body);
  for (int i = 0; i < 8; ++i) body += static_cast<char>((h >> (8 * i)) & 0xff);
  return body;
}

size_t columns(std::string_view line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

void exercise(History& h) {
  const std::string saved = h.serialize();
  History again;
  const std::string err = again.parse(saved);
  IMWATCH_FUZZ_CHECK(err.empty(), err);
  IMWATCH_FUZZ_CHECK(again.serialize() == saved, "round trip");

  for (const auto& name : h.names()) {
    std::string reply = imwatch::agent::graph_reply({"graph", name, "2d"}, &h, "web1", kNow);
    size_t start = 0;
    for (size_t nl; (nl = reply.find('\n', start)) != std::string::npos; start = nl + 1)
      IMWATCH_FUZZ_CHECK(columns(reply.substr(start, nl - start)) <= 40, reply);
    (void)imwatch::agent::alert_trend(h, name, kNow);
    const auto* s = h.find(name);
    for (double span : {600.0, 3600.0, 6 * 3600.0}) IMWATCH_FUZZ_CHECK(s->window(kNow, span, 32).size() <= 32, name);
    (void)s->current(kNow);
  }
  (void)imwatch::agent::status_trend(&h, kNow);
  for (const auto& name : h.names()) h.record(name, 10, kNow, 1.0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  History raw;
  std::string err = raw.parse(text);
  imwatch::fuzz::check_error(err);
  if (err.empty()) exercise(raw);
  if (size >= 8) {
    History fixed;
    err = fixed.parse(with_checksum(text));
    imwatch::fuzz::check_error(err);
    if (err.empty()) exercise(fixed);
  }
  return 0;
}
