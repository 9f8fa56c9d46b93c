#pragma once
// Maximum-likelihood (pretraining / SFT) loop the examples call to make their base model:
// batches of token sequences with loss masks, AdamW with warm-up and linear decay
// (core/schedule.hpp, SPEC section 4), global gradient-norm clipping, progress on stderr.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/schedule.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/transformer.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace gfnlm {

// B sequences of T + 1 tokens: inputs are tokens[b, 0..T), targets tokens[b, 1..T].
struct SequenceBatch {
  int batch = 0;
  int seq_len = 0;              // T, the number of predicted positions per row
  std::vector<int32_t> tokens;  // [B, T + 1]
  std::vector<uint8_t>
      loss_mask;  // [B, T]: 1 where predicting tokens[b, t + 1] counts; empty = all
};

struct PretrainConfig {
  int steps = 1000;
  AdamWConfig adamw{.lr = 1e-3, .weight_decay = 0.0};
  int warmup = 20;                 // SPEC section 4: linear warm-up 20 steps
  double final_lr_fraction = 0.1;  // linear decay to this fraction of lr at the last step
  double max_grad_norm = 1.0;      // <= 0: no clipping
  int log_every = 50;              // progress lines on stderr; 0 = silent
};

struct PretrainResult {
  std::vector<double> losses;  // per step
  double tokens_per_second = 0;
  // Mean of the last `window` losses (the figure a bound is stated on).
  double recent_loss(int window = 20) const {
    const int n = static_cast<int>(losses.size()), k = std::min(window, n);
    double s = 0;
    for (int i = n - k; i < n; ++i) s += losses[i];
    return k > 0 ? s / k : 0.0;
  }
};

// next_batch(step, batch) fills the batch for this step (it may change B and T between steps).
// Trains model.parameters() (the base, or only the adapters when LoRA is on).
template <class Bk, class S, class NextBatch>
PretrainResult pretrain(Transformer<Bk, S>& model, NextBatch&& next_batch,
                        const PretrainConfig& config) {
  GFNLM_CHECK(config.steps >= 0, "PretrainConfig.steps = {} must be >= 0", config.steps);
  AdamW<S> opt(model.parameters(), config.adamw);
  const WarmupDecay schedule{config.warmup, config.steps, config.final_lr_fraction};
  PretrainResult result;
  SequenceBatch batch;
  std::vector<int32_t> inputs, targets;
  const auto start = std::chrono::steady_clock::now();
  auto last_log = start;
  long tokens_seen = 0, tokens_since_log = 0;
  for (int step = 0; step < config.steps; ++step) {
    next_batch(step, batch);
    const int B = batch.batch, T = batch.seq_len;
    GFNLM_CHECK(B > 0 && T > 0 && batch.tokens.size() == static_cast<std::size_t>(B) * (T + 1),
                "pretrain step {}: batch holds {} tokens, expected B*(T+1) = {}*{}", step,
                batch.tokens.size(), B, T + 1);
    GFNLM_CHECK(
        batch.loss_mask.empty() || batch.loss_mask.size() == static_cast<std::size_t>(B) * T,
        "pretrain step {}: loss_mask holds {} entries, expected B*T = {}", step,
        batch.loss_mask.size(), B * T);
    inputs.resize(static_cast<std::size_t>(B) * T);
    targets.resize(inputs.size());
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) {
        inputs[b * T + t] = batch.tokens[b * (T + 1) + t];
        targets[b * T + t] = batch.tokens[b * (T + 1) + t + 1];
      }
    model.zero_grad();
    model.forward(inputs.data(), B, T);
    const double loss = model.cross_entropy(
        targets.data(), batch.loss_mask.empty() ? nullptr : batch.loss_mask.data());
    model.backward_cross_entropy();
    const auto params = model.parameters();
    const double norm = clip_grad_norm(params, config.max_grad_norm);
    const double lr_scale = schedule(step);
    opt.step(lr_scale);
    result.losses.push_back(loss);
    tokens_seen += static_cast<long>(B) * T;
    tokens_since_log += static_cast<long>(B) * T;
    if (config.log_every > 0 && (step % config.log_every == 0 || step + 1 == config.steps)) {
      const auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - last_log).count();
      fmt::print(stderr, "step {:5d}/{}  loss {:.4f}  grad-norm {:.3f}  lr {:.2e}  {:.0f} tok/s\n",
                 step, config.steps, loss, norm, config.adamw.lr * lr_scale,
                 secs > 0 ? tokens_since_log / secs : 0.0);
      last_log = now;
      tokens_since_log = 0;
    }
  }
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.tokens_per_second = total > 0 ? tokens_seen / total : 0.0;
  return result;
}

// Greedy continuation of `prompt` by `n` tokens with a fresh one-row KV cache.
template <class Bk, class S>
std::vector<int32_t> greedy_continue(const Transformer<Bk, S>& model,
                                     const std::vector<int32_t>& prompt, int n) {
  GFNLM_CHECK(!prompt.empty(), "greedy_continue needs a non-empty prompt");
  auto cache = model.make_cache(1);
  std::vector<DecodeToken> feed;
  for (int32_t t : prompt) feed.push_back({0, t});
  const int V = model.config().vocab_size;
  std::vector<int32_t> out;
  auto logits = model.decode(cache, feed);
  for (int i = 0; i < n; ++i) {
    const S* last = logits.data() + logits.size() - V;
    int32_t best = 0;
    for (int v = 1; v < V; ++v)
      if (last[v] > last[best]) best = v;
    out.push_back(best);
    if (i + 1 < n) {
      const DecodeToken next{0, best};
      logits = model.decode(cache, std::span(&next, 1));
    }
  }
  return out;
}

}  // namespace gfnlm
