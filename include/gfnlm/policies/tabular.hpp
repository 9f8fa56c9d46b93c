#pragma once
// TabularPolicy: one exact softmax logits row per (query, prefix) over a tiny vocabulary, so an
// objective can be trained against a target whose distribution we can enumerate (issue 3,
// acceptance 2). Prefixes are sequences of non-stop tokens of length 0..max_len, enumerated
// densely: length-l prefixes of query q occupy a block of (V-1)^l rows, indexed by their tokens
// read as base-(V-1) digits (the stop token removed from the alphabet). Memory is exact:
// num_queries * sum_{l<=max_len} (V-1)^l rows of V floats.
//
// It models gfnlm::Policy. A finished sequence is z STOP for |z| < max_len, or z itself at
// |z| == max_len, where STOP is forced (probability 1; the sampler masks the other tokens), so
// log_prob_terminal() and terminal_log_probs() give a distribution that sums to one. Tool
// context makes no sense here: append_context() and score() reject non-empty context.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

class TabularPolicy {
 public:
  using Query = int;

  TabularPolicy(int num_queries, int vocab_size, int32_t stop_token, int max_len)
      : num_queries_(num_queries), vocab_(vocab_size), stop_(stop_token), max_len_(max_len) {
    GFNLM_CHECK(num_queries > 0, "TabularPolicy: num_queries = {} must be positive", num_queries);
    GFNLM_CHECK(vocab_size >= 2, "TabularPolicy: vocab_size = {} must be >= 2 (stop + a token)",
                vocab_size);
    GFNLM_CHECK(stop_token >= 0 && stop_token < vocab_size,
                "TabularPolicy: stop_token {} outside [0, {})", stop_token, vocab_size);
    GFNLM_CHECK(max_len >= 0, "TabularPolicy: max_len = {} must be >= 0", max_len);
    offset_.assign(std::size_t(max_len) + 2, 0);
    std::size_t block = 1;
    for (int l = 0; l <= max_len; ++l) {
      offset_[l + 1] = offset_[l] + block;
      block *= std::size_t(vocab_size - 1);
      GFNLM_CHECK(offset_[l + 1] * std::size_t(num_queries) < (std::size_t(1) << 26),
                  "TabularPolicy: {} queries x {} prefixes is too many rows", num_queries,
                  offset_[l + 1]);
    }
    const std::size_t rows = offset_[max_len + 1] * std::size_t(num_queries);
    table_ = Tensor<float, 2>({rows, std::size_t(vocab_size)}, 0.0f);
    grad_ = Tensor<float, 2>({rows, std::size_t(vocab_size)}, 0.0f);
  }
  // parameters() hands out pointers into the table: copies would alias an optimiser's state.
  TabularPolicy(const TabularPolicy&) = delete;
  TabularPolicy& operator=(const TabularPolicy&) = delete;
  TabularPolicy(TabularPolicy&&) = default;
  TabularPolicy& operator=(TabularPolicy&&) = default;

  int vocab_size() const { return vocab_; }
  int32_t stop_token() const { return stop_; }
  int max_len() const { return max_len_; }
  int num_queries() const { return num_queries_; }
  // Prefixes (states) per query: sum_{l=0}^{max_len} (V-1)^l.
  std::size_t num_prefixes() const { return offset_[max_len_ + 1]; }

  // Table row of (query, prefix); prefix holds non-stop tokens, at most max_len of them.
  std::size_t row_index(int query, std::span<const int32_t> prefix) const {
    check_query(query);
    GFNLM_CHECK(prefix.size() <= std::size_t(max_len_),
                "TabularPolicy: prefix of length {} exceeds max_len {}", prefix.size(), max_len_);
    std::size_t code = 0;
    for (std::size_t t = 0; t < prefix.size(); ++t)
      code = code * (vocab_ - 1) + digit(prefix[t], t);
    return std::size_t(query) * num_prefixes() + offset_[prefix.size()] + code;
  }
  // The V logits of a state (writable: tests set targets or perturb entries through it).
  std::span<float> logits(int query, std::span<const int32_t> prefix) {
    return {&table_(row_index(query, prefix), 0), std::size_t(vocab_)};
  }
  std::span<const float> logits(int query, std::span<const int32_t> prefix) const {
    return {&table_(row_index(query, prefix), 0), std::size_t(vocab_)};
  }

  // Every logit ~ N(0, scale^2) (zero, the uniform policy, after construction).
  void randomize(Rng& rng, double scale) {
    for (auto& v : table_) v = static_cast<float>(scale * rng.normal());
  }

  // ---- rollouts (Policy concept) ----
  void start_rollout(std::span<const Query> row_queries) {
    live_.clear();
    for (Query q : row_queries) {
      check_query(q);
      live_.push_back({q, 0, 0, false});
    }
  }
  void draw(const LogitMask& mask, const DrawStep& step, std::span<int32_t> drawn,
            std::span<double> log_q) {
    const std::size_t n = live_.size();
    GFNLM_CHECK(step.live.size() == n && step.temperature.size() == n && step.uniform.size() == n &&
                    drawn.size() == n && log_q.size() == n,
                "TabularPolicy::draw: step and outputs must have {} rows", n);
    check_mask(mask);
    std::fill(drawn.begin(), drawn.end(), -1);
    select_live(step, mask);
    const int N = static_cast<int>(items_.size());
    uniforms_.resize(N), tokens_.resize(N), logq_.resize(N);
    for (int i = 0; i < N; ++i) uniforms_[i] = step.uniform[items_[i]];
    Cpu::sample_tokens(tokens_.data(), logq_.data(), table_.data(), N, vocab_, temps_.data(),
                       uniforms_.data(), row_mask(mask, draw_rows_.data()));
    for (int i = 0; i < N; ++i) drawn[items_[i]] = tokens_[i], log_q[items_[i]] = logq_[i];
  }
  // Decoding (DecodablePolicy): the k best next tokens of every live row, and beam reordering.
  void top_tokens(const LogitMask& mask, const DrawStep& step, int k, std::span<int32_t> tokens,
                  std::span<double> log_q, std::span<double> log_q_tempered) {
    const std::size_t n = live_.size(), nk = n * std::size_t(std::max(k, 0));
    GFNLM_CHECK(k >= 1 && k <= vocab_, "TabularPolicy::top_tokens: k = {} outside [1, {}]", k,
                vocab_);
    GFNLM_CHECK(step.live.size() == n && step.temperature.size() == n && tokens.size() == nk &&
                    log_q.size() == nk && log_q_tempered.size() == nk,
                "TabularPolicy::top_tokens: step and outputs must have {} rows of {}", n, k);
    check_mask(mask);
    select_live(step, mask);
    std::fill(tokens.begin(), tokens.end(), -1);
    std::fill(log_q.begin(), log_q.end(), neg_inf<double>);
    std::fill(log_q_tempered.begin(), log_q_tempered.end(), neg_inf<double>);
    const int N = static_cast<int>(items_.size());
    tokens_.resize(std::size_t(N) * k);
    logq_.resize(std::size_t(N) * k);
    logq_tempered_.resize(std::size_t(N) * k);
    Cpu::top_tokens(tokens_.data(), logq_.data(), logq_tempered_.data(), table_.data(), N, vocab_,
                    k, temps_.data(), row_mask(mask, draw_rows_.data()));
    for (int i = 0; i < N; ++i) {
      const std::size_t to = std::size_t(items_[i]) * k, from = std::size_t(i) * k;
      std::copy_n(tokens_.begin() + from, k, tokens.begin() + to);
      std::copy_n(logq_.begin() + from, k, log_q.begin() + to);
      std::copy_n(logq_tempered_.begin() + from, k, log_q_tempered.begin() + to);
    }
  }
  void reorder_rows(std::span<const int32_t> parents) {
    GFNLM_CHECK(parents.size() == live_.size(),
                "TabularPolicy::reorder_rows: {} parents for {} rows", parents.size(),
                live_.size());
    const auto old = live_;
    for (std::size_t r = 0; r < live_.size(); ++r) {
      GFNLM_CHECK(parents[r] >= 0 && std::size_t(parents[r]) < old.size(),
                  "TabularPolicy::reorder_rows: row {} names parent {} of {} rows", r, parents[r],
                  old.size());
      live_[r] = old[parents[r]];
    }
  }

  void advance(std::span<const int32_t> tokens) {
    GFNLM_CHECK(tokens.size() == live_.size(), "TabularPolicy::advance: {} tokens for {} rows",
                tokens.size(), live_.size());
    for (std::size_t r = 0; r < live_.size(); ++r) {
      auto& s = live_[r];
      if (tokens[r] < 0 || tokens[r] == stop_) {
        s.done = true;
        continue;
      }
      GFNLM_CHECK(s.length < max_len_,
                  "TabularPolicy::advance: row {} is at max_len {} and got "
                  "token {} instead of STOP",
                  r, max_len_, tokens[r]);
      s.code = s.code * (vocab_ - 1) + digit(tokens[r], std::size_t(s.length));
      ++s.length;
    }
  }
  void append_context(int row, std::span<const int32_t> tokens) {
    GFNLM_CHECK(tokens.empty(), "TabularPolicy takes no context tokens (row {} got {})", row,
                tokens.size());
  }

  // ---- teacher forcing (Policy concept) ----
  // log_pf / log_stop of states s_0 .. s_e of every row, masks applied (the CPU backend's fused
  // log-softmax over the table rows of the states, copied to a scratch block first so that
  // backward can scatter-add into table rows that several states share).
  void score(std::span<const Query> row_queries, const LogitMask& mask, TrajectoryBatch& batch) {
    const int rows = batch.rows(), len = batch.max_len();
    GFNLM_CHECK(row_queries.size() == std::size_t(rows),
                "TabularPolicy::score: {} queries for {} rows", row_queries.size(), rows);
    check_mask(mask);
    scored_.clear();
    idx_.clear();
    banned_.clear();
    for (int b = 0; b < rows; ++b) {
      const int q = row_queries[b], e = batch.length.at(b);
      check_query(q);
      GFNLM_CHECK(e >= 0 && e <= len && e <= max_len_,
                  "TabularPolicy::score: row {} has length {} (batch L = {}, max_len = {})", b, e,
                  len, max_len_);
      if (std::size_t(b) < batch.context.size())
        for (const auto& ins : batch.context[b])
          GFNLM_CHECK(ins.tokens.empty(), "TabularPolicy::score: row {} carries context tokens", b);
      std::size_t code = 0;
      for (int t = 0; t <= e; ++t) {
        const std::size_t row = std::size_t(q) * num_prefixes() + offset_[t] + code;
        const bool stops_here = t < e || batch.stopped[b];
        scored_.push_back({b, t, row, t < e, stops_here});
        idx_.push_back(t < e ? batch.actions(b, t) : -1);
        idx_.push_back(stop_);
        banned_.push_back(mask.bans_stop(t, t > 0 ? batch.actions(b, t - 1) : -1) ? 1 : 0);
        if (t < e) code = code * (vocab_ - 1) + digit(batch.actions(b, t), std::size_t(t), b);
      }
    }
    const int N = static_cast<int>(scored_.size());
    block_.resize(std::size_t(N) * vocab_);
    for (int i = 0; i < N; ++i)
      std::copy_n(&table_(scored_[i].table_row, 0), vocab_,
                  block_.data() + std::size_t(i) * vocab_);
    logp_.resize(std::size_t(N) * 2);
    lse_.resize(N);
    scored_mask_ = row_mask(mask, nullptr);
    Cpu::logprob_forward(logp_.data(), lse_.data(), block_.data(), idx_.data(), N, vocab_, 2,
                         scored_mask_);
    for (int i = 0; i < N; ++i) {
      const auto& s = scored_[i];
      if (s.has_action) batch.log_pf(s.row, s.t) = logp_[2 * i];
      batch.log_stop(s.row, s.t) = logp_[2 * i + 1];
    }
  }
  // Accumulates scale x d loss / d table from d loss / d log q of the last score().
  void backward(const TrajectoryGrad& grad, double scale) {
    const int N = static_cast<int>(scored_.size());
    GFNLM_CHECK(N > 0, "TabularPolicy::backward called before score");
    std::vector<float> dlogp(std::size_t(N) * 2, 0.0f);
    for (int i = 0; i < N; ++i) {
      const auto& s = scored_[i];
      GFNLM_CHECK(std::size_t(s.row) < grad.log_stop.shape()[0] &&
                      std::size_t(s.t) < grad.log_stop.shape()[1],
                  "TabularPolicy::backward: the gradient is smaller than the last score()");
      if (s.has_action) dlogp[2 * i] = static_cast<float>(scale * grad.log_pf(s.row, s.t));
      if (s.stop_counts) dlogp[2 * i + 1] = static_cast<float>(scale * grad.log_stop(s.row, s.t));
    }
    Cpu::logprob_backward(block_.data(), dlogp.data(), block_.data(), lse_.data(), idx_.data(), N,
                          vocab_, 2, /*accumulate=*/false, scored_mask_);
    for (int i = 0; i < N; ++i) {
      const float* d = block_.data() + std::size_t(i) * vocab_;
      for (int v = 0; v < vocab_; ++v) grad_(scored_[i].table_row, v) += d[v];
    }
    scored_.clear();  // block_ now holds gradients, not logits
  }

  ParameterList<float> parameters() {
    return {ParameterView<float>{"tabular.logits", table_.data(), grad_.data(), table_.size(),
                                 /*weight_decay=*/false}};
  }

  // ---- exact probabilities, for tests ----
  // log q(z STOP) when stopped, log q(z) (no STOP factor) when not; the latter only at max_len.
  double log_prob(int query, std::span<const int32_t> actions, bool stopped) const {
    GFNLM_CHECK(stopped || actions.size() == std::size_t(max_len_),
                "TabularPolicy::log_prob: an unstopped sequence must have max_len {} tokens, "
                "got {}",
                max_len_, actions.size());
    double total = 0;
    for (std::size_t t = 0; t <= actions.size(); ++t) {
      if (t == actions.size() && !stopped) break;
      const auto row = logits(query, actions.first(t));
      const int32_t a = t < actions.size() ? actions[t] : stop_;
      total += log_softmax_at(row, a);
    }
    return total;
  }
  // Probability of z as a finished sequence: STOP is forced at max_len.
  double log_prob_terminal(int query, std::span<const int32_t> actions) const {
    return log_prob(query, actions, actions.size() < std::size_t(max_len_));
  }
  // All sequences of non-stop tokens of length 0..max_len, in table order.
  std::vector<std::vector<int32_t>> enumerate_sequences() const {
    std::vector<std::vector<int32_t>> out{{}};
    for (std::size_t begin = 0; begin < out.size(); ++begin) {
      if (out[begin].size() == std::size_t(max_len_)) continue;
      for (int d = 0; d < vocab_ - 1; ++d) {
        auto next = out[begin];
        next.push_back(token(d));
        out.push_back(std::move(next));
      }
    }
    return out;
  }
  // log_prob_terminal of every sequence of enumerate_sequences(), in one pass over the tree.
  std::vector<double> terminal_log_probs(int query) const {
    const auto seqs = enumerate_sequences();
    std::vector<double> prefix(seqs.size(), 0.0), out(seqs.size());
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      const auto row = logits(query, seqs[i]);
      const std::size_t n = seqs[i].size();
      out[i] = prefix[i] + (n < std::size_t(max_len_) ? log_softmax_at(row, stop_) : 0.0);
      if (n == std::size_t(max_len_)) continue;
      // Children of a length-n prefix follow in digit order: locate the first one.
      const std::size_t first =
          offset_[n + 1] +
          (row_index(query, seqs[i]) - std::size_t(query) * num_prefixes() - offset_[n]) *
              std::size_t(vocab_ - 1);
      for (int d = 0; d < vocab_ - 1; ++d)
        prefix[first + d] = prefix[i] + log_softmax_at(row, token(d));
    }
    return out;
  }

 private:
  struct Live {
    int query;
    int length;
    std::size_t code;
    bool done;
  };
  struct Scored {
    int row, t;
    std::size_t table_row;
    bool has_action;   // t < length: log_pf(row, t) is read
    bool stop_counts;  // log_stop(row, t) enters the loss (not the end of an unstopped row)
  };

  // The live rows of a step as items: their table rows, temperatures and STOP bans.
  void select_live(const DrawStep& step, const LogitMask& mask) {
    items_.clear(), draw_rows_.clear(), temps_.clear(), banned_.clear();
    for (std::size_t r = 0; r < live_.size(); ++r) {
      if (!step.live[r]) continue;
      GFNLM_CHECK(!live_[r].done && live_[r].length == step.length,
                  "TabularPolicy: row {} is finished or not at step {}", r, step.length);
      items_.push_back(static_cast<int>(r));
      draw_rows_.push_back(static_cast<int32_t>(table_row(live_[r])));
      temps_.push_back(step.temperature[r]);
      banned_.push_back(step.bans_stop(mask, r) ? 1 : 0);
    }
  }

  std::size_t table_row(const Live& s) const {
    return std::size_t(s.query) * num_prefixes() + offset_[s.length] + s.code;
  }
  void check_mask(const LogitMask& mask) const {
    GFNLM_CHECK(mask.vocab_size() == vocab_ && mask.stop_token() == stop_,
                "TabularPolicy: the mask is for vocabulary {} / stop {}, the policy has {} / {}",
                mask.vocab_size(), mask.stop_token(), vocab_, stop_);
  }
  // The RowMask of the masks (stop bans from banned_, one per item).
  RowMask row_mask(const LogitMask& mask, const int32_t* rows) const {
    return {rows, mask.all_allowed() ? nullptr : mask.allowed_bytes().data(), banned_.data(),
            stop_};
  }

  void check_query(int q) const {
    GFNLM_CHECK(q >= 0 && q < num_queries_, "TabularPolicy: query {} outside [0, {})", q,
                num_queries_);
  }
  int digit(int32_t tok, std::size_t pos, int row = -1) const {
    GFNLM_CHECK(tok >= 0 && tok < vocab_ && tok != stop_,
                "TabularPolicy: token {} at position {} (row {}) is not an action in [0, {}) "
                "without the stop token {}",
                tok, pos, row, vocab_, stop_);
    return tok < stop_ ? tok : tok - 1;
  }
  int32_t token(int d) const { return d < stop_ ? d : d + 1; }
  // In double, for the exact probabilities above (tests), not the kernels' float.
  static double log_softmax_at(std::span<const float> row, int32_t a) {
    const std::vector<double> x(row.begin(), row.end());
    return x[a] - logsumexp<double>(x);
  }

  int num_queries_, vocab_;
  int32_t stop_;
  int max_len_;
  std::vector<std::size_t> offset_;
  Tensor<float, 2> table_, grad_;
  std::vector<Live> live_;
  // draw() scratch.
  std::vector<int> items_;
  std::vector<int32_t> draw_rows_, tokens_;
  std::vector<double> temps_, uniforms_, logq_, logq_tempered_;
  // score() -> backward() state: the states scored, their indices, stop bans and logits block.
  std::vector<Scored> scored_;
  std::vector<int32_t> idx_;
  std::vector<uint8_t> banned_;
  std::vector<float> block_, logp_, lse_;
  RowMask scored_mask_;
};

static_assert(DecodablePolicy<TabularPolicy>);

}  // namespace gfnlm
