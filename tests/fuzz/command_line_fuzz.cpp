// split_command_line: the `command =` of a [check.NAME] section. What it
// accepts, quoted back word by word in single quotes, splits to the same words.
#include <cstddef>
#include <cstdint>

#include "agent/command_line.h"
#include "fuzz_util.h"

using namespace imwatch::agent;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> words;
  std::string err = split_command_line(text, words);
  if (!err.empty()) {
    if (!words.empty()) imwatch::fuzz::fail("words left after an error", text, __FILE__, __LINE__);
    return 0;
  }
  if (words.size() > kMaxCommandWords) imwatch::fuzz::fail("too many words", text, __FILE__, __LINE__);
  std::string quoted;
  for (const auto& w : words) {
    for (char c : w)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        imwatch::fuzz::fail("control byte in a word", text, __FILE__, __LINE__);
    quoted += " '";
    for (char c : w) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted += "'";
  }
  std::vector<std::string> again;
  if (quoted.size() <= kMaxCommandLine) {
    if (std::string e = split_command_line(quoted, again); !e.empty())
      imwatch::fuzz::fail(("requoted line refused: " + e).c_str(), quoted, __FILE__, __LINE__);
    if (again != words) imwatch::fuzz::fail("requoted line splits differently", quoted, __FILE__, __LINE__);
  }
  return 0;
}
