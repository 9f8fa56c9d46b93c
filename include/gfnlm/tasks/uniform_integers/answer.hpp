#pragma once
// Reading an answer to "a random integer between 0 and 100" (SPEC sections 3 and 6). The reward of
// both fine-tunings and every evaluation figure go through this one parser, so "valid" means the
// same thing everywhere: an integer 0..100 written in digits, canonical (no sign, no leading zero
// except "0" itself, no spaces), immediately followed by the end (stop) token.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace gfnlm::uniform_integers {

inline constexpr int kMinValue = 0;
inline constexpr int kMaxValue = 100;
inline constexpr int kNumValues = kMaxValue - kMinValue + 1;  // 101 bins of the target

// Why an answer is (in)valid. The categories are the ones the paper's reward distinguishes
// (section 3) plus `unfinished`, for a sample that never emitted the stop token.
enum class AnswerKind : int {
  valid = 0,         // canonical digits, 0..100, then stop
  out_of_range = 1,  // canonical integer outside 0..100 ("101", "-7", "1000")
  words = 2,         // number words instead of digits ("seven", "forty-two", "one hundred")
  empty = 3,         // stop right after the prompt
  unparseable = 4,   // anything else ("3.14", "07", "n/a", " 42", "42!")
  unfinished = 5,    // hit the length limit without the stop token
};
inline constexpr int kNumKinds = 6;

inline constexpr std::string_view kind_name(AnswerKind kind) {
  constexpr std::array<std::string_view, kNumKinds> names{"valid", "out_of_range", "words",
                                                          "empty", "unparseable",  "unfinished"};
  return names[static_cast<int>(kind)];
}

struct Answer {
  AnswerKind kind = AnswerKind::unparseable;
  // The integer for `valid` (0..100) and `out_of_range` (clamped to +-1e9 when longer); -1 else.
  int64_t value = -1;

  bool is_valid() const { return kind == AnswerKind::valid; }
};

namespace detail {

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
inline char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

// English number words, enough to read how LMs spell integers ("ninety-nine", "one hundred").
inline bool is_number_word(std::string_view w) {
  static constexpr std::array<std::string_view, 31> words{
      "zero",    "one",       "two",      "three",    "four",    "five",     "six",      "seven",
      "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen", "fourteen", "fifteen",
      "sixteen", "seventeen", "eighteen", "nineteen", "twenty",  "thirty",   "forty",    "fifty",
      "sixty",   "seventy",   "eighty",   "ninety",   "hundred", "thousand", "and"};
  for (auto x : words)
    if (w == x) return true;
  return false;
}

// Letters, single hyphens or spaces between words, every word a number word, not only "and".
inline bool is_number_words(std::string_view text) {
  std::string word;
  bool any_number = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const bool end = i == text.size();
    const char c = end ? ' ' : to_lower(text[i]);
    if (is_lower(c)) {
      word += c;
      continue;
    }
    if (c != ' ' && c != '-') return false;
    if (word.empty()) return false;  // leading, trailing or doubled separator
    if (!is_number_word(word)) return false;
    any_number = any_number || word != "and";
    word.clear();
  }
  return any_number;
}

}  // namespace detail

// `text` is the answer without the prompt and without the stop token; `stopped` says whether the
// stop token followed it (false: the sample ran into the length limit).
inline Answer parse_answer(std::string_view text, bool stopped = true) {
  if (!stopped) return {AnswerKind::unfinished, -1};
  if (text.empty()) return {AnswerKind::empty, -1};
  const bool negative = text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  bool all_digits = !digits.empty();
  for (char c : digits) all_digits = all_digits && detail::is_digit(c);
  if (all_digits) {
    // "07", "00" and "-0" are not how an integer is written: unparseable, not a near miss.
    if (digits.size() > 1 && digits.front() == '0') return {AnswerKind::unparseable, -1};
    if (negative && digits == "0") return {AnswerKind::unparseable, -1};
    int64_t value = 0;
    for (char c : digits) value = value > 100000000 ? 1000000000 : value * 10 + (c - '0');
    if (negative) value = -value;
    if (value >= kMinValue && value <= kMaxValue) return {AnswerKind::valid, value};
    return {AnswerKind::out_of_range, value};
  }
  if (detail::is_number_words(text)) return {AnswerKind::words, -1};
  return {AnswerKind::unparseable, -1};
}

// Tallies of parsed answers: one bin per integer 0..100 and one per kind (SPEC section 6 figures).
struct AnswerCounts {
  std::array<int64_t, kNumValues> value{};
  std::array<int64_t, kNumKinds> kind{};
  int64_t total = 0;
  // The text of each distinct invalid answer (stop token excluded; "" for empty) and its count:
  // shows which failures remain (docs/uniform_integers.md). Filled by evaluate_policy.
  std::map<std::string, int64_t> invalid_text;

  void add(const Answer& a) {
    ++total;
    ++kind[static_cast<int>(a.kind)];
    if (a.is_valid()) ++value[static_cast<std::size_t>(a.value - kMinValue)];
  }
  int64_t valid() const { return kind[static_cast<int>(AnswerKind::valid)]; }
  int64_t invalid() const { return total - valid(); }
  double valid_fraction() const { return total ? double(valid()) / double(total) : 0.0; }
  int distinct_values() const {
    int n = 0;
    for (auto c : value) n += c > 0;
    return n;
  }
};

}  // namespace gfnlm::uniform_integers
