#pragma once
// The evaluation of SPEC section 5, the same for every method: per problem, `samples` rationales
// at temperature T with the calculator on and no demonstrations in the prompt; the prediction is
// the majority vote of the numbers after each rationale's last "=". The rationales are drawn by
// the one rollout engine (baselines/rollout.hpp's sample_rollouts) with the calculator as its
// tool, from any Policy over ArithmeticQuery (a base, a PPO or SFT fine-tune, a GFlowNet alike).
#include <gfnlm/baselines/rollout.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/tasks/arithmetic/answer.hpp>
#include <gfnlm/tasks/arithmetic/calculator.hpp>
#include <gfnlm/tasks/arithmetic/query.hpp>

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gfnlm::arithmetic {

struct EvalConfig {
  int samples = 10;
  double temperature = 0.1;
  int max_len = 24;             // actions (words) per rationale (5 operands need 20 with the stop)
  int problems_per_batch = 16;  // rows per rollout batch = problems_per_batch x samples
};

struct ProblemResult {
  long answer = 0;
  std::optional<long> vote;
  std::vector<std::string> rationales;        // with the calculator's output in place
  std::vector<std::vector<int32_t>> actions;  // each rationale's actions (STOP excluded)
};

struct EvalResult {
  double accuracy = 0;         // vote == answer
  double sample_accuracy = 0;  // single rationales right (before the vote)
  std::vector<ProblemResult> problems;
};

// tok decodes the rationales and is the calculator's tokenizer.
template <Policy P, class Tok>
requires std::same_as<typename P::Query, ArithmeticQuery> EvalResult
evaluate(P& policy, std::span<const ArithmeticQuery> queries, const Tok& tok, const EvalConfig& cfg,
         Rng& rng) {
  GFNLM_CHECK(cfg.samples > 0 && cfg.problems_per_batch > 0 && !queries.empty(),
              "arithmetic::evaluate: samples {}, problems_per_batch {}, {} queries", cfg.samples,
              cfg.problems_per_batch, queries.size());
  const ToolFunction<ArithmeticQuery> calculator =
      Calculator<Tok>(tok).template function<ArithmeticQuery>();
  EvalResult res;
  std::size_t right_samples = 0, right = 0;
  for (std::size_t lo = 0; lo < queries.size(); lo += cfg.problems_per_batch) {
    const std::size_t hi = std::min(queries.size(), lo + cfg.problems_per_batch);
    std::vector<ArithmeticQuery> rows;
    for (std::size_t i = lo; i < hi; ++i)
      for (int k = 0; k < cfg.samples; ++k) rows.push_back(queries[i]);
    const auto batch = sample_rollouts(policy, std::span<const ArithmeticQuery>(rows),
                                       {cfg.max_len, cfg.temperature, nullptr}, rng, calculator);
    for (std::size_t i = lo; i < hi; ++i) {
      ProblemResult pr;
      pr.answer = queries[i].answer;
      std::vector<std::optional<long>> answers;
      for (int k = 0; k < cfg.samples; ++k) {
        const int b = static_cast<int>((i - lo) * cfg.samples + k);
        const auto actions = row_actions(batch, b);
        const std::string text = with_calculator(tok.decode(actions));
        pr.actions.emplace_back(actions.begin(), actions.end());
        answers.push_back(extract_answer(text));
        if (answers.back() && *answers.back() == pr.answer) ++right_samples;
        pr.rationales.push_back(text);
      }
      pr.vote = vote(answers);
      if (pr.vote && *pr.vote == pr.answer) ++right;
      res.problems.push_back(std::move(pr));
    }
  }
  res.accuracy = double(right) / double(queries.size());
  res.sample_accuracy = double(right_samples) / double(queries.size() * cfg.samples);
  return res;
}

}  // namespace gfnlm::arithmetic
