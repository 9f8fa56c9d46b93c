#pragma once
// ToolPolicy<P>: any Policy with a tool applied inside it, so trainers and samplers that know
// nothing of tools (PPO's and SFT's rollouts, baselines/rollout.hpp) run with the calculator on.
// After each advance() it calls the tool on the row's actions and appends the output as context
// (never an action); score() rebuilds every row's context by replaying the tool, so teacher
// forcing sees exactly the states the rollout saw (SPEC section 5). The GFlowNet Sampler has its
// own tool hook and uses the plain policy.
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_policy.hpp>

#include <span>
#include <vector>

namespace gfnlm::arithmetic {

template <Policy P>
class ToolPolicy {
 public:
  using Query = typename P::Query;

  ToolPolicy(P& inner, ToolFunction<Query> tool) : inner_(&inner), tool_(std::move(tool)) {}

  int vocab_size() const { return inner_->vocab_size(); }
  int32_t stop_token() const { return inner_->stop_token(); }
  P& inner() { return *inner_; }

  void start_rollout(std::span<const Query> rows) {
    queries_.assign(rows.begin(), rows.end());
    actions_.assign(rows.size(), {});
    context_.assign(rows.size(), {});
    inner_->start_rollout(rows);
  }
  void next_logits(std::span<float> out) { inner_->next_logits(out); }
  void advance(std::span<const int32_t> tokens) {
    inner_->advance(tokens);
    if (!tool_) return;
    for (std::size_t r = 0; r < tokens.size(); ++r) {
      if (tokens[r] < 0) continue;
      actions_[r].push_back(tokens[r]);
      auto out = tool_(queries_[r], actions_[r]);
      if (out.empty()) continue;
      inner_->append_context(static_cast<int>(r), std::span<const int32_t>(out));
      context_[r].push_back({static_cast<int>(actions_[r].size()), std::move(out)});
    }
  }
  void append_context(int row, std::span<const int32_t> tokens) {
    inner_->append_context(row, tokens);
    context_.at(row).push_back(
        {static_cast<int>(actions_.at(row).size()), {tokens.begin(), tokens.end()}});
  }
  // Tool output of row r of the last rollout.
  const std::vector<ContextInsert>& rollout_context(int row) const { return context_.at(row); }

  void score(std::span<const Query> row_queries, const TrajectoryBatch& batch,
             Tensor<float, 3>& state_logits) {
    with_context(row_queries, batch);
    inner_->score(row_queries, scratch_, state_logits);
  }
  void backward(const Tensor<float, 3>& state_dlogits) { inner_->backward(state_dlogits); }
  ParameterList<float> parameters() { return inner_->parameters(); }

  // The batch with every row's tool context rebuilt (rows that carry context keep theirs).
  const TrajectoryBatch& with_context(std::span<const Query> row_queries,
                                      const TrajectoryBatch& batch) {
    scratch_ = batch;
    for (int b = 0; b < batch.rows(); ++b)
      if (scratch_.context[b].empty())
        scratch_.context[b] = replay_tool(
            tool_, row_queries[b],
            std::span<const int32_t>(&batch.actions(b, 0), std::size_t(batch.length[b])));
    return scratch_;
  }

 private:
  P* inner_;
  ToolFunction<Query> tool_;
  std::vector<Query> queries_;
  std::vector<std::vector<int32_t>> actions_;
  std::vector<std::vector<ContextInsert>> context_;
  TrajectoryBatch scratch_;
};

// PPO's reference policy: the frozen base (adapters off) teacher-forced over the same rows, tool
// context replayed, in the convention of Policy::score.
template <class Q>
auto frozen_base_reference(Transformer<Cpu, float>& model, ToolFunction<Q> tool) {
  return [&model, tool, tokens = std::vector<int32_t>()](std::span<const Q> queries,
                                                         const TrajectoryBatch& batch,
                                                         Tensor<float, 3>& logits) mutable {
    const int B = batch.rows(), L = batch.max_len(), V = model.config().vocab_size;
    TrajectoryBatch full = batch;
    std::vector<std::vector<int32_t>> seqs(B);
    std::vector<int> pos(std::size_t(B) * (L + 1), -1);
    int T = 1;
    for (int b = 0; b < B; ++b) {
      full.context[b] =
          replay_tool(tool, queries[b],
                      std::span<const int32_t>(&batch.actions(b, 0), std::size_t(batch.length[b])));
      LmPolicy<Cpu, Q>::build_row(queries[b], full, b, seqs[b], &pos[std::size_t(b) * (L + 1)]);
      T = std::max<int>(T, static_cast<int>(seqs[b].size()));
    }
    tokens.assign(std::size_t(B) * T, 0);
    for (int b = 0; b < B; ++b)
      std::copy(seqs[b].begin(), seqs[b].end(), tokens.begin() + std::size_t(b) * T);
    const bool was = model.adapters_enabled();
    model.set_adapters_enabled(false);
    model.forward(tokens.data(), B, T);
    model.set_adapters_enabled(was);
    logits.resize({std::size_t(B), std::size_t(L + 1), std::size_t(V)});
    const float* src = model.logits();
    for (int b = 0; b < B; ++b)
      for (int t = 0; t <= L; ++t) {
        const int p = pos[std::size_t(b) * (L + 1) + t];
        float* dst = &logits(b, t, 0);
        if (p < 0)
          std::fill(dst, dst + V, 0.0f);
        else
          std::copy_n(src + (std::size_t(b) * T + p) * V, V, dst);
      }
  };
}

}  // namespace gfnlm::arithmetic
