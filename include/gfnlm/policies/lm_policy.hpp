#pragma once
// LmPolicy: a Transformer (with LoRA adapters) as a gfnlm::Policy. Rollouts decode with a KV
// cache, so a step costs one position per live row; scoring teacher-forces whole rows (prompt,
// actions and tool context interleaved) in one batched forward and hands the sampler the logits
// at every state; backward scatters d loss / d logits back to those positions.
// The model may run on a backend whose memory is not the host's (Transformer<Cuda>): then each
// score / decode call copies its logits to the host once, backward copies the scattered
// d logits to one reused device buffer, and `Optimizer` (the backend's, model/optimizer.hpp)
// tells the Sampler how to step parameters() where they live. Host backends take the direct path.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/optimizer.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_query.hpp>

#include <algorithm>
#include <cstdint>
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
  BasicLmPolicy(Model& model, int32_t stop_token) : model_(&model), stop_(stop_token) {
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
    last_logits_.assign(static_cast<std::size_t>(n) * vocab_size(), 0.0f);
    pending_.clear();
    // A row whose prompt equals the previous distinct one's (the Sampler lays out a query's rows
    // consecutively) does not decode it again: it copies that row's cache and logits.
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
    const std::size_t V = vocab_size();
    for (int r = 0; r < n; ++r) {
      if (source[r] < 0) continue;
      cache_->copy_row(source[r], r);
      std::copy_n(last_logits_.begin() + source[r] * V, V, last_logits_.begin() + r * V);
    }
  }

  void next_logits(std::span<float> out) {
    flush();
    GFNLM_CHECK(out.size() >= last_logits_.size(), "next_logits: output holds {} values, need {}",
                out.size(), last_logits_.size());
    std::copy(last_logits_.begin(), last_logits_.end(), out.begin());
  }

  void advance(std::span<const int32_t> tokens) {
    GFNLM_CHECK(static_cast<int>(tokens.size()) == rows_, "advance: {} tokens for {} rows",
                tokens.size(), rows_);
    for (int r = 0; r < rows_; ++r)
      if (tokens[r] >= 0) pending_.push_back({r, tokens[r]});
    // Decoding waits for next_logits, so tool context appended after this action joins the
    // same batched call.
  }

  void append_context(int row, std::span<const int32_t> tokens) {
    GFNLM_CHECK(row >= 0 && row < rows_, "append_context: row {} of {}", row, rows_);
    for (int32_t t : tokens) pending_.push_back({row, t});
  }

  // ---- teacher forcing ------------------------------------------------------------------------

  void score(std::span<const Query> row_queries, const TrajectoryBatch& batch,
             Tensor<float, 3>& state_logits) {
    const int B = batch.rows(), L = batch.max_len(), V = vocab_size();
    GFNLM_CHECK(static_cast<int>(row_queries.size()) == B, "score: {} queries for {} rows",
                row_queries.size(), B);
    std::vector<std::vector<int32_t>> seqs(B);
    state_pos_.assign(static_cast<std::size_t>(B) * (L + 1), -1);
    int T = 1;
    for (int b = 0; b < B; ++b) {
      build_row(row_queries[b], batch, b, seqs[b],
                &state_pos_[static_cast<std::size_t>(b) * (L + 1)]);
      T = std::max<int>(T, static_cast<int>(seqs[b].size()));
    }
    GFNLM_CHECK(T <= model_->config().max_seq_len,
                "score: a row needs {} positions but the model's max_seq_len is {}", T,
                model_->config().max_seq_len);
    // Right padding with token 0: causal attention never lets it reach an earlier position.
    tokens_.assign(static_cast<std::size_t>(B) * T, 0);
    for (int b = 0; b < B; ++b) std::copy(seqs[b].begin(), seqs[b].end(), tokens_.begin() + b * T);
    model_->set_adapters_enabled(true);
    model_->forward(tokens_.data(), B, T);
    B_ = B, T_ = T, L_ = L;
    const float* logits = model_->logits();
    if constexpr (!Backend::host_memory) {
      host_logits_.resize(static_cast<std::size_t>(B) * T * V);
      Backend::to_host(host_logits_.data(), logits, host_logits_.size());
      logits = host_logits_.data();
    }
    state_logits.resize({std::size_t(B), std::size_t(L + 1), std::size_t(V)});
    for (int b = 0; b < B; ++b)
      for (int t = 0; t <= L; ++t) {
        const int p = state_pos_[static_cast<std::size_t>(b) * (L + 1) + t];
        float* dst = &state_logits(b, t, 0);
        if (p < 0)
          std::fill(dst, dst + V, 0.0f);
        else
          std::copy_n(logits + (static_cast<std::size_t>(b) * T + p) * V, V, dst);
      }
  }

  void backward(const Tensor<float, 3>& state_dlogits) {
    GFNLM_CHECK(B_ > 0, "LmPolicy::backward called before score");
    const int V = vocab_size();
    dlogits_.assign(static_cast<std::size_t>(B_) * T_ * V, 0.0f);
    for (int b = 0; b < B_; ++b)
      for (int t = 0; t <= L_; ++t) {
        const int p = state_pos_[static_cast<std::size_t>(b) * (L_ + 1) + t];
        if (p < 0) continue;
        const float* src = &state_dlogits(b, t, 0);
        std::copy_n(src, V, dlogits_.data() + (static_cast<std::size_t>(b) * T_ + p) * V);
      }
    if constexpr (Backend::host_memory) {
      model_->backward(dlogits_.data());
    } else {
      if (Backend::size(device_dlogits_) < dlogits_.size())
        device_dlogits_ = Backend::template alloc<float>(dlogits_.size());
      float* device = Backend::data(device_dlogits_);
      Backend::from_host(device, dlogits_.data(), dlogits_.size());
      model_->backward(device);
    }
  }

  ParameterList<float> parameters() { return model_->parameters(); }

  // The full token sequence of one row (prompt, then actions with tool context in place) and,
  // optionally, the position whose logits give each state s_0 .. s_length.
  static void build_row(const Query& q, const TrajectoryBatch& batch, int b,
                        std::vector<int32_t>& seq, int* state_pos = nullptr) {
    seq.assign(q.prompt.begin(), q.prompt.end());
    const auto& ctx = batch.context[b];
    std::size_t next_ctx = 0;
    const int len = batch.length[b];
    for (int t = 0;; ++t) {
      while (next_ctx < ctx.size() && ctx[next_ctx].after_action == t) {
        seq.insert(seq.end(), ctx[next_ctx].tokens.begin(), ctx[next_ctx].tokens.end());
        ++next_ctx;
      }
      if (state_pos) state_pos[t] = static_cast<int>(seq.size()) - 1;
      if (t == len) break;
      seq.push_back(batch.actions(b, t));
    }
  }

 private:
  // Decodes every queued token in one batched call and keeps each row's newest logits.
  void flush() {
    if (pending_.empty()) return;
    model_->set_adapters_enabled(true);
    const auto decoded = model_->decode(*cache_, pending_);
    const float* logits = decoded.data();
    if constexpr (!Backend::host_memory) {
      host_logits_.resize(decoded.size());
      Backend::to_host(host_logits_.data(), logits, decoded.size());
      logits = host_logits_.data();
    }
    const int V = vocab_size();
    for (std::size_t i = 0; i < pending_.size(); ++i)
      std::copy_n(logits + i * V, V, last_logits_.data() + pending_[i].row * V);
    pending_.clear();
  }

  Model* model_;
  int32_t stop_;
  std::optional<typename Model::Cache> cache_;
  int rows_ = 0;
  std::vector<float> last_logits_;
  std::vector<DecodeToken> pending_;
  // score() -> backward() bookkeeping.
  std::vector<int32_t> tokens_;
  std::vector<int> state_pos_;
  std::vector<float> dlogits_;
  int B_ = 0, T_ = 0, L_ = 0;
  // Device backends only: the host copy of the last logits (score or decode) and the device copy
  // of dlogits_ that backward hands the model.
  std::vector<float> host_logits_;
  typename Backend::template Buffer<float> device_dlogits_;
};

template <class Bk = Cpu, PromptedQuery Q = LmQuery>
using LmPolicy = BasicLmPolicy<Transformer<Bk, float>, Q>;

}  // namespace gfnlm
