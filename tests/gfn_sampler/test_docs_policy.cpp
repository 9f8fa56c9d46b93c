// A custom Policy, end to end: one logits row per (query, position), so
//   q(z STOP | q) = prod_t softmax(theta[q][t])[z_t] x softmax(theta[q][|z|])[STOP],
// trained on a reward that such a policy can match exactly: words of 1 to 3 letters over
// {a, b, c} with log R(z STOP | q) = sum_t w(q, t, z_t). The policy draws and scores on the host
// with the library's log-softmax and inverse-CDF draw; only tokens and log-probabilities leave it.
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/rollout.hpp>
#include <gfnlm/gfn/sampler.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

// Tokens 0, 1, 2 are the letters a, b, c; token 3 is STOP.
constexpr int kVocab = 4, kStop = 3, kMaxLen = 3, kQueries = 2;

class PositionPolicy {
 public:
  using Query = int;
  int vocab_size() const { return kVocab; }
  int32_t stop_token() const { return kStop; }

  // ---- rollouts: a row's state is its query and its length ----
  void start_rollout(std::span<const int> queries) {
    queries_.assign(queries.begin(), queries.end());
    lengths_.assign(queries.size(), 0);
  }
  // Each live row draws from softmax(masked logits / T) at the caller's uniform, and reports the
  // temperature-1 log q of what it drew.
  void draw(const gfnlm::LogitMask& mask, const gfnlm::DrawStep& step, std::span<int32_t> drawn,
            std::span<double> drawn_log_q) const {
    for (std::size_t r = 0; r < queries_.size(); ++r) {
      drawn[r] = -1;
      if (!step.live[r]) continue;
      const auto log_p = log_probs(queries_[r], step.length, step.last(r), mask);
      std::array<double, kVocab> weights{};  // proportional to softmax(logits / T)
      for (int v = 0; v < kVocab; ++v) weights[v] = std::exp(log_p[v] / step.temperature[r]);
      drawn[r] = gfnlm::categorical_at(std::span<const double>(weights), step.uniform[r]);
      drawn_log_q[r] = log_p[drawn[r]];
    }
  }
  void advance(std::span<const int32_t> tokens) {
    for (std::size_t r = 0; r < tokens.size(); ++r)
      lengths_[r] += tokens[r] >= 0 && tokens[r] != kStop;
  }
  void append_context(int row, std::span<const int32_t> tokens) const {
    GFNLM_CHECK(tokens.empty(), "PositionPolicy takes no tool context (row {})", row);
  }

  // ---- teacher forcing: log q of every action and of STOP at every state of every row ----
  void score(std::span<const int> queries, const gfnlm::LogitMask& mask,
             gfnlm::TrajectoryBatch& batch) {
    scored_.clear();
    mask_ = mask;
    for (int b = 0; b < batch.rows(); ++b) {
      for (int t = 0; t <= batch.length[b]; ++t) {
        const bool has_action = t < batch.length[b];
        const int32_t action = has_action ? batch.actions(b, t) : -1;
        const int32_t last = t > 0 ? batch.actions(b, t - 1) : -1;
        const auto log_p = log_probs(queries[b], t, last, mask);
        if (has_action) batch.log_pf(b, t) = log_p[action];
        batch.log_stop(b, t) = log_p[kStop];
        // STOP's gradient counts where STOP was legal: not at the end of a row cut at max_len.
        const bool stop_counts = (has_action || batch.stopped[b]) && !mask.bans_stop(t, last);
        scored_.push_back({b, t, queries[b], action, last, stop_counts});
      }
    }
  }
  // d log softmax(theta)[a] / d theta = onehot(a) - p, summed with the weights the loss gives.
  void backward(const gfnlm::TrajectoryGrad& grad, double scale) {
    GFNLM_CHECK(!scored_.empty(), "PositionPolicy::backward called before score");
    for (const auto& s : scored_) {
      const auto log_p = log_probs(s.query, s.t, s.last, mask_);
      const double g_pf = s.action >= 0 ? grad.log_pf(s.row, s.t) : 0.0;
      const double g_stop = s.stop_counts ? grad.log_stop(s.row, s.t) : 0.0;
      float* d = &grad_[index(s.query, s.t, 0)];
      for (int v = 0; v < kVocab; ++v) {
        const double p = std::exp(log_p[v]);
        d[v] += static_cast<float>(scale *
                                   (g_pf * ((v == s.action) - p) + g_stop * ((v == kStop) - p)));
      }
    }
    scored_.clear();
  }
  gfnlm::ParameterList<float> parameters() {
    return {
        {"position.logits", theta_.data(), grad_.data(), theta_.size(), /*weight_decay=*/false}};
  }

 private:
  struct Scored {
    int row, t, query;
    int32_t action;  // -1 at a row's last state
    int32_t last;    // the action before this state, -1 at the root (for LogitMask::stop_after)
    bool stop_counts;
  };
  static std::size_t index(int q, int t, int v) {
    GFNLM_CHECK(q >= 0 && q < kQueries && t >= 0 && t <= kMaxLen, "state ({}, {}) out of range", q,
                t);
    return (std::size_t(q) * (kMaxLen + 1) + t) * kVocab + v;
  }
  // Masked log-softmax of the state's logits (the masks: banned tokens and early STOP at -inf).
  std::array<float, kVocab> log_probs(int q, int t, int32_t last,
                                      const gfnlm::LogitMask& mask) const {
    std::array<float, kVocab> row{};
    for (int v = 0; v < kVocab; ++v) row[v] = theta_[index(q, t, v)];
    mask.apply(row, t, last);
    gfnlm::log_softmax<float>(row, row);
    return row;
  }

  std::vector<float> theta_ = std::vector<float>(kQueries * (kMaxLen + 1) * kVocab, 0.0f);
  std::vector<float> grad_ = std::vector<float>(theta_.size(), 0.0f);
  std::vector<int> queries_, lengths_;
  std::vector<Scored> scored_;
  gfnlm::LogitMask mask_;
};
static_assert(gfnlm::Policy<PositionPolicy>);

// log R(z STOP | q) = sum_t w(q, t, z_t): a product over positions, so PositionPolicy can be exact.
double weight(int q, int t, int32_t letter) {
  return 0.9 * std::cos(1.0 + q + 2.0 * t + 3.0 * letter);
}
struct PositionReward {
  double operator()(const int& q, std::span<const int32_t> z) const {
    double log_r = 0;
    for (std::size_t t = 0; t < z.size(); ++t) log_r += weight(q, static_cast<int>(t), z[t]);
    return log_r;
  }
};

int main() {
  PositionPolicy policy;
  gfnlm::SamplerConfig config;
  config.trajectories_per_query = 16;
  config.max_len = kMaxLen;
  config.min_len = 1;  // the empty word is not a word: STOP is masked at the first state
  config.optimizer.lr = 0.05;
  config.lr_schedule = {.warmup = 20, .total = 400, .final_fraction = 0.05};
  config.grad_clip = 0;
  config.seed = 7;
  // ModifiedSubTB never reaches the first action when STOP is masked at the root, unless the root
  // flow log F(s_0) is learned (one per query).
  gfnlm::Sampler sampler(policy, PositionReward{}, config,
                         gfnlm::ModifiedSubTB({.learn_root_flow = true, .num_queries = kQueries}));
  const std::vector<int> queries{0, 1};
  for (int step = 0; step < 400; ++step) sampler.train_step(queries);

  // Exact target by enumerating the 39 words; KL(target || q) from the sampler's log q.
  int failures = 0;
  for (int q : queries) {
    std::vector<std::vector<int32_t>> words;
    for (int n = 1; n <= kMaxLen; ++n)
      for (int code = 0; code < int(std::pow(3, n)); ++code) {
        std::vector<int32_t> word;
        for (int t = 0, c = code; t < n; ++t, c /= 3) word.push_back(c % 3);
        words.push_back(word);
      }
    std::vector<double> log_r(words.size());
    for (std::size_t i = 0; i < words.size(); ++i) log_r[i] = PositionReward{}(q, words[i]);
    const double log_z = gfnlm::logsumexp<double>(log_r);
    double kl = 0;
    for (std::size_t i = 0; i < words.size(); ++i) {
      const bool stopped = words[i].size() < std::size_t(kMaxLen);  // STOP is forced at max_len
      const double log_p = log_r[i] - log_z;
      kl += std::exp(log_p) * (log_p - sampler.log_prob(q, words[i], stopped));
    }
    std::printf("query %d: KL(target || q) = %.2e over %zu words\n", q, kl, words.size());
    failures += !(kl < 1e-3);
  }

  // The rollout engine on its own: the loop the Sampler, PPO and evaluation share.
  const gfnlm::LogitMask mask(kVocab, kStop, config.min_len);
  const std::vector<int> row_queries{0, 0, 1, 1};
  const std::vector<double> temperatures{1.0, 1.0, 2.0, 2.0};
  std::vector<gfnlm::Trajectory> rows(row_queries.size());
  std::vector<gfnlm::Trajectory*> out(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) out[k] = &rows[k];
  gfnlm::Rng rng(3);
  gfnlm::rollout(policy, std::span<const int>(row_queries), std::span<const double>(temperatures),
                 gfnlm::RolloutSpec<int>{.mask = &mask, .max_len = kMaxLen}, rng,
                 std::span<gfnlm::Trajectory* const>(out));
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const double scored = sampler.log_prob(row_queries[k], rows[k].actions, rows[k].stopped);
    std::printf("row %zu: %zu letters, log q drawn %.5f, scored %.5f\n", k, rows[k].actions.size(),
                rows[k].log_q, scored);
    failures += !(std::abs(rows[k].log_q - scored) < 1e-5) || rows[k].actions.empty();
  }
  return failures == 0 ? 0 : 1;
}
