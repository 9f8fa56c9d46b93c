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
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <array>
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
  void next_logits(std::span<float> logits) const {
    GFNLM_CHECK(logits.size() == live_.size() * std::size_t(vocab_),
                "TabularPolicy::next_logits: buffer holds {} floats, need {} rows x {}",
                logits.size(), live_.size(), vocab_);
    for (std::size_t r = 0; r < live_.size(); ++r) {
      if (live_[r].done) continue;
      const std::size_t row =
          std::size_t(live_[r].query) * num_prefixes() + offset_[live_[r].length] + live_[r].code;
      for (int v = 0; v < vocab_; ++v) logits[r * vocab_ + v] = table_(row, v);
    }
  }
  void advance(std::span<const int32_t> tokens) {
    GFNLM_CHECK(tokens.size() == live_.size(), "TabularPolicy::advance: {} tokens for {} rows",
                tokens.size(), live_.size());
    for (std::size_t r = 0; r < live_.size(); ++r) {
      auto& s = live_[r];
      if (tokens[r] < 0 || s.done) {
        s.done = true;
        continue;
      }
      if (tokens[r] == stop_) {
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
  // Logits of states s_0 .. s_e of every row into state_logits [B, L+1, V] (zero past a row).
  void score(std::span<const Query> row_queries, const TrajectoryBatch& batch,
             Tensor<float, 3>& state_logits) {
    const int rows = batch.rows(), len = batch.max_len();
    GFNLM_CHECK(row_queries.size() == std::size_t(rows),
                "TabularPolicy::score: {} queries for {} rows", row_queries.size(), rows);
    state_logits =
        Tensor<float, 3>({std::size_t(rows), std::size_t(len + 1), std::size_t(vocab_)}, 0.0f);
    scored_.clear();
    scored_shape_ = state_logits.shape();
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
        for (int v = 0; v < vocab_; ++v) state_logits(b, t, v) = table_(row, v);
        scored_.push_back({b, t, row});
        if (t < e) code = code * (vocab_ - 1) + digit(batch.actions(b, t), std::size_t(t), b);
      }
    }
  }
  // Accumulates d loss / d table from d loss / d logits of the last score().
  void backward(const Tensor<float, 3>& state_dlogits) {
    GFNLM_CHECK(state_dlogits.shape() == scored_shape_,
                "TabularPolicy::backward: dlogits shape does not match the last score()");
    for (const auto& s : scored_)
      for (int v = 0; v < vocab_; ++v) grad_(s.table_row, v) += state_dlogits(s.row, s.t, v);
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
  };

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
  static double log_softmax_at(std::span<const float> row, int32_t a) {
    double hi = row[0];
    for (float v : row) hi = std::max(hi, double(v));
    double s = 0;
    for (float v : row) s += std::exp(double(v) - hi);
    return double(row[a]) - hi - std::log(s);
  }

  int num_queries_, vocab_;
  int32_t stop_;
  int max_len_;
  std::vector<std::size_t> offset_;
  Tensor<float, 2> table_, grad_;
  std::vector<Live> live_;
  std::vector<Scored> scored_;
  std::array<std::size_t, 3> scored_shape_{};
};

static_assert(Policy<TabularPolicy>);

}  // namespace gfnlm
