#pragma once
// Self-consistency evaluation (SPEC section 5): sample several rationales per problem, extract the
// number after the last "=", take the most frequent answer, and score the vote's accuracy.
#include <gfnlm/core/error.hpp>

#include <cstddef>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace gfnlm {

namespace detail {
template <class T>
struct OptionalValue {
  using type = T;
};
template <class T>
struct OptionalValue<std::optional<T>> {
  using type = T;
};
template <class T>
const T* present(const T& v) {
  return &v;
}
template <class T>
const T* present(const std::optional<T>& v) {
  return v ? &*v : nullptr;
}
}  // namespace detail

// The answer type of a vote: T for answers of type T or std::optional<T>.
template <std::ranges::input_range Answers>
using VoteAnswer = typename detail::OptionalValue<std::ranges::range_value_t<Answers>>::type;

// The most frequent answer; ties go to the answer seen first (deterministic, independent of
// hashing). Answers given as std::optional are abstentions when empty (no extractable answer)
// and are ignored; nullopt when nobody answered. Needs only operator== (O(n x distinct)).
template <std::ranges::input_range Answers>
std::optional<VoteAnswer<Answers>> majority_vote(const Answers& answers) {
  using T = VoteAnswer<Answers>;
  std::vector<std::pair<T, std::size_t>> tally;  // in first-seen order
  for (const auto& answer : answers) {
    const T* value = detail::present(answer);
    if (value == nullptr) continue;
    bool found = false;
    for (auto& [candidate, votes] : tally)
      if (candidate == *value) {
        ++votes;
        found = true;
        break;
      }
    if (!found) tally.emplace_back(*value, 1);
  }
  if (tally.empty()) return std::nullopt;
  std::size_t best = 0;
  for (std::size_t i = 1; i < tally.size(); ++i)
    if (tally[i].second > tally[best].second) best = i;  // strict: earlier wins ties
  return tally[best].first;
}

// Fraction of predictions equal to their target; an empty optional prediction counts as wrong.
template <std::ranges::input_range Predictions, std::ranges::input_range Targets>
double accuracy(const Predictions& predictions, const Targets& targets) {
  const auto n = static_cast<std::size_t>(std::ranges::distance(predictions));
  const auto m = static_cast<std::size_t>(std::ranges::distance(targets));
  GFNLM_CHECK(n == m, "accuracy: {} predictions for {} targets", n, m);
  GFNLM_CHECK(n > 0, "accuracy: no predictions");
  std::size_t correct = 0;
  auto target = std::ranges::begin(targets);
  for (const auto& prediction : predictions) {
    const auto* value = detail::present(prediction);
    if (value != nullptr && *value == *target) ++correct;
    ++target;
  }
  return double(correct) / double(n);
}

// Accuracy of the majority vote of each problem's answers (one inner range per problem).
template <std::ranges::input_range AnswerSets, std::ranges::input_range Targets>
double majority_vote_accuracy(const AnswerSets& answer_sets, const Targets& targets) {
  using Set = std::ranges::range_value_t<AnswerSets>;
  std::vector<std::optional<VoteAnswer<Set>>> votes;
  for (const auto& set : answer_sets) votes.push_back(majority_vote(set));
  return accuracy(votes, targets);
}

}  // namespace gfnlm
