// Uniform random integers: why distribution matching beats reward maximisation (issue 5; SPEC
// sections 3 and 6; docs/uniform_integers.md).
//
// Ask a small LM for "a random integer from 0 to 100". The embedded base model, pretrained here on
// a corpus that answers the way real LMs do (tasks/uniform_integers/corpus.hpp), is skewed and
// often invalid. Three LoRA fine-tunings of that same base follow: PPO (+16 for any valid answer),
// SFT on uniform draws, and a GFlowNet whose target puts equal mass on every valid answer. Each
// model is sampled --samples times; a table goes to stdout, results.json and histograms.svg to
// --out. Progress goes to stderr.
#include <gfnlm/eval/svg.hpp>
#include <gfnlm/tasks/uniform_integers.hpp>
#include <gfnlm/tasks/uniform_integers/experiment.hpp>

#include <fmt/format.h>
#include <omp.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace ui = gfnlm::uniform_integers;

namespace {

nlohmann::json to_json(const ui::ModelResult& r) {
  nlohmann::json j;
  j["name"] = r.name;
  j["samples"] = r.counts.total;
  j["valid_fraction"] = r.report.valid_fraction;
  j["kl_valid_to_uniform"] = r.report.kl_valid;
  j["kl_with_invalid_bin"] = r.report.kl_with_invalid;
  j["tv_valid_to_uniform"] = r.report.tv_valid;
  j["tv_with_invalid_bin"] = r.report.tv_with_invalid;
  j["distinct_integers"] = r.report.distinct_valid;
  j["train_seconds"] = r.train_seconds;
  j["eval_seconds"] = r.eval_seconds;
  j["counts"] = r.counts.value;
  nlohmann::json kinds;
  for (int k = 0; k < ui::kNumKinds; ++k)
    kinds[std::string(ui::kind_name(ui::AnswerKind(k)))] = r.counts.kind[k];
  j["answer_kinds"] = kinds;
  // The 20 most frequent invalid answers.
  std::vector<std::pair<int64_t, std::string>> bad;
  for (const auto& [text, n] : r.counts.invalid_text) bad.push_back({n, text});
  std::sort(bad.begin(), bad.end(), std::greater<>());
  if (bad.size() > 20) bad.resize(20);
  nlohmann::json top = nlohmann::json::array();
  for (const auto& [n, text] : bad) top.push_back({{"text", text}, {"count", n}});
  j["top_invalid_answers"] = top;
  if (r.log_z) {
    j["log_partition"] = {{"mean", r.log_z->mean},
                          {"std", r.log_z->std},
                          {"log_mean_exp", r.log_z->log_mean_exp},
                          {"samples", r.log_z->count}};
  }
  return j;
}

std::string histograms_svg(const ui::ExperimentResults& results, int samples) {
  gfnlm::HistogramChart chart;
  chart.title = fmt::format("Answers to \"{}\" ({} samples per model)", ui::kCharPrompt, samples);
  for (int v = ui::kMinValue; v <= ui::kMaxValue; ++v)
    chart.categories.push_back(std::to_string(v));
  chart.categories.push_back("invalid");
  for (const auto& r : results.models) {
    gfnlm::HistogramPanel panel;
    panel.title = fmt::format("{}: {:.1f}% valid, KL {:.3f}", r.name, 100 * r.report.valid_fraction,
                              r.report.kl_valid);
    for (auto c : r.counts.value) panel.values.push_back(double(c) / double(r.counts.total));
    panel.values.push_back(double(r.counts.invalid()) / double(r.counts.total));
    chart.panels.push_back(panel);
  }
  chart.x_label = "answer";
  chart.y_label = "fraction of samples";
  chart.reference = 1.0 / ui::kNumValues;
  chart.reference_label = "uniform 1/101";
  chart.y_max = 0.06;  // taller bars (favourites, the invalid bin) are capped and marked
  chart.label_every = 10;
  return gfnlm::to_svg(chart);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Uniform random integers 0..100: base vs PPO vs SFT vs GFlowNet (gfnlm issue 5)"};
  bool quick = false;
  uint64_t seed = 0;
  int samples = -1;
  std::string out_dir = "uniform_integers_out", model_path, tokenizer_path, objective = "tb";
  std::string cache_dir = ui::default_cache_dir().string();
  bool no_cache = false;
  int threads = 0, gfn_steps = -1, ppo_steps = -1, sft_steps = -1, pretrain_steps = -1;
  app.add_flag("--quick", quick, "Small budget for a smoke test (under a minute)");
  app.add_option("--seed", seed, "Seed of the fine-tunings and the evaluation")
      ->capture_default_str();
  app.add_option("--samples", samples,
                 "Samples per model for every figure (default 10000; 2000 with --quick)");
  app.add_option("--out", out_dir, "Directory for results.json and histograms.svg")
      ->capture_default_str();
  app.add_option("--model", model_path,
                 "A real checkpoint instead of the embedded model (not yet supported)");
  app.add_option("--tokenizer", tokenizer_path, "The tokenizer of --model (not yet supported)");
  app.add_option("--cache-dir", cache_dir, "Where the pretrained base model is cached")
      ->capture_default_str();
  app.add_flag("--no-cache", no_cache,
               "Always pretrain the base model, never read or write the cache");
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")
      ->capture_default_str();
  app.add_option("--objective", objective, "GFlowNet objective: subtb (modified SubTB) or tb")
      ->check(CLI::IsMember({"subtb", "tb"}))
      ->capture_default_str();
  app.add_option("--gfn-steps", gfn_steps, "GFlowNet training steps (default from the mode)");
  app.add_option("--ppo-steps", ppo_steps, "PPO rollout batches (default from the mode)");
  app.add_option("--sft-steps", sft_steps, "SFT steps (default from the mode)");
  app.add_option("--pretrain-steps", pretrain_steps,
                 "Base-model pretraining steps (default from the mode)");
  // Tuning knobs (defaults from ui::ExperimentConfig; docs/uniform_integers.md).
  double gfn_lr = -1, p_on = -1, p_tempered = -1, t_high = -1;
  int min_len = -1, lora_rank = -1, base_width = -1, gfn_batch = -1, gfn_buffer = -1;
  app.add_option("--gfn-lr", gfn_lr, "GFlowNet learning rate");
  app.add_option("--min-len", min_len, "GFlowNet: STOP masked before this many answer tokens");
  app.add_option("--lora-rank", lora_rank, "LoRA rank of every fine-tuning (alpha = rank)");
  app.add_option("--base-width", base_width, "Width (d_model) of the embedded base model");
  app.add_option("--gfn-batch", gfn_batch, "GFlowNet trajectories per behaviour group");
  app.add_option("--gfn-buffer", gfn_buffer, "GFlowNet replay capacity");
  app.add_option("--p-on-policy", p_on, "GFlowNet exploration: on-policy share");
  app.add_option("--p-tempered", p_tempered,
                 "GFlowNet exploration: tempered share (replay takes the rest)");
  app.add_option("--t-high", t_high, "GFlowNet exploration: highest behaviour temperature");
  CLI11_PARSE(app, argc, argv);

  if (!model_path.empty() || !tokenizer_path.empty()) {
    fmt::print(stderr,
               "--model / --tokenizer: loading a real checkpoint is not yet supported by this "
               "example (it needs the IO issue's loaders); run without them to use the embedded "
               "model.\n");
    return 2;
  }
  if (threads > 0) omp_set_num_threads(threads);

  auto config = quick ? ui::ExperimentConfig::quick() : ui::ExperimentConfig{};
  config.seed = seed;
  if (samples > 0) config.samples = samples;
  if (gfn_steps >= 0) config.gfn_steps = gfn_steps;
  if (ppo_steps >= 0) config.ppo_steps = ppo_steps;
  if (sft_steps >= 0) config.sft_steps = sft_steps;
  if (pretrain_steps > 0) config.base.steps = pretrain_steps;
  if (gfn_lr > 0) config.gfn_lr = gfn_lr;
  if (min_len >= 0) config.gfn_min_len = min_len;
  if (lora_rank > 0) {
    config.lora.rank = lora_rank;
    config.lora.alpha = double(lora_rank);
  }
  if (base_width > 0) config.base.d_model = base_width;
  if (gfn_batch > 0) config.gfn_batch = gfn_batch;
  if (gfn_buffer > 0) config.gfn_buffer = gfn_buffer;
  if (p_on >= 0 || p_tempered >= 0) {
    auto& e = config.gfn_exploration;
    if (p_on >= 0) e.p_on_policy = p_on;
    if (p_tempered >= 0) e.p_tempered = p_tempered;
    e.p_replay = 1.0 - e.p_on_policy - e.p_tempered;
  }
  if (t_high > 0) config.gfn_exploration.t_high = t_high;
  config.gfn_objective = objective == "tb" ? ui::ExperimentConfig::Objective::trajectory_balance
                                           : ui::ExperimentConfig::Objective::modified_subtb;
  config.cache_dir = no_cache ? std::filesystem::path() : std::filesystem::path(cache_dir);

  ui::ExperimentResults results;
  try {
    results = ui::run_experiment(config, [](std::string_view line) {
      fmt::print(stderr, "{}\n", line);
      std::fflush(stderr);
    });
  } catch (const gfnlm::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }

  fmt::print("\n{:<10} {:>8} {:>13} {:>14} {:>8} {:>9} {:>10}\n", "model", "valid %",
             "KL(valid||U)", "KL(+invalid)", "TV", "distinct", "train s");
  for (const auto& r : results.models)
    fmt::print("{:<10} {:>8.2f} {:>13.4f} {:>14.4f} {:>8.4f} {:>9} {:>10.1f}\n", r.name,
               100 * r.report.valid_fraction, r.report.kl_valid, r.report.kl_with_invalid,
               r.report.tv_valid, r.report.distinct_valid, r.train_seconds);
  for (const auto& r : results.models)
    if (r.log_z)
      fmt::print(
          "{} log-partition estimate: {:.3f} (spread {:.3f}); the target's log Z is {:.3f}\n",
          r.name, r.log_z->mean, r.log_z->std, results.true_log_z);
  fmt::print("total {:.1f} s (base model {})\n", results.total_seconds,
             results.base_from_cache ? "from cache" : "pretrained");

  nlohmann::json j;
  j["prompt"] = ui::kCharPrompt;
  j["seed"] = seed;
  j["quick"] = quick;
  j["samples_per_model"] = config.samples;
  j["gfn_objective"] = objective;
  j["base_model"] = {{"fingerprint", config.base.fingerprint()},
                     {"from_cache", results.base_from_cache},
                     {"file", results.base_model_file.string()}};
  j["true_log_partition"] = results.true_log_z;
  j["total_seconds"] = results.total_seconds;
  for (const auto& r : results.models) j["models"].push_back(to_json(r));
  std::filesystem::create_directories(out_dir);
  const auto json_path = std::filesystem::path(out_dir) / "results.json";
  gfnlm::write_file_atomically(json_path, [&](std::ostream& os) { os << j.dump(2) << '\n'; });
  const auto svg_path = std::filesystem::path(out_dir) / "histograms.svg";
  gfnlm::write_file_atomically(
      svg_path, [&](std::ostream& os) { os << histograms_svg(results, config.samples); });
  fmt::print(stderr, "wrote {} and {}\n", json_path.string(), svg_path.string());
  return 0;
}
