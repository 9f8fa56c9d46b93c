#pragma once
// Latent-variable EM with a GFlowNet E-step (paper section 4.3, issue 23). A round:
//   E-step  the Sampler's policy q(Z | X, Y) trains towards p(Z | X) p(Y | X, Z) of the current
//           classifier (latent/latent_reward.hpp) on the labelled (X, Y);
//   M-step  rationales Z ~ q(Z | X, Y) are drawn for every labelled example and the classifier
//           p(Y | X, Z) (latent/label_scorer.hpp) is fine-tuned on them by K-way cross-entropy.
// The reward holds the scorer by reference, so each E-step trains against the classifier the
// last M-step left. Prediction (vote_predict) has no Y to condition q on: it draws Z from the
// prior p(Z | X) and takes the majority of the classifier's labels over the draws, a Monte Carlo
// estimate of argmax_Y sum_Z p(Z | X) p(Y | X, Z).
#include <gfnlm/baselines/sample_decode.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/eval/majority_vote.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/latent/label_scorer.hpp>
#include <gfnlm/latent/latent_reward.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

struct EmConfig {
  int rounds = 2;
  int e_steps = 100;           // Sampler::train_step calls per E-step
  int e_queries_per_step = 4;  // labelled examples per E-step step, drawn with replacement
  int m_rationales = 4;        // Z drawn from q per labelled example for each M-step
  int m_steps = 100;           // AdamW steps of the classifier per M-step
  int m_batch = 16;            // (X, Z, Y) per step, drawn with replacement; 0: all of them
  double m_temperature = 1.0;  // of the M-step's draws from q
  int max_len = 5;             // Z's tokens (the paper's 5)

  void validate() const {
    GFNLM_CHECK(rounds >= 0 && e_steps >= 0 && e_queries_per_step >= 1 && m_rationales >= 1 &&
                    m_steps >= 0 && m_batch >= 0 && max_len >= 1,
                "EmConfig: rounds {}, e_steps {}, m_steps {}, m_batch {} must be >= 0 and "
                "e_queries_per_step {}, m_rationales {}, max_len {} >= 1",
                rounds, e_steps, m_steps, m_batch, e_queries_per_step, m_rationales, max_len);
    GFNLM_CHECK(m_temperature > 0 && std::isfinite(m_temperature),
                "EmConfig.m_temperature = {} must be finite and > 0", m_temperature);
  }
};

// What one round did.
struct EmRound {
  double e_loss = 0;        // mean objective loss over the E-step's last quarter of steps
  double e_mean_log_r = 0;  // mean log R over the same steps
  // Of the M-step's rationales: the share from which the classifier (before the M-step) predicts
  // the right label, and the number of distinct (example, Z) pairs.
  double right_share = 0;
  int distinct_rationales = 0;
  double m_loss_first = 0, m_loss_last = 0;  // cross-entropy at the M-step's first / last step
  double seconds = 0;
};

// S: a Sampler<EPolicy, LatentLabelReward<Prior, Classifier, Q>, Objective> (gfn/sampler.hpp).
template <class S, Policy Classifier>
class ExpectationMaximization {
 public:
  using Q = typename S::Query;
  using ClassifierQuery = typename Classifier::Query;
  using Binding = LatentBinding<Q, typename S::Reward::PriorQuery, ClassifierQuery>;

  ExpectationMaximization(S& sampler, LabelScorer<Classifier>& scorer, Binding binding,
                          EmConfig config)
      : sampler_(&sampler),
        scorer_(&scorer),
        binding_(std::move(binding)),
        config_((config.validate(), config)) {}

  // An E-step over `labelled` (every query carries its label).
  void e_step(std::span<const Q> labelled, Rng& rng, EmRound& r) {
    GFNLM_CHECK(!labelled.empty(), "EM: no labelled examples");
    std::vector<Q> batch(std::size_t(config_.e_queries_per_step));
    const int tail = std::max(1, config_.e_steps / 4);
    for (int step = 0; step < config_.e_steps; ++step) {
      for (auto& q : batch) q = labelled[rng.below(labelled.size())];
      const auto m = sampler_->train_step(std::span<const Q>(batch));
      if (step >= config_.e_steps - tail) {
        r.e_loss += m.loss / tail;
        r.e_mean_log_r += m.mean_log_r / tail;
      }
    }
  }

  // The M-step's data: m_rationales draws from q for every labelled example.
  std::vector<std::vector<int32_t>> draw_rationales(std::span<const Q> labelled, Rng& rng) {
    const SamplingDecoder decoder{config_.m_temperature, {}, config_.max_len};
    std::vector<std::vector<int32_t>> zs;
    // In chunks: one rollout holds a KV cache per row (8,000 examples x 4 draws at once would not
    // fit).
    for (std::size_t c = 0; c < labelled.size(); c += kChunkQueries)
      for (auto& row :
           sample_decode(sampler_->policy(),
                         labelled.subspan(c, std::min(kChunkQueries, labelled.size() - c)),
                         config_.m_rationales, sampler_->mask(), decoder, rng))
        for (auto& t : row) zs.push_back(std::move(t.actions));
    return zs;
  }

  // An M-step on (X, Z, Y) for the drawn rationales (zs[i] belongs to labelled[i / m]).
  void m_step(std::span<const Q> labelled, const std::vector<std::vector<int32_t>>& zs, Rng& rng,
              EmRound& r) {
    const std::size_t m = std::size_t(config_.m_rationales);
    GFNLM_CHECK(zs.size() == labelled.size() * m, "EM::m_step: {} rationales for {} examples x {}",
                zs.size(), labelled.size(), m);
    std::vector<ClassifierQuery> all;
    std::vector<int> labels;
    std::set<std::pair<std::size_t, std::vector<int32_t>>> distinct;
    for (std::size_t i = 0; i < zs.size(); ++i) {
      all.push_back(binding_.classifier_query(labelled[i / m], zs[i]));
      labels.push_back(binding_.label(labelled[i / m]));
      distinct.insert({i / m, zs[i]});
    }
    r.distinct_rationales = static_cast<int>(distinct.size());
    int right = 0;
    for (std::size_t c = 0; c < all.size(); c += kChunkRows) {
      const auto chunk =
          std::span<const ClassifierQuery>(all).subspan(c, std::min(kChunkRows, all.size() - c));
      const auto before = scorer_->scores(chunk);
      for (std::size_t i = 0; i < chunk.size(); ++i) {
        const auto& row = before[i];
        right += std::max_element(row.begin(), row.end()) - row.begin() == labels[c + i] ? 1 : 0;
      }
    }
    r.right_share = double(right) / double(all.size());
    const std::size_t b = config_.m_batch == 0 ? all.size() : std::size_t(config_.m_batch);
    std::vector<ClassifierQuery> bq(b);
    std::vector<int> bl(b);
    for (int step = 0; step < config_.m_steps; ++step) {
      double loss = 0;
      if (config_.m_batch == 0) {  // every row in one step: meant for small tables (tests)
        loss = scorer_->train_step(std::span<const ClassifierQuery>(all), labels);
      } else {
        for (std::size_t j = 0; j < b; ++j) {
          const std::size_t k = rng.below(all.size());
          bq[j] = all[k], bl[j] = labels[k];
        }
        loss = scorer_->train_step(std::span<const ClassifierQuery>(bq), bl);
      }
      if (step == 0) r.m_loss_first = loss;
      r.m_loss_last = loss;
    }
  }

  // after_e_step runs between the two steps (prediction from the E-step alone, marginal_predict).
  EmRound round(std::span<const Q> labelled, Rng& rng,
                const std::function<void()>& after_e_step = {}) {
    const auto t0 = std::chrono::steady_clock::now();
    EmRound r;
    e_step(labelled, rng, r);
    if (after_e_step) after_e_step();
    m_step(labelled, draw_rationales(labelled, rng), rng, r);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }

  // config.rounds rounds; on_round sees each as it finishes (progress, checkpoints).
  std::vector<EmRound> train(std::span<const Q> labelled, Rng& rng,
                             const std::function<void(int, const EmRound&)>& on_round = {}) {
    std::vector<EmRound> out;
    for (int i = 0; i < config_.rounds; ++i) {
      out.push_back(round(labelled, rng));
      if (on_round) on_round(i, out.back());
    }
    return out;
  }

  const EmConfig& config() const { return config_; }

 private:
  // Batches of LM work: queries per rollout, rows per classifier score (see vote_predict).
  static constexpr std::size_t kChunkQueries = 32, kChunkRows = 48;

  S* sampler_;
  LabelScorer<Classifier>* scorer_;
  Binding binding_;
  EmConfig config_;
};

// One prediction: the majority label and the share of the draws that voted for it.
struct VotePrediction {
  int label = 0;
  double share = 1.0;
};

// Majority vote over `samples` rationales Z ~ prior(Z | X) (at `temperature`, at most max_len
// tokens, the mask applied) of the classifier's best label from X Z; samples = 0 classifies from
// X with no rationale. Ties: the label first seen among the draws.
template <Policy Prior, Policy Classifier, class Q>
std::vector<VotePrediction> vote_predict(
    Prior& prior, LabelScorer<Classifier>& scorer,
    const LatentBinding<Q, typename Prior::Query, typename Classifier::Query>& binding,
    std::span<const Q> queries, int samples, int max_len, const LogitMask& mask, Rng& rng,
    double temperature = 1.0) {
  GFNLM_CHECK(samples >= 0, "vote_predict: samples = {} must be >= 0", samples);
  using PQ = typename Prior::Query;
  using CQ = typename Classifier::Query;
  const std::size_t n = std::size_t(std::max(samples, 1));
  // Scored in chunks of 8 queries: the activation arena of an LM grows to the largest batch it
  // has seen (B x T, and attention B x heads x T^2), and 32 queries x 10 draws x 2 labels took
  // stories260K's classifier past 20 GB with the copies of it that EM holds.
  constexpr std::size_t kChunk = 8;
  std::vector<std::vector<std::vector<int32_t>>> zs(queries.size());
  if (samples == 0) {
    for (auto& z : zs) z.assign(1, {});
  } else {
    std::vector<PQ> pq;
    for (const auto& q : queries) pq.push_back(binding.prior_query(q));
    for (std::size_t c = 0; c < pq.size(); c += kChunk) {
      const auto chunk = std::span<const PQ>(pq).subspan(c, std::min(kChunk, pq.size() - c));
      const auto drawn = sample_decode(prior, chunk, samples, mask,
                                       SamplingDecoder{temperature, {}, max_len}, rng);
      for (std::size_t i = 0; i < chunk.size(); ++i)
        for (const auto& t : drawn[i]) zs[c + i].push_back(t.actions);
    }
  }
  std::vector<std::vector<double>> s;
  std::vector<CQ> cq;
  for (std::size_t c = 0; c < queries.size(); c += kChunk) {
    cq.clear();
    for (std::size_t i = c; i < std::min(queries.size(), c + kChunk); ++i)
      for (const auto& z : zs[i]) cq.push_back(binding.classifier_query(queries[i], z));
    for (auto& row : scorer.scores(std::span<const CQ>(cq))) s.push_back(std::move(row));
  }
  std::vector<VotePrediction> out(queries.size());
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::vector<int> votes;
    for (std::size_t j = 0; j < n; ++j) {
      const auto& row = s[i * n + j];
      votes.push_back(static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()));
    }
    const int best = majority_vote(votes).value();
    int count = 0;
    for (int v : votes) count += v == best ? 1 : 0;
    out[i] = {best, double(count) / double(n)};
  }
  return out;
}

}  // namespace gfnlm
