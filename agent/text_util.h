// Text helpers of config, rules and chat. Those the probes use too live in
// probes/text.h.
#pragma once

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "probes/text.h"

namespace imwatch::agent {

std::string trim(std::string_view s);
std::string to_lower(std::string_view s);
// 'token', cut short, control bytes escaped: safe to put in a log line or
// reply. The probes' own, so that both quote alike.
using probes::quote;
// Up to `max` candidates closest to `word` (edit distance), best first;
// only those close enough to be a plausible typo.
std::vector<std::string> nearest(std::string_view word, const std::vector<std::string>& candidates, size_t max);
// 'a', 'b' or 'c'
std::string join_quoted(const std::vector<std::string>& words);
// Splits on runs of spaces and tabs.
std::vector<std::string> split_words(std::string_view s);
// Well-formed UTF-8: no overlong forms, surrogates or code points past
// U+10FFFF, no sequence cut short.
bool valid_utf8(std::string_view s);

// std::round (halves away from zero), without libm. round and llround were
// the agent's only calls into libm; loading libm for them cost 0.3 MB of
// RSS (the loader maps and relocates it, and runs its IFUNC resolvers).
// trunc, fabs and copysign compile to inline SSE2 code, and x - trunc(x)
// is exact, so this equals std::round for every double (NaN and inf too).
inline double round_half_away(double x) {
  double r = std::trunc(x);
  if (std::fabs(x - r) >= 0.5) r += std::copysign(1.0, x);
  return r;
}

}  // namespace imwatch::agent
