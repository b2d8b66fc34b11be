#include "probes/uptime.h"

#include "probes/text.h"

namespace imwatch::probes {

std::string parse_uptime(std::string_view text, double& seconds) {
  Fields f(text.substr(0, text.find('\n')));
  std::string_view tok;
  if (!f.next(tok)) return "uptime: empty file";
  auto v = to_double(tok);
  if (!v || *v < 0) return "uptime: bad value " + quote(tok);
  seconds = *v;
  return {};
}

}  // namespace imwatch::probes
