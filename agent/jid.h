// JIDs as an XMPP server compares them. gloox (and prosody, and ejabberd)
// run the node through the nodeprep and the domain through the nameprep
// profile of stringprep (RFC 3920 appendix A, RFC 3491) before comparing:
// they case-fold Unicode, not only ASCII, and refuse what the profiles
// prohibit. The config is checked and stored in that form, and a sender is
// compared in it, so an admin written `Ålice@example.org` is the `ålice`
// the server stamps on her messages. libidn's stringprep, which gloox
// links too; no gloox header here (only the transport includes gloox).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace imwatch::agent {

// The longest node or domain part, in bytes, after stringprep (RFC 6122 §2).
inline constexpr size_t kMaxJidPart = 1023;

// `node@domain`, both parts prepped, or nothing when it is no valid bare
// JID: a node is required; no '/', no empty part, no space or control
// character, no part longer than kMaxJidPart bytes, no character a profile
// prohibits, no malformed UTF-8; the domain's ASCII characters are letters,
// digits, '-' and '.' between non-empty labels.
std::optional<std::string> prep_bare_jid(std::string_view jid);

}  // namespace imwatch::agent
