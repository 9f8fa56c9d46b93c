// One training step of gfnlm's CPU engine: forward + mean cross-entropy + backward + AdamW
// (issue 2, acceptance 6). Peer: train_step.py does the same step in PyTorch; run_train_step.sh
// runs both and prints the ratio. Prints one JSON line with the per-step times and the peak
// resident memory (issue 8, acceptance 3).
#include "bench_common.hpp"

#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/transformer.hpp>

#include <omp.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"Time one forward + backward + AdamW step of the CPU transformer"};
  std::string preset = "toy";
  int threads = 2, iters = 10, warmup = 2;
  app.add_option("--config", preset, "toy (V64 L4 H4 d128, B32 T64) or gpt2 (124M, B4 T128)")
      ->check(CLI::IsMember({"toy", "gpt2"}));
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--iters", iters, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);

  gfnlm::TransformerConfig c;
  int B = 32, T = 64;
  if (preset == "toy") {
    c = {64, 64, 4, 4, 128, true, 0.02};
  } else {
    c = gfnlm::TransformerConfig::gpt2_small();
    B = 4;
    T = 128;
  }
  gfnlm::Rng rng(1);
  gfnlm::Transformer<> model(c, rng);
  std::vector<int32_t> tokens(B * T), targets(B * T);
  for (int i = 0; i < B * T; ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(c.vocab_size));
    targets[i] = static_cast<int32_t>(rng.below(c.vocab_size));
  }
  gfnlm::AdamW<float> opt(model.parameters(), {.lr = 1e-4, .weight_decay = 0.0});
  std::vector<double> ms;
  double loss = 0;
  for (int i = 0; i < warmup + iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    model.forward(tokens.data(), B, T);
    loss = model.cross_entropy(targets.data());
    model.backward_cross_entropy();
    opt.step();
    const double dt =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (i >= warmup) ms.push_back(dt);
  }
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  nlohmann::json out = {{"impl", "gfnlm"},
                        {"workload", "train_step"},
                        {"config", preset},
                        {"threads", threads},
                        {"params", model.num_parameters()},
                        {"B", B},
                        {"T", T},
                        {"median_ms", median},
                        {"min_ms", sorted.front()},
                        {"times_ms", ms},
                        {"tokens_per_s", B * T / (median / 1000.0)},
                        {"final_loss", loss},
                        {"gemm", gfnlm::bench::gemm_backend()},
                        {"peak_rss_mb", gfnlm::bench::peak_rss_mb()}};
  std::cout << out.dump() << std::endl;
}
