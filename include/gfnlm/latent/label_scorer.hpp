#pragma once
// The classifier of latent-variable EM (paper section 4.3, issue 23): p(Y | X, Z) read off a
// policy as the likelihood of each label's tokens after the classifier's query (for an LM: the
// text "X Z", labels ", so it is objective." / ", so it is subjective."), K-way normalised:
//
//   s_k(q) = sum_t log p(label_k[t] | q, label_k[<t])      (teacher-forced, no STOP counted)
//   p(Y = k | q) = softmax_k(s)                            (the paper's notebook: 2-way CE)
//
// It goes through the Policy concept (score + backward), so the same code trains LoRA adapters of
// an LM and the exact logits of a TabularPolicy (the known-answer test). The M-step is
// train_step: mean cross-entropy over the K labels, one AdamW step on the policy's parameters.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/optimizer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

struct LabelScorerConfig {
  double lr = 1e-3;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
};

template <Policy P>
class LabelScorer {
 public:
  using Query = typename P::Query;

  // labels[k]: the tokens of label k (at least one, none the stop token); at least two labels.
  LabelScorer(P& policy, std::vector<std::vector<int32_t>> labels, LabelScorerConfig config = {})
      : policy_(&policy),
        labels_(std::move(labels)),
        mask_(policy.vocab_size(), policy.stop_token(), 0),
        config_(config),
        optimizer_(policy.parameters(),
                   AdamWConfig{.lr = config.lr, .weight_decay = config.weight_decay}) {
    GFNLM_CHECK(labels_.size() >= 2, "LabelScorer: {} labels (at least 2)", labels_.size());
    for (std::size_t k = 0; k < labels_.size(); ++k) {
      GFNLM_CHECK(!labels_[k].empty(), "LabelScorer: label {} has no tokens", k);
      for (std::size_t t = 0; t < labels_[k].size(); ++t)
        GFNLM_CHECK(labels_[k][t] >= 0 && labels_[k][t] < policy.vocab_size() &&
                        labels_[k][t] != policy.stop_token(),
                    "LabelScorer: label {} token {} at {} is outside [0, {}) or the stop token {}",
                    k, labels_[k][t], t, policy.vocab_size(), policy.stop_token());
      for (std::size_t j = 0; j < k; ++j)
        GFNLM_CHECK(labels_[j] != labels_[k], "LabelScorer: labels {} and {} have the same tokens",
                    j, k);
    }
    GFNLM_CHECK(config.lr >= 0 && std::isfinite(config.lr), "LabelScorer: lr {} must be >= 0",
                config.lr);
  }

  int num_labels() const { return static_cast<int>(labels_.size()); }
  P& policy() { return *policy_; }

  // s[i][k]: the unnormalised label log-likelihoods of every query (one batched score).
  std::vector<std::vector<double>> scores(std::span<const Query> queries) {
    if (queries.empty()) return {};
    score_batch(queries);
    std::vector<std::vector<double>> s(queries.size(), std::vector<double>(labels_.size()));
    for (std::size_t i = 0; i < queries.size(); ++i)
      for (std::size_t k = 0; k < labels_.size(); ++k) s[i][k] = row_score(i, k);
    return s;
  }

  // log p(Y = k | query) for every query (softmax over the labels of scores()).
  std::vector<std::vector<double>> log_posteriors(std::span<const Query> queries) {
    auto s = scores(queries);
    for (auto& row : s) normalise(row);
    return s;
  }

  // The M-step: mean over rows of -log p(Y = labels[i] | queries[i]) before the step, then one
  // AdamW step on it (lr_scale multiplies the learning rate).
  double train_step(std::span<const Query> queries, std::span<const int> labels,
                    double lr_scale = 1.0) {
    GFNLM_CHECK(!queries.empty() && queries.size() == labels.size(),
                "LabelScorer::train_step: {} queries for {} labels", queries.size(), labels.size());
    const int K = num_labels();
    for (std::size_t i = 0; i < labels.size(); ++i)
      GFNLM_CHECK(labels[i] >= 0 && labels[i] < K,
                  "LabelScorer::train_step: row {} has label {} outside [0, {})", i, labels[i], K);
    score_batch(queries);
    TrajectoryGrad grad;
    grad.resize_like(batch_);
    const double inv_n = 1.0 / static_cast<double>(queries.size());
    double loss = 0;
    for (std::size_t i = 0; i < queries.size(); ++i) {
      std::vector<double> row(static_cast<std::size_t>(K));
      for (int k = 0; k < K; ++k) row[k] = row_score(i, std::size_t(k));
      normalise(row);
      loss -= row[labels[i]] * inv_n;
      // d CE / d s_k = p_k - [k == y]; every token of label k's row carries it.
      for (int k = 0; k < K; ++k) {
        const double d = (std::exp(row[k]) - (k == labels[i] ? 1.0 : 0.0)) * inv_n;
        const int r = static_cast<int>(i) * K + k;
        for (std::size_t t = 0; t < labels_[k].size(); ++t)
          grad.log_pf(r, t) = static_cast<float>(d);
      }
    }
    auto params = policy_->parameters();
    PolicyOpt::zero_grad(params);
    policy_->backward(grad, 1.0);
    PolicyOpt::clip_grad_norm(params, config_.max_grad_norm);
    optimizer_.step(lr_scale);
    return loss;
  }

  static void normalise(std::vector<double>& s) {
    const double lse = logsumexp<double>(s);
    for (double& v : s) v -= lse;
  }

 private:
  using PolicyOpt = PolicyOptimizer<P>;

  // Row i * K + k: query i followed by label k's tokens, not stopped (the label is not the end of
  // the policy's text: an LM goes on after it).
  void score_batch(std::span<const Query> queries) {
    const std::size_t K = labels_.size();
    int max_len = 0;
    for (const auto& l : labels_) max_len = std::max(max_len, static_cast<int>(l.size()));
    batch_.resize(static_cast<int>(queries.size() * K), max_len);
    rows_.clear();
    for (std::size_t i = 0; i < queries.size(); ++i)
      for (std::size_t k = 0; k < K; ++k) {
        const int r = static_cast<int>(i * K + k);
        for (std::size_t t = 0; t < labels_[k].size(); ++t) batch_.actions(r, t) = labels_[k][t];
        batch_.length[r] = static_cast<int>(labels_[k].size());
        batch_.stopped[r] = false;
        batch_.query[r] = static_cast<int>(i);
        rows_.push_back(queries[i]);
      }
    policy_->score(std::span<const Query>(rows_), mask_, batch_);
  }
  double row_score(std::size_t i, std::size_t k) const {
    const int r = static_cast<int>(i * labels_.size() + k);
    double s = 0;
    for (std::size_t t = 0; t < labels_[k].size(); ++t) s += batch_.log_pf(r, t);
    return s;
  }

  P* policy_;
  std::vector<std::vector<int32_t>> labels_;
  LogitMask mask_;
  LabelScorerConfig config_;
  PolicyOpt optimizer_;
  TrajectoryBatch batch_;
  std::vector<Query> rows_;
};

}  // namespace gfnlm
