// Pretrains a small GPT-2 from scratch on a generated corpus and shows that it learned the
// pattern (issue 2, acceptance 5). Each sequence is an arithmetic progression modulo the
// vocabulary, x_t = (a + d t) mod V with a random start a and a step d from {1, 2, 3, 5}: the
// first prediction cannot know d, every later one is determined, so the best possible mean
// cross-entropy is ln(4) / T. Progress goes to stderr, the results as JSON to stdout (and, with
// --out DIR, to DIR/results.json beside the trained model DIR/model.bin).
//
//   pretrain_demo --steps 300          (defaults reach loss < 0.2 and continue every prompt)
#include "program.hpp"

#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/model/pretrain.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iostream>

namespace {

constexpr int kSteps[] = {1, 2, 3, 5};

void progression_batch(gfnlm::Rng& rng, int V, int B, int T, gfnlm::SequenceBatch& batch) {
  batch.batch = B;
  batch.seq_len = T;
  batch.tokens.resize(static_cast<std::size_t>(B) * (T + 1));
  batch.loss_mask.clear();
  for (int b = 0; b < B; ++b) {
    const int a = static_cast<int>(rng.below(V)), d = kSteps[rng.below(4)];
    for (int t = 0; t <= T; ++t) batch.tokens[b * (T + 1) + t] = (a + d * t) % V;
  }
}

}  // namespace

int run_program(int argc, char** argv) {
  namespace program = gfnlm::program;
  CLI::App app{"Pretrain a small GPT-2 on arithmetic progressions mod V and sample from it"};
  int steps = 300, batch = 16, seq_len = 24, vocab = 24, layers = 2, heads = 2, dim = 64;
  int threads = 0;
  double lr = 3e-3, bound = 0.2;
  uint64_t seed = 1;
  std::string out_dir;
  app.add_option("--steps", steps, "training steps")
      ->check(program::in_range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--batch", batch, "sequences per step")
      ->check(program::in_range(1, 4096))
      ->capture_default_str();
  app.add_option("--seq-len", seq_len, "predicted positions per sequence")
      ->check(program::in_range(2, 1000))
      ->capture_default_str();
  app.add_option("--vocab", vocab, "vocabulary size (the modulus)")
      ->check(program::in_range(6, 100000))
      ->capture_default_str();
  app.add_option("--layers", layers, "transformer blocks")
      ->check(program::in_range(1, 64))
      ->capture_default_str();
  app.add_option("--heads", heads, "attention heads (must divide --dim)")
      ->check(program::in_range(1, 256))
      ->capture_default_str();
  app.add_option("--dim", dim, "model width")
      ->check(program::in_range(1, 8192))
      ->capture_default_str();
  app.add_option("--lr", lr, "peak AdamW learning rate")
      ->check(program::positive_real())
      ->capture_default_str();
  app.add_option("--bound", bound, "loss (mean of the last 20 steps) the run must reach")
      ->check(program::positive_real())
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")
      ->check(program::threads())
      ->capture_default_str();
  app.add_option("--out", out_dir,
                 "directory for the trained model (model.bin) and results.json (default: none; "
                 "the JSON always goes to stdout)");
  CLI11_PARSE(app, argc, argv);

  GFNLM_CHECK(dim % heads == 0, "--heads {} does not divide --dim {}", heads, dim);
  gfnlm::TransformerConfig config;
  config.vocab_size = vocab;
  config.max_seq_len = seq_len + 1;
  config.n_layer = layers;
  config.n_head = heads;
  config.d_model = dim;
  config.validate();
  // One step's activations, from the model's own table (plus d logits), must fit in memory:
  // --batch 100000 used to die in std::bad_alloc after printing its plan.
  gfnlm::gpt2::ActTensors<float> sizes;
  const double step_bytes =
      sizeof(float) * double(gfnlm::gpt2::point_acts(sizes, static_cast<float*>(nullptr), config,
                                                     batch, seq_len, 0) +
                             std::size_t(batch) * seq_len * vocab);
  const double memory = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  GFNLM_CHECK(step_bytes <= 0.8 * memory,
              "--batch {} x --seq-len {} needs {:.1f} GB of activations per step; this machine "
              "has {:.1f} GB",
              batch, seq_len, step_bytes / 1e9, memory / 1e9);
  if (!out_dir.empty()) program::require_writable_directory(out_dir, "--out");
  program::apply_threads(threads);

  gfnlm::Rng rng(seed);
  gfnlm::Transformer<> model(config, rng);
  std::cerr << "pretrain_demo: " << model.num_parameters() << " parameters, " << steps
            << " steps of " << batch << " x " << seq_len << " tokens\n";

  gfnlm::PretrainConfig pc;
  pc.steps = steps;
  pc.adamw.lr = lr;
  pc.warmup = std::min(20, steps / 10);
  gfnlm::Rng data_rng = rng.split();
  const auto result = gfnlm::pretrain(
      model,
      [&](int, gfnlm::SequenceBatch& b) { progression_batch(data_rng, vocab, batch, seq_len, b); },
      pc);
  const double final_loss = result.recent_loss(20);
  const double optimum = std::log(4.0) / seq_len;

  // Greedy samples: two tokens fix (a, d); the model must continue the progression.
  nlohmann::json samples = nlohmann::json::array();
  int correct = 0, total = 0;
  for (int d : kSteps)
    for (int k = 0; k < 2; ++k) {
      const int a = static_cast<int>(data_rng.below(vocab));
      const std::vector<int32_t> prompt = {a, (a + d) % vocab};
      const auto out = gfnlm::greedy_continue(model, prompt, seq_len - 1);
      for (std::size_t t = 0; t < out.size(); ++t, ++total)
        correct += out[t] == (a + d * static_cast<int>(t + 2)) % vocab;
      std::string text;
      for (int32_t x : prompt) text += std::to_string(x) + " ";
      text += "|";
      for (int32_t x : out) text += " " + std::to_string(x);
      std::cerr << "  sample d=" << d << ": " << text << "\n";
      samples.push_back({{"step", d}, {"text", text}});
    }
  const double accuracy = static_cast<double>(correct) / total;
  nlohmann::json out = {{"steps", steps},
                        {"final_loss", final_loss},
                        {"bound", bound},
                        {"optimum", optimum},
                        {"reached_bound", final_loss < bound},
                        {"greedy_accuracy", accuracy},
                        {"tokens_per_second", result.tokens_per_second},
                        {"samples", samples}};
  std::cout << out.dump(2) << "\n";
  if (!out_dir.empty()) {
    const std::filesystem::path dir(out_dir);
    gfnlm::write_file_atomically(dir / "model.bin", [&](std::ostream& os) { model.save(os); });
    gfnlm::write_file_atomically(dir / "results.json",
                                 [&](std::ostream& os) { os << out.dump(2) << "\n"; });
    std::cerr << "wrote " << (dir / "model.bin").string() << " and "
              << (dir / "results.json").string() << "\n";
  }
  if (final_loss >= bound)
    std::cerr << "pretrain_demo: the final loss " << final_loss << " did not reach --bound "
              << bound << "\n";
  return final_loss < bound ? 0 : 1;
}

int main(int argc, char** argv) {
  return gfnlm::program::run("pretrain_demo", [&] { return run_program(argc, argv); });
}
