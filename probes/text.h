// Text helpers shared by the /proc parsers and the agent (config, rules,
// chat): splitting lines and fields, strict numbers, quoting a token for a
// message. Pure functions on string_views: no allocation (but quote's
// result), no exceptions, no locale.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imwatch::probes {

// Splits text into lines; the last line need not end in '\n'.
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}
  bool next(std::string_view& line);
  int number() const { return number_; }  // 1-based number of the last line

 private:
  std::string_view rest_;
  int number_ = 0;
};

// Splits a line on runs of spaces and tabs.
class Fields {
 public:
  explicit Fields(std::string_view line) : rest_(line) {}
  bool next(std::string_view& field);
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

std::optional<uint64_t> to_u64(std::string_view token);
std::optional<double> to_double(std::string_view token);  // finite only

// The value of a "key value" line (/proc/stat, /proc/vmstat), the key
// already taken from `f`: "" or an error naming `file` and `key`.
std::string u64_value(std::string_view file, std::string_view key, Fields& f, std::optional<uint64_t>& out);

// Quotes a token for an error message, cut short and with control bytes
// escaped, so that garbage in /proc cannot garble our logs.
std::string quote(std::string_view token);

}  // namespace imwatch::probes
