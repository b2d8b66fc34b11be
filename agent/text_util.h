// Text helpers shared by config, rules and chat.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace imwatch::agent {

std::string trim(std::string_view s);
std::string to_lower(std::string_view s);
// 'token', cut short, control bytes escaped: safe to put in a log line or reply.
std::string quote(std::string_view token);
// Up to `max` candidates closest to `word` (edit distance), best first;
// only those close enough to be a plausible typo.
std::vector<std::string> nearest(std::string_view word, const std::vector<std::string>& candidates, size_t max);
// 'a', 'b' or 'c'
std::string join_quoted(const std::vector<std::string>& words);
// Splits on runs of spaces and tabs.
std::vector<std::string> split_words(std::string_view s);

}  // namespace imwatch::agent
