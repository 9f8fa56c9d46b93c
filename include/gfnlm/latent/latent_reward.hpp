#pragma once
// The E-step reward of latent-variable EM (paper section 4.3, SPEC section 3): the GFlowNet
// q(Z | X, Y) is trained towards the posterior of the current model,
//
//   p(Z | X, Y)  proportional to  p(Z | X) p(Y | X, Z),
//
// with the prior p(Z | X) a policy's teacher-forced likelihood of Z after X (the frozen base LM,
// no STOP factor: what ends Z is the label text that follows) and the label term read from a
// LabelScorer (latent/label_scorer.hpp) after "X Z". Two forms of the label term:
//   joint      s_Y(X, Z), the label tokens' own likelihood: with the base as both prior and
//              scorer, log R = log p_LM(Z ", so it is {label}." | X), the paper's reward;
//   posterior  s_Y - logsumexp_k s_k = log p(Y | X, Z), the classifier's K-way probability: the
//              exact E-step of EM over a K-way classifier (the known-answer test).
// Either way, when the scorer's own prediction from Z is another label (some s_k > s_Y), the
// paper subtracts a large penalty (50 nats): a rationale must lead to the right label.
//
// Every prefix of every row is scored (the stop-flow objectives read log R at each state): one
// prior row per trajectory and K scorer rows per prefix, in two batched calls.
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/query_key.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/latent/label_scorer.hpp>
#include <gfnlm/policies/lm_query.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace gfnlm {

// One (X, Y) pair of an LM task: what the E-step policy sees (`prompt`: X and, in some form, Y, so
// q can depend on the label), X alone (what the prior and the classifier condition on) and Y.
// label < 0 at test time, where Y is what is predicted.
struct LatentQuery {
  std::vector<int32_t> prompt;
  std::vector<int32_t> x;
  int label = -1;
  int64_t id = -1;  // stable id (replay buffer, log Z); -1: hash of prompt and label

  uint64_t key() const {
    if (id >= 0) return static_cast<uint64_t>(id);
    const std::string_view bytes(reinterpret_cast<const char*>(prompt.data()),
                                 prompt.size() * sizeof(int32_t));
    return fnv1a64(bytes) * 31 + static_cast<uint64_t>(label + 1);
  }
};

// How a task's E-step query maps to the prior's and the classifier's queries, and its label.
template <class Q, class PriorQuery, class ClassifierQuery>
struct LatentBinding {
  std::function<PriorQuery(const Q&)> prior_query;
  std::function<ClassifierQuery(const Q&, std::span<const int32_t> z)> classifier_query;
  std::function<int(const Q&)> label;
};

// The LM binding: the prior reads Z after X, the classifier reads the labels after X Z.
inline LatentBinding<LatentQuery, LmQuery, LmQuery> lm_latent_binding() {
  return {[](const LatentQuery& q) {
            return LmQuery{q.x, {}, -1};
          },
          [](const LatentQuery& q, std::span<const int32_t> z) {
            LmQuery c{q.x, {}, -1};
            c.prompt.insert(c.prompt.end(), z.begin(), z.end());
            return c;
          },
          [](const LatentQuery& q) { return q.label; }};
}

enum class LabelTerm { joint, posterior };

struct LatentRewardConfig {
  LabelTerm label_term = LabelTerm::joint;
  double wrong_label_penalty = 50.0;  // nats off log R when the scorer predicts another label

  void validate() const {
    GFNLM_CHECK(std::isfinite(wrong_label_penalty) && wrong_label_penalty >= 0,
                "LatentRewardConfig.wrong_label_penalty = {} must be finite and >= 0",
                wrong_label_penalty);
  }
};

// What scoring a latent Z says: the E-step reward and the scorer's own verdict.
struct LatentScore {
  double log_prior = 0;  // log p(Z | X)
  double label = 0;      // the label term (joint or posterior)
  bool right = false;    // the scorer's best label from Z is Y (ties count as right)
  double log_reward(const LatentRewardConfig& c) const {
    return log_prior + label - (right ? 0.0 : c.wrong_label_penalty);
  }
};

template <Policy Prior, Policy Classifier, class Q>
class LatentLabelReward {
 public:
  using Query = Q;
  using PriorQuery = typename Prior::Query;
  using ClassifierQuery = typename Classifier::Query;
  using Binding = LatentBinding<Q, PriorQuery, ClassifierQuery>;

  LatentLabelReward(Prior& prior, LabelScorer<Classifier>& scorer, Binding binding,
                    LatentRewardConfig config = {})
      : prior_(&prior),
        scorer_(&scorer),
        binding_((config.validate(), std::move(binding))),
        config_(config),
        mask_(prior.vocab_size(), prior.stop_token(), 0) {
    GFNLM_CHECK(binding_.prior_query && binding_.classifier_query && binding_.label,
                "LatentLabelReward: the binding is missing a function");
  }

  const LatentRewardConfig& config() const { return config_; }

  // The score of each (query, Z) pair, Z whole (no prefixes): for M-step diagnostics and tests.
  std::vector<LatentScore> score(std::span<const Q> queries,
                                 std::span<const std::vector<int32_t>> zs) {
    GFNLM_CHECK(queries.size() == zs.size(), "LatentLabelReward::score: {} queries for {} Z",
                queries.size(), zs.size());
    std::vector<Item> items;
    for (std::size_t i = 0; i < zs.size(); ++i) items.push_back({&queries[i], zs[i], zs[i].size()});
    std::vector<double> prior_at;
    prior_logs(items, prior_at);
    return label_scores(items, prior_at);
  }

  // BatchPrefixReward: out[t] = log R(z_<t STOP) for every row and prefix.
  void prefix_log_rewards_batch(std::span<const RewardRequest<Q>> rows) {
    std::vector<Item> items;
    for (const auto& r : rows) {
      GFNLM_CHECK(r.out.size() == r.actions.size() + 1,
                  "LatentLabelReward: {} outputs for {} actions", r.out.size(), r.actions.size());
      for (std::size_t t = 0; t <= r.actions.size(); ++t) items.push_back({r.query, r.actions, t});
    }
    std::vector<double> prior_at;
    prior_logs(items, prior_at);
    const auto s = label_scores(items, prior_at);
    std::size_t i = 0;
    for (const auto& r : rows)
      for (std::size_t t = 0; t <= r.actions.size(); ++t) r.out[t] = s[i++].log_reward(config_);
  }

  // Plain form: log R of a whole Z.
  double operator()(const Q& q, std::span<const int32_t> z) {
    const std::vector<int32_t> zz(z.begin(), z.end());
    return score(std::span<const Q>(&q, 1), std::span<const std::vector<int32_t>>(&zz, 1))
        .front()
        .log_reward(config_);
  }

 private:
  struct Item {
    const Q* query;
    std::span<const int32_t> z;  // the whole row; `length` of it is this item's prefix
    std::size_t length;
  };

  // prior_at[i] = log p(z_<length | X) of item i: one teacher-forced row per distinct (query, z)
  // (an item's prefixes share it), cumulative sums of its log_pf.
  void prior_logs(const std::vector<Item>& items, std::vector<double>& prior_at) {
    std::vector<std::size_t> row_of(items.size());
    std::vector<std::size_t> firsts;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const bool same = i > 0 && items[i].query == items[i - 1].query &&
                        items[i].z.data() == items[i - 1].z.data() &&
                        items[i].z.size() == items[i - 1].z.size();
      if (!same) firsts.push_back(i);
      row_of[i] = firsts.size() - 1;
    }
    int max_len = 0;
    for (std::size_t f : firsts) max_len = std::max(max_len, static_cast<int>(items[f].z.size()));
    batch_.resize(static_cast<int>(firsts.size()), std::max(max_len, 1));
    prior_rows_.clear();
    for (std::size_t r = 0; r < firsts.size(); ++r) {
      const Item& it = items[firsts[r]];
      for (std::size_t t = 0; t < it.z.size(); ++t) batch_.actions(int(r), t) = it.z[t];
      batch_.length[r] = static_cast<int>(it.z.size());
      batch_.stopped[r] = false;
      batch_.query[r] = static_cast<int>(r);
      prior_rows_.push_back(binding_.prior_query(*it.query));
    }
    prior_->score(std::span<const PriorQuery>(prior_rows_), mask_, batch_);
    prior_at.resize(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      double s = 0;
      for (std::size_t t = 0; t < items[i].length; ++t) s += batch_.log_pf(int(row_of[i]), t);
      prior_at[i] = s;
    }
  }

  std::vector<LatentScore> label_scores(const std::vector<Item>& items,
                                        const std::vector<double>& prior_at) {
    classifier_rows_.clear();
    for (const auto& it : items)
      classifier_rows_.push_back(binding_.classifier_query(*it.query, it.z.first(it.length)));
    // In chunks: an LM's activation arena grows to the largest batch it has scored, and every
    // prefix of 32 rows with both labels (384 sequences of up to ~300 tokens on SUBJ's longest
    // sentences) took the classifier's arena, and the k = all run, to 18.5 GB.
    std::vector<std::vector<double>> s;
    for (std::size_t c = 0; c < classifier_rows_.size(); c += kChunkRows) {
      const auto chunk = std::span<const ClassifierQuery>(classifier_rows_)
                             .subspan(c, std::min(kChunkRows, classifier_rows_.size() - c));
      for (auto& row : scorer_->scores(chunk)) s.push_back(std::move(row));
    }
    std::vector<LatentScore> out(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const int y = binding_.label(*items[i].query);
      GFNLM_CHECK(y >= 0 && y < scorer_->num_labels(),
                  "LatentLabelReward: query label {} outside [0, {}) (a test query has no label)",
                  y, scorer_->num_labels());
      auto row = s[i];
      const double best = *std::max_element(row.begin(), row.end());
      out[i].right = row[y] >= best;
      if (config_.label_term == LabelTerm::posterior) LabelScorer<Classifier>::normalise(row);
      out[i].log_prior = prior_at[i];
      out[i].label = row[y];
    }
    return out;
  }

  static constexpr std::size_t kChunkRows = 48;  // classifier queries per batched score

  Prior* prior_;
  LabelScorer<Classifier>* scorer_;
  Binding binding_;
  LatentRewardConfig config_;
  LogitMask mask_;
  TrajectoryBatch batch_;
  std::vector<PriorQuery> prior_rows_;
  std::vector<ClassifierQuery> classifier_rows_;
};

}  // namespace gfnlm
