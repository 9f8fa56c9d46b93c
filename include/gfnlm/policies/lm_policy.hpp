#pragma once
// LmPolicy: a Transformer (with LoRA adapters) as a gfnlm::Policy. Rollouts decode with a KV
// cache, so a step costs one position per live row, and draw each row's token on the model's
// backend from the decoded logits (the masked, tempered draw of backend/*/logprob); scoring
// teacher-forces whole rows (prompt, actions and tool context interleaved, policies/
// lm_sequence.hpp) in one batched forward and gathers log q(a_t | s_t) and log q(STOP | s_t) at
// every state with the backend's fused masked log-softmax; backward writes d logits into the
// model's own workspace with the same kernel's backward. Only tokens, [states x 2] log-probs and
// their gradients move between host and device (model/optimizer.hpp's `Optimizer` tells the
// Sampler how to step parameters() where they live).
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/backend/row_mask.hpp>
#include <gfnlm/backend/staging.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/optimizer.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_query.hpp>
#include <gfnlm/policies/lm_sequence.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace gfnlm {

// Model: Transformer (GPT-2 blocks) or LlamaTransformer, float; anything with their forward /
// backward / decode / parameters API, a `Cache` type and a `backend_type`.
template <class Model, PromptedQuery Q = LmQuery>
class BasicLmPolicy {
 public:
  using Query = Q;
  using Backend = typename Model::backend_type;
  // What the Sampler zeroes, clips, steps and checkpoints parameters() with (gfn/policy.hpp).
  using Optimizer = BackendOptimizer<Backend>;

  // The policy borrows the model: a reward may score with the same object, adapters off.
  // adapters = false: the policy is the base model itself (its LoRA adapters and trainable token
  // rows switched off for every decode and score), for the decoding baselines over the base.
  BasicLmPolicy(Model& model, int32_t stop_token, bool adapters = true)
      : model_(&model), stop_(stop_token), adapters_(adapters) {
    GFNLM_CHECK(stop_token >= 0 && stop_token < vocab_size(),
                "LmPolicy: stop token {} is outside the vocabulary [0, {})", stop_token,
                vocab_size());
  }

  int vocab_size() const { return model_->config().vocab_size; }
  int32_t stop_token() const { return stop_; }
  Model& model() { return *model_; }

  // ---- rollouts (KV cache) --------------------------------------------------------------------

  void start_rollout(std::span<const Query> rows) {
    const int n = static_cast<int>(rows.size());
    if (!cache_ || cache_->rows() < n) cache_.emplace(model_->make_cache(std::max(n, 1)));
    cache_->reset();
    rows_ = n;
    logit_row_.assign(n, -1);
    pending_.clear();
    // A row whose prompt equals the previous distinct one's (the Sampler lays out a query's rows
    // consecutively) does not decode it again: it copies that row's cache and reads its logits.
    std::vector<int> source(n, -1);
    int leader = -1;
    for (int r = 0; r < n; ++r) {
      GFNLM_CHECK(rows[r].prompt.size() > 0,
                  "LmPolicy: query of row {} has an empty prompt (the first state needs a token)",
                  r);
      const auto& p = rows[r].prompt;
      const auto& q = leader >= 0 ? rows[leader].prompt : p;
      if (leader >= 0 && p.size() == q.size() &&
          std::equal(p.data(), p.data() + p.size(), q.data())) {
        source[r] = leader;
        continue;
      }
      leader = r;
      for (std::size_t i = 0; i < rows[r].prompt.size(); ++i)
        pending_.push_back({r, rows[r].prompt[i]});
    }
    flush();
    for (int r = 0; r < n; ++r) {
      if (source[r] < 0) continue;
      cache_->copy_row(source[r], r);
      logit_row_[r] = logit_row_[source[r]];
    }
  }

  // Draws every live row's next token from the last decoded logits, on the model's backend.
  void draw(const LogitMask& mask, const DrawStep& step, std::span<int32_t> drawn,
            std::span<double> log_q) {
    const auto n = static_cast<std::size_t>(rows_);
    GFNLM_CHECK(step.live.size() == n && step.temperature.size() == n && step.uniform.size() == n &&
                    drawn.size() == n && log_q.size() == n,
                "LmPolicy::draw: step and outputs must have {} rows", n);
    std::fill(drawn.begin(), drawn.end(), -1);
    select_live(mask, step);
    const int N = static_cast<int>(draw_items_.size());
    if (N == 0) return;
    uniforms_.resize(N);
    for (int i = 0; i < N; ++i) uniforms_[i] = step.uniform[draw_items_[i]];
    tokens_drawn_.resize(N);
    logq_drawn_.resize(N);
    const RowMask rm = device_mask(mask, draw_rows_, draw_rows_dev_, banned_, draw_banned_dev_);
    Backend::sample_tokens(staging::reserve<Backend>(tokens_drawn_dev_, N),
                           staging::reserve<Backend>(logq_dev_, N), decoded_, N, vocab_size(),
                           staging::upload<Backend>(temps_dev_, temps_),
                           staging::upload<Backend>(uniforms_dev_, uniforms_), rm);
    staging::download<Backend>(tokens_drawn_.data(), tokens_drawn_dev_, N);
    staging::download<Backend>(logq_drawn_.data(), logq_dev_, N);
    for (int i = 0; i < N; ++i) {
      drawn[draw_items_[i]] = tokens_drawn_[i];
      log_q[draw_items_[i]] = logq_drawn_[i];
    }
  }

  // Decoding (DecodablePolicy), on backends with a top_tokens kernel (backend/cpu/top_tokens.hpp;
  // the CUDA backend has none yet, so LmPolicy<Cuda> does not model DecodablePolicy).
  void top_tokens(const LogitMask& mask, const DrawStep& step, int k, std::span<int32_t> tokens,
                  std::span<double> log_q, std::span<double> log_q_tempered) requires requires {
    &Backend::template top_tokens<float>;
  }
  {
    const auto n = static_cast<std::size_t>(rows_), nk = n * static_cast<std::size_t>(k);
    GFNLM_CHECK(k >= 1 && k <= vocab_size(), "LmPolicy::top_tokens: k = {} outside [1, {}]", k,
                vocab_size());
    GFNLM_CHECK(step.live.size() == n && step.temperature.size() == n && tokens.size() == nk &&
                    log_q.size() == nk && log_q_tempered.size() == nk,
                "LmPolicy::top_tokens: step and outputs must have {} rows of {}", n, k);
    select_live(mask, step);
    std::fill(tokens.begin(), tokens.end(), -1);
    std::fill(log_q.begin(), log_q.end(), -std::numeric_limits<double>::infinity());
    std::fill(log_q_tempered.begin(), log_q_tempered.end(),
              -std::numeric_limits<double>::infinity());
    const int N = static_cast<int>(draw_items_.size());
    if (N == 0) return;
    const std::size_t Nk = static_cast<std::size_t>(N) * k;
    top_tokens_.resize(Nk), top_logq_.resize(Nk), top_logq_tempered_.resize(Nk);
    const RowMask rm = device_mask(mask, draw_rows_, draw_rows_dev_, banned_, draw_banned_dev_);
    Backend::top_tokens(staging::reserve<Backend>(top_tokens_dev_, Nk),
                        staging::reserve<Backend>(top_logq_dev_, Nk),
                        staging::reserve<Backend>(top_logq_tempered_dev_, Nk), decoded_, N,
                        vocab_size(), k, staging::upload<Backend>(temps_dev_, temps_), rm);
    staging::download<Backend>(top_tokens_.data(), top_tokens_dev_, Nk);
    staging::download<Backend>(top_logq_.data(), top_logq_dev_, Nk);
    staging::download<Backend>(top_logq_tempered_.data(), top_logq_tempered_dev_, Nk);
    for (int i = 0; i < N; ++i) {
      const std::size_t to = static_cast<std::size_t>(draw_items_[i]) * k,
                        from = static_cast<std::size_t>(i) * k;
      std::copy_n(top_tokens_.begin() + from, k, tokens.begin() + to);
      std::copy_n(top_logq_.begin() + from, k, log_q.begin() + to);
      std::copy_n(top_logq_tempered_.begin() + from, k, log_q_tempered.begin() + to);
    }
  }

  void reorder_rows(std::span<const int32_t> parents) {
    GFNLM_CHECK(static_cast<int>(parents.size()) == rows_,
                "LmPolicy::reorder_rows: {} parents for {} rows", parents.size(), rows_);
    flush();
    std::vector<int32_t> sources(cache_->rows());
    for (int r = 0; r < cache_->rows(); ++r) sources[r] = r < rows_ ? parents[r] : r;
    cache_->gather_rows(sources);  // validates every parent
    const auto old = logit_row_;
    for (int r = 0; r < rows_; ++r) logit_row_[r] = old[parents[r]];
  }

  void advance(std::span<const int32_t> tokens) {
    GFNLM_CHECK(static_cast<int>(tokens.size()) == rows_, "advance: {} tokens for {} rows",
                tokens.size(), rows_);
    for (int r = 0; r < rows_; ++r)
      if (tokens[r] >= 0) pending_.push_back({r, tokens[r]});
    // Decoding waits for the next draw, so tool context appended after this action joins the
    // same batched call.
  }

  void append_context(int row, std::span<const int32_t> tokens) {
    GFNLM_CHECK(row >= 0 && row < rows_, "append_context: row {} of {}", row, rows_);
    for (int32_t t : tokens) pending_.push_back({row, t});
  }

  // ---- teacher forcing ------------------------------------------------------------------------

  void score(std::span<const Query> row_queries, const LogitMask& mask, TrajectoryBatch& batch) {
    const int B = batch.rows(), V = vocab_size();
    GFNLM_CHECK(static_cast<int>(row_queries.size()) == B, "score: {} queries for {} rows",
                row_queries.size(), B);
    GFNLM_CHECK(mask.vocab_size() == V && mask.stop_token() == stop_,
                "LmPolicy::score: the mask is for vocabulary {} / stop {}, the policy has {} / {}",
                mask.vocab_size(), mask.stop_token(), V, stop_);
    seqs_.resize(B);
    std::vector<const std::vector<int32_t>*> rows(B);
    for (int b = 0; b < B; ++b) {
      build_row(row_queries[b], batch, b, seqs_[b]);
      rows[b] = &seqs_[b].tokens;
    }
    const int T = pad_lm_batch(rows, model_->config().max_seq_len, tokens_);
    model_->set_adapters_enabled(adapters_);
    model_->forward(tokens_.data(), B, T);
    // One item per state: its logits row, its action (or none) and STOP, the min-length ban.
    states_.clear(), state_rows_.clear(), idx_.clear(), state_banned_.clear();
    for (int b = 0; b < B; ++b) {
      const int e = batch.length[b];
      for (int t = 0; t <= e; ++t) {
        states_.push_back({b, t, t < e, t < e || batch.stopped[b]});
        state_rows_.push_back(b * T + seqs_[b].state_end[t]);
        idx_.push_back(t < e ? batch.actions(b, t) : -1);
        idx_.push_back(stop_);
        state_banned_.push_back(mask.bans_stop(t, t > 0 ? batch.actions(b, t - 1) : -1) ? 1 : 0);
      }
    }
    const int N = static_cast<int>(states_.size());
    scored_mask_ =
        device_mask(mask, state_rows_, state_rows_dev_, state_banned_, state_banned_dev_);
    idx_ptr_ = staging::upload<Backend>(idx_dev_, idx_);
    logp_.resize(std::size_t(N) * 2);
    Backend::logprob_forward(staging::reserve<Backend>(logp_dev_, 2 * N),
                             staging::reserve<Backend>(lse_dev_, N), model_->logits(), idx_ptr_, N,
                             V, 2, scored_mask_);
    staging::download<Backend>(logp_.data(), logp_dev_, 2 * N);
    for (int i = 0; i < N; ++i) {
      const auto& s = states_[i];
      if (s.has_action) batch.log_pf(s.row, s.t) = logp_[2 * i];
      batch.log_stop(s.row, s.t) = logp_[2 * i + 1];
    }
    B_ = B, T_ = T;
  }

  void backward(const TrajectoryGrad& grad, double scale) {
    GFNLM_CHECK(B_ > 0, "LmPolicy::backward called before score");
    const int N = static_cast<int>(states_.size()), V = vocab_size();
    dlogp_.assign(std::size_t(N) * 2, 0.0f);
    for (int i = 0; i < N; ++i) {
      const auto& s = states_[i];
      GFNLM_CHECK(std::size_t(s.row) < grad.log_stop.shape()[0] &&
                      std::size_t(s.t) < grad.log_stop.shape()[1],
                  "LmPolicy::backward: the gradient is smaller than the last score()");
      if (s.has_action) dlogp_[2 * i] = static_cast<float>(scale * grad.log_pf(s.row, s.t));
      if (s.stop_counts) dlogp_[2 * i + 1] = static_cast<float>(scale * grad.log_stop(s.row, s.t));
    }
    float* dlogits = model_->dlogits_workspace();
    Backend::fill(dlogits, static_cast<std::size_t>(B_) * T_ * V, 0.0f);
    Backend::logprob_backward(dlogits, staging::upload<Backend>(dlogp_dev_, dlogp_),
                              model_->logits(), Backend::data(lse_dev_), idx_ptr_, N, V, 2,
                              /*accumulate=*/false, scored_mask_);
    model_->backward(dlogits);
  }

  ParameterList<float> parameters() { return model_->parameters(); }

  // The teacher-forced tokens of row b of a batch (prompt, then actions with tool context in
  // place) and the position whose logits give each state s_0 .. s_length.
  static void build_row(const Query& q, const TrajectoryBatch& batch, int b, LmSequence& out) {
    const std::span<const int32_t> prompt(q.prompt.data(), q.prompt.size());
    build_lm_sequence({}, prompt, {&batch.actions(b, 0), std::size_t(batch.length[b])},
                      batch.context[b], out);
  }

 private:
  struct State {
    int row, t;
    bool has_action;   // t < length: log_pf(row, t) is read
    bool stop_counts;  // log_stop(row, t) enters the loss (not the end of an unstopped row)
  };
  template <class T>
  using Buffer = typename Backend::template Buffer<T>;

  // Decodes what is queued, then lists the step's live rows as items: their logits rows,
  // temperatures and STOP bans.
  void select_live(const LogitMask& mask, const DrawStep& step) {
    flush();
    draw_rows_.clear(), draw_items_.clear(), temps_.clear(), banned_.clear();
    for (int r = 0; r < rows_; ++r) {
      if (!step.live[r]) continue;
      GFNLM_CHECK(logit_row_[r] >= 0, "LmPolicy: row {} has no decoded state", r);
      draw_items_.push_back(r);
      draw_rows_.push_back(logit_row_[r]);
      temps_.push_back(step.temperature[r]);
      banned_.push_back(step.bans_stop(mask, r) ? 1 : 0);
    }
  }

  // Decodes every queued token in one batched call; each row's newest logits row is its last.
  void flush() {
    if (pending_.empty()) return;
    model_->set_adapters_enabled(adapters_);
    const auto decoded = model_->decode(*cache_, pending_);
    decoded_ = decoded.data();
    for (std::size_t i = 0; i < pending_.size(); ++i)
      logit_row_[pending_[i].row] = static_cast<int32_t>(i);
    pending_.clear();
  }

  // The RowMask of the masks for items at `rows` with per-item STOP bans, in backend memory.
  // The vocabulary part is uploaded only when it changes.
  RowMask device_mask(const LogitMask& mask, const std::vector<int32_t>& rows,
                      Buffer<int32_t>& rows_buffer, const std::vector<uint8_t>& banned,
                      Buffer<uint8_t>& banned_buffer) {
    const uint8_t* allowed = nullptr;
    if (!mask.all_allowed()) {
      const auto bytes = mask.allowed_bytes();
      if (!std::equal(bytes.begin(), bytes.end(), allowed_host_.begin(), allowed_host_.end())) {
        allowed_host_.assign(bytes.begin(), bytes.end());
        if constexpr (!Backend::host_memory) staging::upload<Backend>(allowed_dev_, allowed_host_);
      }
      allowed = Backend::host_memory ? allowed_host_.data() : Backend::data(allowed_dev_);
    }
    const bool any_ban = std::find(banned.begin(), banned.end(), uint8_t{1}) != banned.end();
    return {staging::upload<Backend>(rows_buffer, rows), allowed,
            any_ban ? staging::upload<Backend>(banned_buffer, banned) : nullptr, stop_};
  }

  Model* model_;
  int32_t stop_;
  bool adapters_ = true;
  std::optional<typename Model::Cache> cache_;
  int rows_ = 0;
  // Rollout state: the queued tokens, the last decode's logits and each row's row in them.
  std::vector<DecodeToken> pending_;
  const float* decoded_ = nullptr;
  std::vector<int32_t> logit_row_;
  std::vector<int> draw_items_;
  std::vector<int32_t> draw_rows_, tokens_drawn_, top_tokens_;
  std::vector<double> temps_, uniforms_, logq_drawn_, top_logq_, top_logq_tempered_;
  std::vector<uint8_t> banned_;
  // score() -> backward() bookkeeping.
  std::vector<LmSequence> seqs_;
  std::vector<int32_t> tokens_, state_rows_, idx_;
  std::vector<State> states_;
  std::vector<uint8_t> state_banned_;
  std::vector<float> logp_, dlogp_;
  RowMask scored_mask_;
  const int32_t* idx_ptr_ = nullptr;
  int B_ = 0, T_ = 0;
  std::vector<uint8_t> allowed_host_;
  // Backend copies of the small per-call arrays (unused on host backends, which read the vectors
  // above), and the gathered outputs.
  Buffer<int32_t> draw_rows_dev_, state_rows_dev_, idx_dev_, tokens_drawn_dev_, top_tokens_dev_;
  Buffer<uint8_t> allowed_dev_, draw_banned_dev_, state_banned_dev_;
  Buffer<double> temps_dev_, uniforms_dev_, logq_dev_, top_logq_dev_, top_logq_tempered_dev_;
  Buffer<float> logp_dev_, lse_dev_, dlogp_dev_;
};

template <class Bk = Cpu, PromptedQuery Q = LmQuery>
using LmPolicy = BasicLmPolicy<Transformer<Bk, float>, Q>;

// `BasicLmPolicy policy(model, stop)` takes any loaded model: load_gpt2's Transformer, load_llama's
// or load_llama2c's LlamaTransformer, on any backend (the README's snippet).
template <class Model>
BasicLmPolicy(Model&, int32_t) -> BasicLmPolicy<Model>;
template <class Model>
BasicLmPolicy(Model&, int32_t, bool) -> BasicLmPolicy<Model>;

}  // namespace gfnlm
