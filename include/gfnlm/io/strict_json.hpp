#pragma once
// Strict JSON parsing (nlohmann-json) for the data readers: a key repeated inside one object is an
// error (nlohmann keeps the last silently, and a record with two values for one field is not one
// we understand), and nlohmann's own errors become gfnlm::Errors naming where the text came from.
#include <gfnlm/core/error.hpp>

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm {

// Parses `text` as one JSON value. `where` names the text (a file, a file and a line) and starts
// every error's message:
//   "<where>: not valid JSON at byte <n>: ..."       (nlohmann's parse_error, n its byte)
//   "<where>: not valid JSON: ..."                   (any other nlohmann error: out_of_range, say a
//                                                     number too large for any type)
//   "<where>: key '<k>' appears twice in one object" (the first key repeated, at any depth)
// A text that is not valid JSON is reported as such even when it also repeats a key.
inline nlohmann::json parse_strict_json(std::string_view text, const std::string& where) {
  std::vector<std::set<std::string>> keys;  // per open object
  std::string repeated;
  bool any_repeated = false;
  const nlohmann::json::parser_callback_t check_keys = [&](int, nlohmann::json::parse_event_t event,
                                                           nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) keys.emplace_back();
    if (event == Event::object_end && !keys.empty()) keys.pop_back();
    if (event == Event::key && !keys.empty() && !any_repeated) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(key).second) {
        repeated = key;
        any_repeated = true;
      }
    }
    return true;
  };
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text, check_keys);
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON at byte {}: {}", where, e.byte, e.what());
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number too large, say
    fail("{}: not valid JSON: {}", where, e.what());
  }
  GFNLM_CHECK(!any_repeated, "{}: key '{}' appears twice in one object", where, repeated);
  return value;
}

}  // namespace gfnlm
