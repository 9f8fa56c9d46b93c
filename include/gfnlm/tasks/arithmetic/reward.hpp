#pragma once
// Rewards of the arithmetic task.
//
// RationaleLikelihoodReward: the GFlowNet reward of SPEC section 3,
//   log R(Z) = log p_base(Z, tool outputs, ".", Y | D, X),
// D = worked demonstrations, Y = " The answer is N." (the query's suffix), scored by the frozen
// base (adapters off) in batched teacher-forced forwards. Only the complete rationale is scored
// (out[len]); shorter prefixes get -inf. That suits trajectory balance, which reads log R at
// the end state only, and costs one forward row per trajectory instead of one per prefix (the
// general LmLikelihoodReward needs a row per prefix for a multi-token Y).
//
// task_reward: a verifier's reward, 1 when the number after the last "=" is the answer, else 0
// (PPO's with --ppo-reward correct; by default PPO maximises log R above).
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/tasks/arithmetic/answer.hpp>

#include <cmath>
#include <limits>
#include <span>
#include <vector>

namespace gfnlm::arithmetic {

template <class Q>
class RationaleLikelihoodReward {
 public:
  using Model = Transformer<Cpu, float>;

  // context: D; end_tokens: scored between Z and the suffix (the stop token ".").
  RationaleLikelihoodReward(Model& base, std::vector<int32_t> context,
                            std::vector<int32_t> end_tokens, int max_rows_per_pass = 64)
      : model_(&base),
        context_(std::move(context)),
        end_(std::move(end_tokens)),
        chunk_(std::max(1, max_rows_per_pass)) {}

  void prefix_log_rewards_batch(std::span<const RewardRequest<Q>> rows) {
    std::vector<std::vector<int32_t>> seqs(rows.size());
    std::vector<int> start(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      GFNLM_CHECK(r.out.size() == r.actions.size() + 1,
                  "RationaleLikelihoodReward: out has {} entries for {} actions", r.out.size(),
                  r.actions.size());
      auto& s = seqs[i];
      s = context_;
      s.insert(s.end(), r.query->prompt.begin(), r.query->prompt.end());
      start[i] = static_cast<int>(s.size());
      std::size_t next = 0;
      for (std::size_t t = 0;; ++t) {
        while (next < r.context.size() && r.context[next].after_action == static_cast<int>(t)) {
          s.insert(s.end(), r.context[next].tokens.begin(), r.context[next].tokens.end());
          ++next;
        }
        if (t == r.actions.size()) break;
        s.push_back(r.actions[t]);
      }
      s.insert(s.end(), end_.begin(), end_.end());
      s.insert(s.end(), r.query->suffix.begin(), r.query->suffix.end());
    }
    const bool was = model_->adapters_enabled();
    model_->set_adapters_enabled(false);
    const int V = model_->config().vocab_size;
    for (std::size_t lo = 0; lo < rows.size(); lo += chunk_) {
      const std::size_t hi = std::min(rows.size(), lo + chunk_);
      int T = 1;
      for (std::size_t i = lo; i < hi; ++i) T = std::max<int>(T, static_cast<int>(seqs[i].size()));
      GFNLM_CHECK(T <= model_->config().max_seq_len,
                  "RationaleLikelihoodReward: a row needs {} positions, the model has {}", T,
                  model_->config().max_seq_len);
      tokens_.assign((hi - lo) * T, 0);
      for (std::size_t i = lo; i < hi; ++i)
        std::copy(seqs[i].begin(), seqs[i].end(), tokens_.begin() + (i - lo) * T);
      model_->forward(tokens_.data(), static_cast<int>(hi - lo), T);
      const float* logits = model_->logits();
      for (std::size_t i = lo; i < hi; ++i) {
        double total = 0;
        for (int p = start[i] - 1; p + 1 < static_cast<int>(seqs[i].size()); ++p)
          total += log_prob(logits + ((i - lo) * T + p) * V, V, seqs[i][p + 1]);
        auto out = rows[i].out;
        std::fill(out.begin(), out.end(), -std::numeric_limits<double>::infinity());
        out.back() = total;
      }
    }
    model_->set_adapters_enabled(was);
  }

  // log R of one rationale given its actions and tool context.
  double operator()(const Q& q, std::span<const int32_t> actions,
                    std::span<const ContextInsert> context) {
    std::vector<double> out(actions.size() + 1);
    const RewardRequest<Q> r{&q, actions, context, out};
    prefix_log_rewards_batch(std::span<const RewardRequest<Q>>(&r, 1));
    return out.back();
  }

 private:
  static double log_prob(const float* logits, int V, int32_t token) {
    float hi = logits[0];
    for (int v = 1; v < V; ++v) hi = std::max(hi, logits[v]);
    double sum = 0;
    for (int v = 0; v < V; ++v) sum += std::exp(double(logits[v] - hi));
    return double(logits[token] - hi) - std::log(sum);
  }

  Model* model_;
  std::vector<int32_t> context_, end_;
  std::size_t chunk_;
  std::vector<int32_t> tokens_;
};

// 1 when the rationale's last calculator result is the answer, else 0 (a verifier's reward).
inline double task_reward(std::string_view actions_text, long answer) {
  const auto got = extract_answer(with_calculator(actions_text));
  return got && *got == answer ? 1.0 : 0.0;
}

}  // namespace gfnlm::arithmetic
