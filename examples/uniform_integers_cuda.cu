// Uniform random integers, the GFlowNet method on the GPU (issue 7):
// examples/uniform_integers.cpp's GFlowNet fine-tuning and evaluation, the same task code
// (tasks/uniform_integers/experiment.hpp) with the model on Transformer<Cuda>. The base model is
// pretrained on the host (or read from the same cache as the CPU example), copied to the device,
// given fresh LoRA adapters with the seed the CPU example uses, trained through gfnlm::Sampler and
// sampled --samples times. Prints the CPU example's summary line for the GFlowNet. Progress goes to
// stderr.
#include "program.hpp"

#include <gfnlm/backend/cuda/backend.cuh>
#include <gfnlm/model/cuda/optimizer.cuh>
#include <gfnlm/tasks/uniform_integers.hpp>
#include <gfnlm/tasks/uniform_integers/experiment.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace ui = gfnlm::uniform_integers;

int main(int argc, char** argv) {
  namespace program = gfnlm::program;
  CLI::App app{"Uniform random integers 0..100: the GFlowNet fine-tuning on CUDA (gfnlm issue 7)"};
  bool quick = false, no_cache = false;
  ui::ExperimentConfig config;
  const auto quick_config = ui::ExperimentConfig::quick();
  std::string objective = "subtb", cache_dir = ui::default_cache_dir().string();
  app.add_flag("--quick", quick, "The CPU example's --quick settings");
  app.add_option("--seed", config.seed, "Seed of the fine-tuning and the evaluation")
      ->capture_default_str();
  app.add_option("--samples", config.samples,
                 fmt::format("Samples, at most {} (default {}; --quick: {})", ui::kMaxSamples,
                             config.samples, quick_config.samples))
      ->check(program::in_range(1, ui::kMaxSamples));
  app.add_option("--gfn-steps", config.gfn_steps,
                 fmt::format("GFlowNet training steps (default {}; --quick: {})", config.gfn_steps,
                             quick_config.gfn_steps))
      ->check(program::at_least(1));
  app.add_option("--objective", objective, "GFlowNet objective: subtb (modified SubTB) or tb")
      ->check(CLI::IsMember({"subtb", "tb"}))
      ->capture_default_str();
  auto* cache_opt =
      app.add_option("--cache-dir", cache_dir, "Where the pretrained base model is cached")
          ->capture_default_str();
  app.add_flag("--no-cache", no_cache, "Always pretrain the base model")->excludes(cache_opt);
  CLI11_PARSE(app, argc, argv);

  if (quick) {
    if (app.count("--samples") == 0) config.samples = quick_config.samples;
    if (app.count("--gfn-steps") == 0) config.gfn_steps = quick_config.gfn_steps;
    config.ppo_steps = quick_config.ppo_steps;
    config.sft_steps = quick_config.sft_steps;
    config.base.steps = quick_config.base.steps;
  }
  config.gfn_objective = objective == "tb" ? ui::ExperimentConfig::Objective::trajectory_balance
                                           : ui::ExperimentConfig::Objective::modified_subtb;
  config.cache_dir = no_cache ? std::filesystem::path() : std::filesystem::path(cache_dir);
  try {
    config.validate();
    if (!no_cache) program::require_writable_directory(cache_dir, "--cache-dir");
  } catch (const std::exception& e) {
    fmt::print(stderr, "uniform_integers_cuda: error: {}\n", e.what());
    return 1;
  }
  const auto say = [](const std::string& line) {
    fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  };
  try {
    const auto tok = ui::char_tokenizer();
    const ui::AnswerCodec<gfnlm::CharTokenizer> codec(tok, tok.encode(ui::kCharPrompt));
    const gfnlm::LmQuery query{{codec.prompt().begin(), codec.prompt().end()}, {}, 0};
    say(fmt::format("base model: {}", config.base.fingerprint()));
    bool from_cache = false;
    const auto host_base = ui::load_or_pretrain_base_model(
        config.base, config.cache_dir, &from_cache, [&](int step, double loss) {
          say(fmt::format("  pretrain step {:4d}/{}  loss {:.4f}", step + 1, config.base.steps,
                          loss));
        });
    // To the device through the model's own checkpoint format; then the CPU example's adapters.
    std::stringstream weights;
    host_base.save(weights);
    auto model = gfnlm::Transformer<gfnlm::Cuda>::from_stream(weights);
    gfnlm::Rng init(config.seed * 1000003ULL + 1);
    model.enable_lora(config.lora, init);
    gfnlm::LmPolicy<gfnlm::Cuda> policy(model, tok.eos_id());

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<ui::CurvePoint> curve;
    const auto mask = ui::train_gflownet(policy, codec, query, config, say, curve);
    ui::ModelResult r;
    r.name = "GFlowNet";
    r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ui::evaluate_model(r, policy, query, codec, config, /*log_z=*/true, &mask, say);

    fmt::print("\n{:<10} {:>8} {:>13} {:>14} {:>8} {:>9} {:>10}\n", "model", "valid %",
               "KL(valid||U)", "KL(+invalid)", "TV", "distinct", "train s");
    fmt::print("{:<10} {:>8.2f} {:>13.4f} {:>14.4f} {:>8.4f} {:>9} {:>10.1f}\n", r.name,
               100 * r.report.valid_fraction, r.report.kl_valid, r.report.kl_with_invalid,
               r.report.tv_valid, r.report.distinct_valid, r.train_seconds);
    fmt::print("{} log-partition estimate: {:.3f} (spread {:.3f}); the target's log Z is {:.3f}\n",
               r.name, r.log_z->mean, r.log_z->std,
               config.gfn_reward.valid + std::log(double(ui::kNumValues)));
    fmt::print("on {}; base model {}\n", gfnlm::Cuda::name,
               from_cache ? "from cache" : "pretrained");
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
