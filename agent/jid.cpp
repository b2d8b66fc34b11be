#include "agent/jid.h"

#include <stringprep.h>

#include <algorithm>
#include <array>

namespace imwatch::agent {

namespace {

// One part through a stringprep profile, or nothing. libidn works in place
// on a NUL-terminated buffer; one byte more than the longest part is
// enough, and a result that does not fit is too long anyway.
std::optional<std::string> prep(std::string_view part, const Stringprep_profile* profile) {
  if (part.empty() || part.size() > kMaxJidPart || part.find('\0') != std::string_view::npos) return std::nullopt;
  std::array<char, kMaxJidPart + 1> buf{};
  std::copy(part.begin(), part.end(), buf.begin());
  // STRINGPREP_NO_UNASSIGNED: a code point Unicode 3.2 does not assign is
  // refused, as a server does for stored strings (RFC 3454 §7).
  if (stringprep(buf.data(), buf.size(), STRINGPREP_NO_UNASSIGNED, profile) != STRINGPREP_OK) return std::nullopt;
  std::string out(buf.data());
  if (out.empty()) return std::nullopt;  // a part of characters mapped to nothing (U+00AD)
  return out;
}

// Nameprep leaves ASCII alone apart from case and allows what no host name
// has (space, '@', ':', '<'): the domain's ASCII must be a host name's.
bool plausible_domain(std::string_view d) {
  if (d.front() == '.' || d.back() == '.' || d.find("..") != std::string_view::npos) return false;
  return std::all_of(d.begin(), d.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

}  // namespace

std::optional<std::string> prep_bare_jid(std::string_view jid) {
  size_t at = jid.find('@');
  if (at == std::string_view::npos || jid.find('/') != std::string_view::npos) return std::nullopt;
  auto node = prep(jid.substr(0, at), stringprep_xmpp_nodeprep);
  auto domain = prep(jid.substr(at + 1), stringprep_nameprep);
  if (!node || !domain || !plausible_domain(*domain)) return std::nullopt;
  return *node + "@" + *domain;
}

}  // namespace imwatch::agent
