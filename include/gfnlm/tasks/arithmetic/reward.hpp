#pragma once
// Rewards of the arithmetic task.
//
// RationaleLikelihoodReward: the GFlowNet reward of SPEC section 3,
//   log R(Z) = log p_base(Z, tool outputs, ".", Y | D, X),
// D = worked demonstrations, Y = " The answer is N." (the query's suffix), scored by the frozen
// base (adapters off). It is the general LmLikelihoodReward (rewards/lm_likelihood.hpp) with
// final_only: only the complete rationale is scored (out[len]); shorter prefixes get -inf. That
// suits trajectory balance, which reads log R at the end state only, and costs one forward row
// per trajectory (a multi-token Y needs a row per prefix otherwise).
// rationale_likelihood_reward builds it over any base model (Transformer or LlamaTransformer, on
// any backend).
//
// task_reward: a verifier's reward, 1 when the number after the last "=" is the answer, else 0
// (PPO's with --ppo-reward correct; by default PPO maximises log R above).
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/rewards/lm_likelihood.hpp>
#include <gfnlm/tasks/arithmetic/answer.hpp>
#include <gfnlm/tasks/arithmetic/calculator.hpp>
#include <gfnlm/tasks/arithmetic/query.hpp>

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace gfnlm::arithmetic {

// The reward over a GPT-2 base on backend Bk.
template <class Bk = Cpu>
using RationaleLikelihoodReward = LmLikelihoodReward<Bk, ArithmeticQuery>;

// context: D; end_tokens: scored between Z and the query's suffix (the stop token ".");
// max_rows_per_pass: rationales per forward.
template <class Model>
BasicLmLikelihoodReward<Model, ArithmeticQuery> rationale_likelihood_reward(
    Model& base, std::vector<int32_t> context, std::vector<int32_t> end_tokens,
    int max_rows_per_pass = 64) {
  return {base, LmLikelihoodConfig{.context = std::move(context),
                                   .end_tokens = std::move(end_tokens),
                                   .max_rows_per_pass = max_rows_per_pass,
                                   .final_only = true}};
}

// 1 when the rationale's last calculator result is the answer, else 0 (a verifier's reward).
inline double task_reward(std::string_view actions_text, long answer) {
  const auto got = extract_answer(with_calculator(actions_text));
  return got && *got == answer ? 1.0 : 0.0;
}

}  // namespace gfnlm::arithmetic
