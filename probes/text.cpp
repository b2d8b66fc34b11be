#include "probes/text.h"

#include <charconv>
#include <cmath>

namespace imwatch::probes {

bool Lines::next(std::string_view& line) {
  if (rest_.empty()) return false;
  size_t nl = rest_.find('\n');
  if (nl == std::string_view::npos) {
    line = rest_;
    rest_ = {};
  } else {
    line = rest_.substr(0, nl);
    rest_.remove_prefix(nl + 1);
  }
  ++number_;
  return true;
}

namespace {
inline bool blank(char c) { return c == ' ' || c == '\t'; }
}  // namespace

// Plain loops: string_view::find_first_of calls memchr once per character,
// which made this the hottest function of a collection.
bool Fields::next(std::string_view& field) {
  const char* p = rest_.data();
  const char* end = p + rest_.size();
  while (p < end && blank(*p)) ++p;
  if (p == end) {
    rest_ = {};
    return false;
  }
  const char* start = p;
  while (p < end && !blank(*p)) ++p;
  field = std::string_view(start, static_cast<size_t>(p - start));
  rest_ = std::string_view(p, static_cast<size_t>(end - p));
  return true;
}

std::optional<uint64_t> to_u64(std::string_view token) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || ptr != token.data() + token.size() || token.empty()) return std::nullopt;
  return v;
}

std::optional<double> to_double(std::string_view token) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || ptr != token.data() + token.size() || token.empty() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::string u64_value(std::string_view file, std::string_view key, Fields& f, std::optional<uint64_t>& out) {
  std::string_view tok;
  if (!f.next(tok)) return std::string(file) + ": " + std::string(key) + ": missing value";
  out = to_u64(tok);
  if (!out) return std::string(file) + ": " + std::string(key) + ": bad value " + quote(tok);
  return {};
}

std::string quote(std::string_view token) {
  constexpr size_t max = 40;
  std::string out = "'";
  for (size_t i = 0; i < token.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (c < 0x20 || c >= 0x7f || c == '\'') {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (token.size() > max) out += "...";
  out += '\'';
  return out;
}

}  // namespace imwatch::probes
