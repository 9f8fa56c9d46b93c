#pragma once
// Arithmetic problems as LM queries: prompt X (optionally after demonstrations), suffix Y for the
// likelihood reward, and the answer for task rewards and evaluation.
#include <gfnlm/policies/lm_query.hpp>
#include <gfnlm/tasks/arithmetic/dataset.hpp>
#include <gfnlm/tasks/arithmetic/problem.hpp>

#include <span>
#include <string>
#include <vector>

namespace gfnlm::arithmetic {

struct ArithmeticQuery : LmQuery {
  long answer = 0;
};

// Demonstrations as a prompt prefix: worked lines joined by "\n", then "\n".
inline std::string demonstrations_text(std::span<const Item> worked) {
  std::string s;
  for (const auto& it : worked) s += worked_example_text(it.problem) + "\n";
  return s;
}

// X (after `demos`), Y = " The answer is N." (the stop token "." comes before it), id for the
// per-query log Z and the replay buffer.
template <class Tok>
ArithmeticQuery make_query(const Item& item, const Tok& tok, int64_t id,
                           const std::string& demos = {}) {
  ArithmeticQuery q;
  q.prompt = tok.encode(demos + question_text(item.problem));
  q.suffix = tok.encode(answer_suffix_text(item.answer));
  q.id = id;
  q.answer = item.answer;
  return q;
}

template <class Tok>
std::vector<ArithmeticQuery> make_queries(std::span<const Item> items, const Tok& tok,
                                          const std::string& demos = {}) {
  std::vector<ArithmeticQuery> out;
  for (std::size_t i = 0; i < items.size(); ++i)
    out.push_back(make_query(items[i], tok, static_cast<int64_t>(i), demos));
  return out;
}

// The actions of a worked rationale (Z without tool output, as the policy writes it).
template <class Tok>
std::vector<int32_t> rationale_actions(const Problem& p, const Tok& tok) {
  return tok.encode(rationale_actions_text(p));
}

}  // namespace gfnlm::arithmetic
