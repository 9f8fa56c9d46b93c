#pragma once
// Arithmetic problems and their texts (SPEC section 5): one-digit operands 0..9 joined by + and
// -, evaluated left to right. X = "Question: 6 - 0 - 4 - 8 = ? Answer:", Z in tool form
// " 6 - 0 =, 6 - 4 =, 2 - 8 =" (the calculator appends " 6", " 2", " -6" after each "="),
// Y = ". The answer is -6.".
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::arithmetic {

struct Problem {
  std::vector<int> operands;  // each 0..9
  std::vector<char> ops;      // '+' or '-'; ops.size() == operands.size() - 1

  int num_operands() const { return static_cast<int>(operands.size()); }
  // Left-to-right value after the first k + 1 operands (k = 0: the first operand).
  long partial(int k) const {
    long v = operands.at(0);
    for (int i = 0; i < k; ++i)
      v = ops.at(i) == '+' ? v + operands.at(i + 1) : v - operands.at(i + 1);
    return v;
  }
  long answer() const { return partial(static_cast<int>(ops.size())); }
  bool operator==(const Problem&) const = default;
};

// n one-digit operands, operators + and - with equal probability.
inline Problem random_problem(int n_operands, Rng& rng) {
  GFNLM_CHECK(n_operands >= 2, "arithmetic::random_problem: {} operands (need >= 2)", n_operands);
  Problem p;
  for (int i = 0; i < n_operands; ++i) {
    p.operands.push_back(static_cast<int>(rng.below(10)));
    if (i > 0) p.ops.push_back(rng.below(2) == 0 ? '+' : '-');
  }
  return p;
}

// "6 - 0 - 4 - 8"
inline std::string expression_text(const Problem& p) {
  std::string s = std::to_string(p.operands.at(0));
  for (std::size_t i = 0; i < p.ops.size(); ++i)
    s += fmt::format(" {} {}", p.ops[i], p.operands[i + 1]);
  return s;
}

// X: "Question: 6 - 0 - 4 - 8 = ? Answer:"
inline std::string question_text(const Problem& p) {
  return "Question: " + expression_text(p) + " = ? Answer:";
}

// Z in the policy's form, without tool output: " 6 - 0 =, 6 - 4 =, 2 - 8 =" (leading space,
// as the paper's Z = " " + str_rationale).
inline std::string rationale_actions_text(const Problem& p) {
  std::string s;
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    s += i == 0 ? " " : ", ";
    s += fmt::format("{} {} {} =", p.partial(static_cast<int>(i)), p.ops[i], p.operands[i + 1]);
  }
  return s;
}

// Z with the calculator's output in place: " 6 - 0 = 6, 6 - 4 = 2, 2 - 8 = -6".
inline std::string rationale_full_text(const Problem& p) {
  std::string s;
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    s += i == 0 ? " " : ", ";
    s += fmt::format("{} {} {} = {}", p.partial(static_cast<int>(i)), p.ops[i], p.operands[i + 1],
                     p.partial(static_cast<int>(i) + 1));
  }
  return s;
}

// Y without its leading ".": the stop token "." ends Z, then " The answer is -6." follows.
inline std::string answer_suffix_text(long answer) {
  return fmt::format(" The answer is {}.", answer);
}
// Y as the paper writes it: ". The answer is -6."
inline std::string answer_text(long answer) {
  return fmt::format(". The answer is {}.", answer);
}

// X Z Y with tool output: one worked example as one line of text.
inline std::string worked_example_text(const Problem& p) {
  return question_text(p) + rationale_full_text(p) + answer_text(p.answer());
}

// Parses X ("Question: 6 - 0 - 4 - 8 = ? Answer:", spaces as written by question_text);
// nullopt for anything else.
inline std::optional<Problem> parse_question(std::string_view text) {
  constexpr std::string_view head = "Question: ", tail = " = ? Answer:";
  if (text.size() < head.size() + tail.size() || text.substr(0, head.size()) != head ||
      text.substr(text.size() - tail.size()) != tail)
    return std::nullopt;
  const std::string_view body = text.substr(head.size(), text.size() - head.size() - tail.size());
  Problem p;
  std::size_t pos = 0;
  for (int i = 0;; ++i) {
    if (i > 0) {
      if (pos + 3 > body.size() || body[pos] != ' ' ||
          (body[pos + 1] != '+' && body[pos + 1] != '-') || body[pos + 2] != ' ')
        return std::nullopt;
      p.ops.push_back(body[pos + 1]);
      pos += 3;
    }
    if (pos >= body.size() || body[pos] < '0' || body[pos] > '9') return std::nullopt;
    p.operands.push_back(body[pos] - '0');
    ++pos;
    if (pos == body.size()) break;
  }
  if (p.operands.size() < 2) return std::nullopt;
  return p;
}

}  // namespace gfnlm::arithmetic
