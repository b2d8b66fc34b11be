// The command line of a check ([check.NAME] command = ...), split into the
// words execve() gets. No shell ever sees it: quotes group, a backslash
// escapes, and nothing is expanded ($VAR, ~, globs, $(...) stay literal).
// The characters whose shell meaning a reader would expect to work (a pipe,
// a redirection, `;`, `&`, a substitution) are refused unless quoted, so that
// a command line never silently means something else than it says.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace imwatch::agent {

// Bounds: a longer line or more words is refused, whatever it holds.
constexpr size_t kMaxCommandLine = 4096;  // bytes
constexpr size_t kMaxCommandWords = 64;

// Splits `text` into `words` as a POSIX shell splits a simple command:
// - blanks (space, tab) separate words;
// - 'single quotes' keep everything up to the next ' literally;
// - "double quotes" keep everything, but a backslash before " \ $ ` drops;
// - a backslash outside quotes keeps the next character literally;
// - "" and '' are an empty word.
// Refused: an unclosed quote, a trailing backslash, a control character,
// and unquoted | ; & < > ` $ and a ~ that starts a word. Returns "" or the
// reason, quoting the offending character and its column.
[[nodiscard]] std::string split_command_line(std::string_view text, std::vector<std::string>& words);

}  // namespace imwatch::agent
