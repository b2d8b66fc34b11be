// prep_bare_jid: a JID as the config reads it (`jid =`, `admin =`), through
// libidn's nodeprep and nameprep. It never crashes, whatever the bytes
// (malformed UTF-8, NUL, 2 KB parts); what it accepts is in its own
// normal form (prepping it again changes nothing, or an admin stored
// prepped would not equal herself), has one '@', no '/' and no space; and
// ChatHandler::bare of it with a resource is it again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/chat.h"
#include "agent/jid.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto prepped = imwatch::agent::prep_bare_jid(text);
  if (!prepped) return 0;
  const std::string& j = *prepped;
  IMWATCH_FUZZ_CHECK(imwatch::agent::prep_bare_jid(j) == prepped, text);
  size_t at = j.find('@');
  IMWATCH_FUZZ_CHECK(at != std::string::npos && at > 0 && at + 1 < j.size() && j.rfind('@') == at, j);
  IMWATCH_FUZZ_CHECK(j.find_first_of("/ \t\r\n") == std::string::npos, j);
  IMWATCH_FUZZ_CHECK(at <= imwatch::agent::kMaxJidPart && j.size() - at - 1 <= imwatch::agent::kMaxJidPart, j);
  IMWATCH_FUZZ_CHECK(imwatch::agent::ChatHandler::bare(j + "/res") == j, j);
  return 0;
}
