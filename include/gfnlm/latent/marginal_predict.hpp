#pragma once
// Prediction from the E-step alone (the paper's "GFlowNet E-step" row, issue 23): the latent
// model's own label distribution
//
//   p(Y = k | X)  proportional to  Z_k(X) = sum_Z p(Z | X) l_k(X, Z),
//
// with the prior and the label term l_k read from a LatentLabelReward (latent/latent_reward.hpp;
// its wrong-label penalty is not applied: Z_k is the model's marginal, not the E-step's target).
// Z_k is the partition function of the E-step's target for label k, so the E-step's q(Z | X, k)
// is the natural proposal: the importance-sampling estimate
//
//   log Z_k ~ logsumexp_i [log p(Z_i | X) + l_k(X, Z_i) - log q(Z_i | X, k)] - log n,
//   Z_i ~ q(. | X, k) at temperature 1,
//
// is unbiased in Z_k for any q that covers the target, and exact for every n when q is the target
// itself. Unlike vote_predict, which draws Z from the prior and never reads q, this uses what the
// E-step learned, so it needs no M-step. With LabelTerm::posterior, l_k = log p(k | X, Z).
#include <gfnlm/baselines/sample_decode.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <span>
#include <type_traits>
#include <vector>

namespace gfnlm {

struct MarginalPrediction {
  int label = 0;                     // argmax_k of log_marginal
  std::vector<double> log_marginal;  // the estimate of log Z_k, per label
  std::vector<double> posterior;     // Z_k / sum_j Z_j
};

// q: the E-step policy (its queries are the reward's); q_mask: the mask it was trained under
// (Sampler::mask()); with_label(query, k): the query with its label set to k, which q sees.
template <Policy QPolicy, class Reward>
std::vector<MarginalPrediction> marginal_predict(
    QPolicy& q, const LogitMask& q_mask, Reward& reward,
    std::span<const typename Reward::Query> queries,
    const std::function<typename Reward::Query(const typename Reward::Query&, int)>& with_label,
    int num_labels, int samples, int max_len, Rng& rng) {
  using Query = typename Reward::Query;
  static_assert(std::is_same_v<Query, typename QPolicy::Query>,
                "marginal_predict: the E-step policy's query type must be the reward's");
  GFNLM_CHECK(num_labels >= 2 && samples >= 1 && max_len >= 1,
              "marginal_predict: num_labels {} must be >= 2, samples {} and max_len {} >= 1",
              num_labels, samples, max_len);
  GFNLM_CHECK(static_cast<bool>(with_label), "marginal_predict: with_label is empty");
  // 8 queries at a time, as vote_predict (an LM's activation arena grows to its largest batch).
  constexpr std::size_t kChunk = 8;
  const std::size_t K = std::size_t(num_labels), n = std::size_t(samples);
  std::vector<MarginalPrediction> out(queries.size());
  std::vector<Query> labelled;
  std::vector<Query> rows;
  std::vector<std::vector<int32_t>> zs;
  std::vector<double> log_q;
  for (std::size_t c = 0; c < queries.size(); c += kChunk) {
    const std::size_t end = std::min(queries.size(), c + kChunk);
    labelled.clear();
    for (std::size_t i = c; i < end; ++i)
      for (std::size_t k = 0; k < K; ++k) labelled.push_back(with_label(queries[i], int(k)));
    const auto drawn = sample_decode(q, std::span<const Query>(labelled), samples, q_mask,
                                     SamplingDecoder{1.0, {}, max_len}, rng);
    rows.clear(), zs.clear(), log_q.clear();
    for (std::size_t j = 0; j < labelled.size(); ++j)
      for (const auto& t : drawn[j]) {
        rows.push_back(labelled[j]);
        zs.push_back(t.actions);
        log_q.push_back(t.log_q);
      }
    const auto scored =
        reward.score(std::span<const Query>(rows), std::span<const std::vector<int32_t>>(zs));
    for (std::size_t i = c; i < end; ++i) {
      auto& p = out[i];
      p.log_marginal.resize(K);
      for (std::size_t k = 0; k < K; ++k) {
        std::vector<double> log_w(n);
        for (std::size_t s = 0; s < n; ++s) {
          const std::size_t row = ((i - c) * K + k) * n + s;
          log_w[s] = scored[row].log_prior + scored[row].label - log_q[row];
          GFNLM_CHECK(!std::isnan(log_w[s]),
                      "marginal_predict: query {} label {} draw {}: the importance weight is NaN "
                      "(log prior {}, label term {}, log q {})",
                      i, k, s, scored[row].log_prior, scored[row].label, log_q[row]);
        }
        p.log_marginal[k] = logsumexp<double>(log_w) - std::log(double(n));
      }
      p.label = static_cast<int>(std::max_element(p.log_marginal.begin(), p.log_marginal.end()) -
                                 p.log_marginal.begin());
      const double total = logsumexp<double>(p.log_marginal);
      GFNLM_CHECK(std::isfinite(total),
                  "marginal_predict: query {}: every label's estimate is {} (no draw has a "
                  "finite weight)",
                  i, total);
      for (double l : p.log_marginal) p.posterior.push_back(std::exp(l - total));
    }
  }
  return out;
}

}  // namespace gfnlm
