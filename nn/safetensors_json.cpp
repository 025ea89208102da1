// A safetensors header is attacker-controlled text of up to 100 MB. Handed straight to nlohmann,
// 100 MB of "[" took 7.4 GB and a minute, and 1.7 million empty tensors 2.1 GB; and nlohmann
// keeps the last of two equal keys, ignoring the first, where the reference reader refuses the
// file. So, before parsing, one pass over the raw text checks the nesting depth, array lengths and
// the number of entries, and refuses a NUL (the format pads the header with spaces, nothing else);
// while parsing, a callback records any key seen twice in one object.
#include "nn/safetensors_json.h"

#include <fmt/format.h>

#include <optional>
#include <set>
#include <vector>

#include "nn/safetensors.h"

namespace moegrad::nn {

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw IoError(fmt::format("[load_safetensors] {}: {}", where, what));
}

// One pass over the text, skipping string contents, counting brackets and commas.
void check_limits(const std::string& where, const char* begin, const char* end) {
  struct Open {
    char bracket;
    std::int64_t commas = 0;
  };
  std::vector<Open> open;
  bool in_string = false, escaped = false;
  for (const char* at = begin; at != end; ++at) {
    const char c = *at;
    if (c == '\0') {
      fail(where, fmt::format("byte {} of the header is a NUL; the header is JSON padded with spaces only, and the "
                              "reference reader refuses anything hidden after a NUL",
                              at - begin));
    }
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (static_cast<int>(open.size()) >= kMaxHeaderDepth) {
        fail(where, fmt::format("the header nests deeper than {} levels (at byte {}); a safetensors header nests 3",
                                kMaxHeaderDepth, at - begin));
      }
      open.push_back({c});
    } else if ((c == ']' || c == '}') && !open.empty()) {
      open.pop_back();  // a mismatched bracket is left for the parser to report
    } else if (c == ',' && !open.empty()) {
      Open& innermost = open.back();
      ++innermost.commas;
      if (innermost.bracket == '[' && innermost.commas >= kMaxArrayLength) {
        fail(where, fmt::format("an array in the header has more than {} entries (at byte {}); shapes and "
                                "data_offsets are short",
                                kMaxArrayLength, at - begin));
      }
      if (open.size() == 1 && innermost.commas >= kMaxTensors + 1) {  // +1: __metadata__
        fail(where, fmt::format("the header has more than {} tensors", kMaxTensors));
      }
    }
  }
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string parser_reason(const json::exception& error) {
  std::string text = error.what();
  if (text.starts_with("[json.exception.")) {
    const auto close = text.find("] ");
    if (close != std::string::npos) text = text.substr(close + 2);
  }
  return text;
}

}  // namespace

json parse_header(const std::string& where, const char* begin, const char* end) {
  check_limits(where, begin, end);

  // Keys seen in each open object, innermost last; the first repeated key found, with its tensor.
  std::vector<std::set<std::string>> keys;
  std::string current_tensor;
  std::optional<std::string> repeated;
  json::parser_callback_t note_keys = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == json::parse_event_t::object_end && !keys.empty()) {
      keys.pop_back();
    } else if (event == json::parse_event_t::key && !keys.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (depth == 1) current_tensor = key;
      if (!keys.back().insert(key).second && !repeated) {
        repeated = depth == 1 ? fmt::format("the header names \"{}\" twice", key)
                              : fmt::format("the entry of \"{}\" has the key \"{}\" twice", current_tensor, key);
      }
    }
    return true;
  };

  json header;
  try {
    header = json::parse(begin, end, note_keys);
  } catch (const json::parse_error& error) {
    fail(where, fmt::format("the header should be one JSON object padded with spaces, but the parser stopped at "
                            "header byte {}: {}",
                            error.byte, parser_reason(error)));
  } catch (const json::exception& error) {
    fail(where, fmt::format("the header should be one JSON object padded with spaces: {}", parser_reason(error)));
  }
  if (repeated) fail(where, *repeated + " (nlohmann would keep the last silently; the reference reader refuses)");
  return header;
}

}  // namespace moegrad::nn
