#pragma once
// Answer extraction (SPEC section 5): the prediction of a rationale is the number after its last
// "=" (the calculator's last result); majority vote over 10 rationales gives the problem's answer.
#include <gfnlm/eval/majority_vote.hpp>
#include <gfnlm/tasks/arithmetic/calculator.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace gfnlm::arithmetic {

// The integer right after the last "=" of the text (spaces skipped); nullopt when there is no
// "=" or no integer follows it (a step the calculator could not evaluate).
inline std::optional<long> extract_answer(std::string_view text) {
  const auto eq = text.rfind('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::size_t pos = eq + 1;
  return detail::read_int(text, pos);
}

// The integer of "The answer is N" (the last one), for texts that carry a final answer.
inline std::optional<long> extract_final_answer(std::string_view text) {
  constexpr std::string_view key = "The answer is";
  const auto at = text.rfind(key);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t pos = at + key.size();
  return detail::read_int(text, pos);
}

// Majority vote of the rationales' extracted answers (abstentions ignored; ties: first seen).
inline std::optional<long> vote(const std::vector<std::optional<long>>& answers) {
  return majority_vote(answers);
}

}  // namespace gfnlm::arithmetic
