// parse_request: the line a local client sends over the control socket
// (agent/control.h), and the agent's response as the client parses it.
#include <cstddef>
#include <cstdint>

#include "agent/control.h"
#include "fuzz_util.h"

using imwatch::agent::Request;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // A small bound too, so that the fuzzer reaches it with short inputs.
  for (size_t max : {imwatch::agent::kMaxRequest, size_t{16}}) {
    Request r = imwatch::agent::parse_request(text, max);
    if (r.state == Request::State::complete) {
      // A command line: shorter than the bound, one line, no control bytes.
      IMWATCH_FUZZ_CHECK(r.line.size() < max, r.line);
      for (unsigned char c : r.line) IMWATCH_FUZZ_CHECK(c >= 0x20 ? c != 0x7F : c == '\t', r.line);
      // What follows the newline changes nothing.
      size_t nl = text.find('\n');
      Request again = imwatch::agent::parse_request(text.substr(0, nl + 1), max);
      IMWATCH_FUZZ_CHECK(again.state == Request::State::complete && again.line == r.line, r.line);
    } else if (r.state == Request::State::incomplete) {
      // Waiting for more only while there is room for it.
      IMWATCH_FUZZ_CHECK(text.size() < max && text.find('\n') == std::string_view::npos, text);
    } else {
      IMWATCH_FUZZ_CHECK(imwatch::fuzz::printable(r.error) && !r.error.empty(), r.error);
    }
  }
  if (auto resp = imwatch::agent::parse_response(text))
    IMWATCH_FUZZ_CHECK(!resp->status.empty() && resp->status.find('\n') == std::string::npos, resp->status);
  return 0;
}
