// Batched ancestral sampling with the KV cache (issue 8, workload 2): every row starts from the
// same fixed prompt, the prompt is decoded in one batched call, then each step draws one token per
// row from softmax(logits) (temperature 1) and decodes the B new tokens together. No early stop:
// every row generates all new tokens. Peer: sample.py (PyTorch, past keys/values,
// torch.multinomial). Prints one JSON line with the per-generation times.
#include "bench_common.hpp"

#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/transformer.hpp>

#include <omp.h>
#include <CLI/CLI.hpp>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <span>
#include <vector>

namespace {

// Draws one token per row from softmax(logits of that row) into `out` (temperature 1).
void draw(std::span<const float> logits, int rows, int V, gfnlm::Rng& rng,
          std::vector<float>& weights, std::vector<int32_t>& out) {
  weights.resize(V);
  for (int b = 0; b < rows; ++b) {
    Eigen::Map<const Eigen::ArrayXf> l(logits.data() + static_cast<std::size_t>(b) * V, V);
    Eigen::Map<Eigen::ArrayXf> w(weights.data(), V);
    w = (l - l.maxCoeff()).exp();  // vectorised; categorical normalises
    out[b] = rng.categorical(std::span<const float>(weights));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Time batched KV-cache sampling with the CPU transformer"};
  std::string preset = "toy";
  int threads = 2, iters = 5, warmup = 1, prompt_len = 8, new_tokens = 0, batch = 0;
  app.add_option("--config", preset, "toy (V64 L4 H4 d128, B32, 32 new) or gpt2 (124M, B8, 64 new)")
      ->check(CLI::IsMember({"toy", "gpt2"}));
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--iters", iters, "timed generations")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed generations first");
  app.add_option("--prompt", prompt_len, "prompt tokens")->check(CLI::PositiveNumber);
  app.add_option("--new", new_tokens, "new tokens per row (default by config)");
  app.add_option("--batch", batch, "rows (default by config)");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);

  gfnlm::TransformerConfig c;
  int B = 32, N = 32;
  if (preset == "toy") {
    c = {64, 64, 4, 4, 128, true, 0.02};
  } else {
    c = gfnlm::TransformerConfig::gpt2_small();
    B = 8;
    N = 64;
  }
  if (batch > 0) B = batch;
  if (new_tokens > 0) N = new_tokens;
  GFNLM_CHECK(prompt_len + N <= c.max_seq_len, "prompt {} + new {} exceed max_seq_len {}",
              prompt_len, N, c.max_seq_len);
  gfnlm::Rng init(1);
  gfnlm::Transformer<> model(c, init);
  gfnlm::Rng prompt_rng(2);
  std::vector<int32_t> prompt(prompt_len);
  for (auto& t : prompt) t = static_cast<int32_t>(prompt_rng.below(c.vocab_size));

  // One cache for all generations, reset between them (as LmPolicy reuses its cache).
  auto cache = model.make_cache(B);
  std::vector<gfnlm::DecodeToken> step(B), first;
  for (int b = 0; b < B; ++b)
    for (int32_t t : prompt) first.push_back({b, t});
  std::vector<int32_t> drawn(B);
  std::vector<float> weights, last(static_cast<std::size_t>(B) * c.vocab_size);
  gfnlm::Rng rng(3);
  std::vector<double> ms;
  long checksum = 0;
  for (int i = 0; i < warmup + iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    cache.reset();
    auto logits = model.decode(cache, first);
    // The prompt call returns every prompt position's logits: keep each row's last.
    for (int b = 0; b < B; ++b)
      std::copy_n(logits.data() +
                      (static_cast<std::size_t>(b) * prompt_len + prompt_len - 1) * c.vocab_size,
                  c.vocab_size, last.data() + static_cast<std::size_t>(b) * c.vocab_size);
    draw(last, B, c.vocab_size, rng, weights, drawn);
    for (int t = 1; t < N; ++t) {
      for (int b = 0; b < B; ++b) step[b] = {b, drawn[b]};
      draw(model.decode(cache, step), B, c.vocab_size, rng, weights, drawn);
    }
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= warmup) ms.push_back(dt);
    for (int32_t t : drawn) checksum += t;
  }
  const double median = gfnlm::bench::median(ms);
  nlohmann::json out = {{"impl", "gfnlm"},
                        {"workload", "sample"},
                        {"config", preset},
                        {"threads", threads},
                        {"params", model.num_parameters()},
                        {"B", B},
                        {"prompt", prompt_len},
                        {"new_tokens", N},
                        {"median_ms", median},
                        {"min_ms", *std::min_element(ms.begin(), ms.end())},
                        {"tokens_per_s", B * N / (median / 1000.0)},
                        {"times_ms", ms},
                        {"checksum", checksum},
                        {"gemm", gfnlm::bench::gemm_backend()},
                        {"peak_rss_mb", gfnlm::bench::peak_rss_mb()}};
  std::cout << out.dump() << std::endl;
}
