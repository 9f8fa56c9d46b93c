#pragma once
// The LM-likelihood reward of SPEC section 3: log R(Z STOP) = log p_base(Z, tool output, Y | D, X)
// with the frozen base model (the same Transformer with adapters off, or a separate copy), D an
// optional fixed context (worked examples) and Y the terminal text (the "." of a continuation, or
// ". The answer is -6." of a rationale). Every prefix reward of every row comes from batched
// teacher-forced forwards: one pass when Y is one token, one extra row per prefix otherwise; with
// final_only, one row per trajectory and only the complete sequence is scored.
//
// The rows are the one LM sequence builder's (policies/lm_sequence.hpp: D, X, then the actions
// with the tool's context in place), and the log-probabilities are gathered on the model's backend
// by its fused log-softmax (Backend::logprob_forward with a RowMask naming each item's logits row),
// so only the gathered [items] log-probs reach the host, never a logits row.
//
// Scores with the model's forward(), which overwrites the activations kept for backward: call it
// before the policy's score()/backward() of the same step (the Sampler does).
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/backend/row_mask.hpp>
#include <gfnlm/backend/staging.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_query.hpp>
#include <gfnlm/policies/lm_sequence.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace gfnlm {

struct LmLikelihoodConfig {
  std::vector<int32_t> context;     // D: tokens before the query's prompt (e.g. demonstrations)
  std::vector<int32_t> end_tokens;  // scored after Z and before the query's suffix (e.g. ".")
  int max_rows_per_pass = 256;      // memory bound of the per-prefix and final-only forwards
  // Only the complete sequence is scored: out[length] = log p(D X Z context end suffix), every
  // shorter prefix gets -inf, and each trajectory costs one forward row whatever the terminal's
  // length. Enough for objectives that read log R at the end state only (trajectory balance,
  // VarGrad); the stop-flow objectives (SubTB, DB) need every prefix.
  bool final_only = false;
  // log R = log p(Z | D X) with no terminal text: the sentence-continuation reward, whose end the
  // policy's mask places (STOP only right after a sentence-end token, SamplerConfig::
  // stop_after_tokens) instead of a scored end token. Without it an empty terminal is an error,
  // as a forgotten end token would silently drop the term that makes STOP meaningful.
  bool no_terminal = false;
};

// Model: Transformer or LlamaTransformer (float), as for BasicLmPolicy.
template <class Model, PromptedQuery Q = LmQuery>
class BasicLmLikelihoodReward {
 public:
  using Backend = typename Model::backend_type;
  using Query = Q;

  BasicLmLikelihoodReward(Model& base, LmLikelihoodConfig config)
      : model_(&base), config_(std::move(config)) {}

  const LmLikelihoodConfig& config() const { return config_; }

  // BatchPrefixReward: out[t] = log p(terminal and the sequence up to state t | D X) (final_only:
  // only out[length], the rest -inf).
  void prefix_log_rewards_batch(std::span<const RewardRequest<Q>> rows) {
    AdaptersOff off(*model_);
    built_.resize(rows.size());
    std::size_t needed = 0;
    bool single = true;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      build(rows[i], built_[i]);
      needed = std::max(needed, built_[i].terminal.size());
      single = single && built_[i].terminal.size() <= 1;
    }
    if (rows.empty()) return;
    GFNLM_CHECK(needed > 0 || config_.no_terminal,
                "LmLikelihoodReward: no terminal tokens (set end_tokens or the query's suffix, "
                "or no_terminal for log p(Z | D X) alone)");
    if (config_.final_only)
      score_rows(rows, /*final_only=*/true);
    else if (single)
      score_single_terminal(rows);
    else
      score_rows(rows, /*final_only=*/false);
  }

  // Reward (plain form): log R of the whole sequence, no tool context.
  double operator()(const Q& q, std::span<const int32_t> actions) {
    return (*this)(q, actions, {});
  }

  // ContextReward: log R of the whole sequence with the tool's context in place.
  double operator()(const Q& q, std::span<const int32_t> actions,
                    std::span<const ContextInsert> context) {
    std::vector<double> out(actions.size() + 1);
    const RewardRequest<Q> request{&q, actions, context, out};
    prefix_log_rewards_batch(std::span<const RewardRequest<Q>>(&request, 1));
    return out.back();
  }

 private:
  struct Row {
    LmSequence seq;                 // D X, then actions with tool context in place; state ends
    int start = 0;                  // |D X|: the first scored token's index in seq
    std::vector<int32_t> terminal;  // end tokens then the query's suffix
  };

  struct AdaptersOff {
    explicit AdaptersOff(Model& m) : model(m), was(m.adapters_enabled()) {
      model.set_adapters_enabled(false);
    }
    ~AdaptersOff() { model.set_adapters_enabled(was); }
    AdaptersOff(const AdaptersOff&) = delete;
    AdaptersOff& operator=(const AdaptersOff&) = delete;
    Model& model;
    bool was;
  };

  template <class T>
  using Buffer = typename Backend::template Buffer<T>;

  void build(const RewardRequest<Q>& r, Row& row) const {
    GFNLM_CHECK(r.out.size() == r.actions.size() + 1,
                "LmLikelihoodReward: out has {} entries for {} actions", r.out.size(),
                r.actions.size());
    const std::span<const int32_t> prompt(r.query->prompt.data(), r.query->prompt.size());
    build_lm_sequence(config_.context, prompt, r.actions, r.context, row.seq);
    row.start = static_cast<int>(config_.context.size() + prompt.size());
    row.terminal = config_.end_tokens;
    if constexpr (requires { r.query->suffix; })
      row.terminal.insert(row.terminal.end(), r.query->suffix.begin(), r.query->suffix.end());
  }

  // Right-pads the sequences into one batch and runs the base over it; returns T.
  int run(const std::vector<const std::vector<int32_t>*>& seqs) {
    const int T = pad_lm_batch(seqs, model_->config().max_seq_len, tokens_);
    model_->forward(tokens_.data(), static_cast<int>(seqs.size()), T);
    return T;
  }

  // log p(idx_[n, k]) at logits row item_rows_[n] of the last forward for every item, K per
  // item (negative index: none, 0), gathered on the model's backend into logp_ on the host.
  void gather(int K) {
    const int N = static_cast<int>(item_rows_.size());
    logp_.resize(std::size_t(N) * K);
    if (N == 0) return;
    const int V = model_->config().vocab_size;
    const RowMask mask{staging::upload<Backend>(rows_dev_, item_rows_)};
    const int32_t* idx = staging::upload<Backend>(idx_dev_, idx_);
    if constexpr (Backend::host_memory) {
      Backend::logprob_forward(logp_.data(), staging::reserve<Backend>(lse_dev_, N),
                               model_->logits(), idx, N, V, K, mask);
    } else {
      float* logp = staging::reserve<Backend>(logp_dev_, std::size_t(N) * K);
      Backend::logprob_forward(logp, staging::reserve<Backend>(lse_dev_, N), model_->logits(), idx,
                               N, V, K, mask);
      Backend::to_host(logp_.data(), static_cast<const float*>(logp), std::size_t(N) * K);
    }
  }

  // One forward over every row. Item = a position of a row from the last token of D X to its
  // end, with two indices: the next token of the row (none at the end) and, at a state's last
  // position, the terminal. Token log-probs accumulate along the row; the terminal's is added at
  // every state.
  void score_single_terminal(std::span<const RewardRequest<Q>> rows) {
    std::vector<const std::vector<int32_t>*> seqs;
    for (const auto& r : built_) seqs.push_back(&r.seq.tokens);
    const int T = run(seqs);
    item_rows_.clear(), idx_.clear(), first_item_.clear();
    for (std::size_t b = 0; b < built_.size(); ++b) {
      const Row& row = built_[b];
      const auto& s = row.seq.tokens;
      const int last = row.seq.state_end.back();
      first_item_.push_back(static_cast<int>(item_rows_.size()));
      for (int pos = row.start - 1; pos <= last; ++pos) {
        item_rows_.push_back(static_cast<int32_t>(b * T + pos));
        idx_.push_back(pos < last ? s[pos + 1] : -1);
        idx_.push_back(-1);
      }
      const int first = first_item_.back() - (row.start - 1);  // item of position pos: first + pos
      if (!row.terminal.empty())  // else no terminal: its index stays -1, log-prob 0
        for (const int end : row.seq.state_end)
          idx_[2 * std::size_t(first + end) + 1] = row.terminal[0];
    }
    gather(2);
    for (std::size_t b = 0; b < built_.size(); ++b) {
      const Row& row = built_[b];
      const int first = first_item_[b] - (row.start - 1);
      double cumulative = 0;  // log p of the tokens after D X up to the current position
      int pos = row.start - 1;
      for (std::size_t t = 0; t < row.seq.state_end.size(); ++t) {
        for (; pos < row.seq.state_end[t]; ++pos) cumulative += logp_[2 * std::size_t(first + pos)];
        rows[b].out[t] = cumulative + logp_[2 * std::size_t(first + pos) + 1];
      }
    }
  }

  // One forward row per (row, state) (final_only: per row, its last state): the sequence up to
  // the state, then the terminal tokens, scored after D X; in chunks of max_rows_per_pass.
  void score_rows(std::span<const RewardRequest<Q>> rows, bool final_only) {
    struct Item {
      std::size_t row, t;
    };
    std::vector<Item> items;
    for (std::size_t b = 0; b < built_.size(); ++b) {
      const std::size_t states = built_[b].seq.state_end.size();
      if (final_only) {
        std::fill(rows[b].out.begin(), rows[b].out.end(), -std::numeric_limits<double>::infinity());
        items.push_back({b, states - 1});
      } else {
        for (std::size_t t = 0; t < states; ++t) items.push_back({b, t});
      }
    }
    const std::size_t chunk = std::max(1, config_.max_rows_per_pass);
    std::vector<std::vector<int32_t>> seqs;
    std::vector<const std::vector<int32_t>*> ptrs;
    std::vector<int> first;
    for (std::size_t begin = 0; begin < items.size(); begin += chunk) {
      const std::size_t end = std::min(items.size(), begin + chunk);
      seqs.resize(end - begin);
      ptrs.clear();
      for (std::size_t i = begin; i < end; ++i) {
        const Row& row = built_[items[i].row];
        auto& s = seqs[i - begin];
        const auto& tokens = row.seq.tokens;
        s.assign(tokens.begin(), tokens.begin() + row.seq.state_end[items[i].t] + 1);
        s.insert(s.end(), row.terminal.begin(), row.terminal.end());
        ptrs.push_back(&s);
      }
      const int T = run(ptrs);
      item_rows_.clear(), idx_.clear(), first.clear();
      for (std::size_t i = begin; i < end; ++i) {
        const auto& s = seqs[i - begin];
        first.push_back(static_cast<int>(item_rows_.size()));
        for (int pos = built_[items[i].row].start - 1; pos + 1 < static_cast<int>(s.size());
             ++pos) {
          item_rows_.push_back(static_cast<int32_t>((i - begin) * T + pos));
          idx_.push_back(s[pos + 1]);
        }
      }
      first.push_back(static_cast<int>(item_rows_.size()));
      gather(1);
      for (std::size_t i = begin; i < end; ++i) {
        double total = 0;
        for (int n = first[i - begin]; n < first[i - begin + 1]; ++n) total += logp_[n];
        rows[items[i].row].out[items[i].t] = total;
      }
    }
  }

  Model* model_;
  LmLikelihoodConfig config_;
  std::vector<Row> built_;
  std::vector<int32_t> tokens_, item_rows_, idx_;
  std::vector<int> first_item_;
  std::vector<float> logp_;
  // Backend copies of the per-call arrays (unused on host backends, which read the vectors above)
  // and the kernel's outputs.
  Buffer<int32_t> rows_dev_, idx_dev_;
  Buffer<float> logp_dev_, lse_dev_;
};

template <class Bk = Cpu, PromptedQuery Q = LmQuery>
using LmLikelihoodReward = BasicLmLikelihoodReward<Transformer<Bk, float>, Q>;

}  // namespace gfnlm
