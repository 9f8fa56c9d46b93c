// Uniform random integers: why distribution matching beats reward maximisation (issue 5; SPEC
// sections 3 and 6; docs/uniform_integers.md).
//
// Ask a small LM for "a random integer from 0 to 100". The embedded base model, pretrained here on
// a corpus that answers the way real LMs do (tasks/uniform_integers/corpus.hpp), is skewed and
// often invalid. Four LoRA fine-tunings of that same base follow: PPO and GRPO (+16 for any valid
// answer), SFT on uniform draws, and a GFlowNet whose target puts equal mass on every valid answer.
// Each model is sampled --samples times; a table goes to stdout, results.json and histograms.svg to
// --out. Progress goes to stderr.
#include "load_checkpoint.hpp"
#include "program.hpp"
#include "world.hpp"

#include <gfnlm/eval/svg.hpp>
#include <gfnlm/tasks/uniform_integers.hpp>
#include <gfnlm/tasks/uniform_integers/experiment.hpp>

#include <fmt/format.h>
#include <omp.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
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
  j["exact"] = {{"valid_mass", r.exact.valid_mass},
                {"kl_valid_to_uniform", r.exact.kl_valid},
                {"q_100_times_101", std::exp(r.exact.log_q[100 - ui::kMinValue]) * ui::kNumValues},
                {"q_stop_after_10", r.exact.stop_after_10},
                {"q_0_after_10", r.exact.zero_after_10},
                {"q_stop_after_100", r.exact.stop_after_100},
                {"log_q", r.exact.log_q}};
  if (r.log_z) {
    j["log_partition"] = {{"mean", r.log_z->mean},
                          {"std", r.log_z->std},
                          {"log_mean_exp", r.log_z->log_mean_exp},
                          {"samples", r.log_z->count}};
  }
  return j;
}

std::string histograms_svg(const ui::ExperimentResults& results, int samples,
                           std::string_view prompt) {
  gfnlm::HistogramChart chart;
  chart.title = fmt::format("Answers to \"{}\" ({} samples per model)", prompt, samples);
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

// The experiment on a real checkpoint (issue 5's --model / --tokenizer): the prompt (the paper's
// unless --prompt) after the tokenizer's BOS (when it has one), STOP = its end-of-sequence token
// or "\n".
template <class Model, gfnlm::Tokenizer Tok>
ui::ExperimentResults run_on(Model& model, const Tok& tok, const std::string& stop_name,
                             const std::string& prompt_text, const ui::ExperimentConfig& config,
                             double load_seconds,
                             const std::function<void(std::string_view)>& progress,
                             const ui::ResultsCallback& on_evaluated) {
  std::vector<int32_t> prompt;
  if (tok.bos_id() >= 0) prompt.push_back(tok.bos_id());
  for (const auto t : tok.encode(prompt_text)) prompt.push_back(t);
  int32_t stop = tok.eos_id();
  if (stop_name == "newline") {
    const auto nl = tok.encode("\n");
    GFNLM_CHECK(!nl.empty(), "the tokenizer cannot encode a newline");
    stop = nl.back();  // the llama2.c tokenizer encodes a dummy space first
  }
  GFNLM_CHECK(stop >= 0 && stop < model.config().vocab_size,
              "no STOP token: the tokenizer has no end-of-sequence token (try --stop newline)");
  GFNLM_CHECK(
      static_cast<int>(prompt.size()) + ui::kMaxAnswerTokens + 1 <= model.config().max_seq_len,
      "the prompt is {} tokens; with {} answer tokens it exceeds the model's seq_len {}",
      prompt.size(), ui::kMaxAnswerTokens, model.config().max_seq_len);
  progress(
      fmt::format("real model: {} parameters, vocab {}, prompt {} tokens, STOP = token {} ({:?})",
                  model.num_parameters(), model.config().vocab_size, prompt.size(), stop,
                  tok.token_text(stop)));
  const ui::AnswerCodec<Tok> codec(tok, prompt, prompt_text);
  ui::ModelResult base_result;
  base_result.name = "base";
  base_result.train_seconds = load_seconds;
  return ui::run_fine_tunings(model, codec, stop, config, base_result, progress, on_evaluated);
}

ui::ExperimentResults run_real_model(const std::string& model_path, const std::string& tok_path,
                                     const std::string& stop_name, const std::string& prompt_text,
                                     const ui::ExperimentConfig& config,
                                     const std::function<void(std::string_view)>& progress,
                                     const ui::ResultsCallback& on_evaluated) {
  const auto t0 = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  return gfnlm::program::with_checkpoint(model_path, tok_path, [&](auto& model, const auto& tok) {
    return run_on(model, tok, stop_name, prompt_text, config, since(), progress, on_evaluated);
  });
}

nlohmann::json results_json(const ui::ExperimentResults& results,
                            const ui::ExperimentConfig& config, const std::string& prompt,
                            const std::string& objective, const std::string& model_path,
                            const std::string& tokenizer_path, const std::string& stop_name,
                            bool quick, bool complete) {
  nlohmann::json j;
  j["complete"] = complete;  // false while models are still being evaluated
  j["prompt"] = prompt;
  j["seed"] = config.seed;
  j["quick"] = quick;
  j["samples_per_model"] = config.samples;
  j["gfn_objective"] = objective;
  if (model_path.empty())
    j["base_model"] = {{"fingerprint", config.base.fingerprint()},
                       {"from_cache", results.base_from_cache},
                       {"file", results.base_model_file.string()}};
  else
    j["base_model"] = {{"model", model_path}, {"tokenizer", tokenizer_path}, {"stop", stop_name}};
  j["true_log_partition"] = results.true_log_z;
  j["total_seconds"] = results.total_seconds;
  j["models"] = nlohmann::json::array();
  for (const auto& r : results.models) j["models"].push_back(to_json(r));
  for (const auto& p : results.gfn_curve)
    j["gfn_curve"].push_back({{"step", p.step},
                              {"loss", p.loss},
                              {"exact_valid_mass", p.valid_mass},
                              {"exact_kl_valid", p.kl_valid}});
  return j;
}

int run_program(int argc, char** argv, gfnlm::Communicator& world) {
  namespace program = gfnlm::program;
  CLI::App app{
      "Uniform random integers 0..100: base vs PPO vs GRPO vs SFT vs GFlowNet (gfnlm issues 5, "
      "20)"};
  // Flags bind straight to the config; --quick then changes only the settings the user left.
  ui::ExperimentConfig config;
  const ui::ExperimentConfig quick_config = ui::ExperimentConfig::quick();
  const auto with_quick = [](auto normal, auto quick) {
    return fmt::format("(default {}; --quick: {})", normal, quick);
  };
  bool quick = false, no_cache = false;
  std::string out_dir = "uniform_integers_out", model_path, tokenizer_path, objective = "subtb";
  std::string cache_dir = ui::default_cache_dir().string(), stop_name = "eos";
  std::string prompt_text(ui::kPaperPrompt);
  int threads = 0, lora_rank = config.lora.rank;
  app.add_flag("--quick", quick, "Small budget for a smoke test (under a minute)");
  app.add_option("--seed", config.seed, "Seed of the fine-tunings and the evaluation")
      ->capture_default_str();
  app.add_option("--samples", config.samples,
                 fmt::format("Samples per model for every figure, at most {} {}", ui::kMaxSamples,
                             with_quick(config.samples, quick_config.samples)))
      ->check(program::in_range(1, ui::kMaxSamples));
  app.add_option("--out", out_dir, "Directory for results.json and histograms.svg")
      ->capture_default_str();
  app.add_option("--model", model_path,
                 "A real checkpoint instead of the embedded model: llama2.c model.bin, or a "
                 "Hugging Face GPT-2 / Llama folder or safetensors file (prompt: the paper's)");
  app.add_option("--tokenizer", tokenizer_path,
                 "The tokenizer of --model: llama2.c tokenizer file; for GPT-2 a folder with "
                 "vocab.json + merges.txt (default: the model folder)");
  app.add_option("--stop", stop_name,
                 "With --model: STOP is the end-of-sequence token or a newline")
      ->check(CLI::IsMember({"eos", "newline"}))
      ->capture_default_str();
  auto* cache_opt =
      app.add_option("--cache-dir", cache_dir, "Where the pretrained base model is cached")
          ->capture_default_str();
  app.add_flag("--no-cache", no_cache,
               "Always pretrain the base model, never read or write the cache")
      ->excludes(cache_opt);
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")
      ->check(program::threads())
      ->capture_default_str();
  app.add_option("--objective", objective, "GFlowNet objective: subtb (modified SubTB) or tb")
      ->check(CLI::IsMember({"subtb", "tb"}))
      ->capture_default_str();
  const auto steps = [&](const char* flag, int& value, int quick_value, const char* what) {
    return app.add_option(flag, value, fmt::format("{} {}", what, with_quick(value, quick_value)))
        ->check(program::at_least(1));
  };
  auto* gfn_steps = steps(
      "--gfn-steps", config.gfn_steps, quick_config.gfn_steps,
      fmt::format("GFlowNet training steps, {} with --model,", ui::kRealModelGfnSteps).c_str());
  auto* ppo_steps =
      steps("--ppo-steps", config.ppo_steps, quick_config.ppo_steps, "PPO rollout batches");
  auto* grpo_steps = steps("--grpo-steps", config.grpo_steps, quick_config.grpo_steps,
                           "GRPO generation batches (PPO's episodes per batch)");
  auto* sft_steps = steps("--sft-steps", config.sft_steps, quick_config.sft_steps, "SFT steps");
  auto* pretrain_steps = steps("--pretrain-steps", config.base.steps, quick_config.base.steps,
                               "Base-model pretraining steps");
  // Tuning knobs (docs/uniform_integers.md).
  auto& e = config.gfn_exploration;
  app.add_option("--gfn-lr", config.gfn_lr, "GFlowNet learning rate")
      ->check(program::positive_real())
      ->capture_default_str();
  app.add_option("--min-len", config.gfn_min_len,
                 "GFlowNet: STOP masked before this many answer tokens")
      ->check(program::in_range(0, ui::kMaxAnswerTokens))
      ->capture_default_str();
  app.add_option("--lora-rank", lora_rank, "LoRA rank of every fine-tuning (alpha = rank)")
      ->check(program::in_range(1, 1024))
      ->capture_default_str();
  app.add_option("--base-width", config.base.d_model,
                 fmt::format("Width (d_model) of the embedded base model, a multiple of its {} "
                             "heads",
                             config.base.n_head))
      ->check(program::in_range(config.base.n_head, 4096))
      ->capture_default_str();
  app.add_option("--gfn-batch", config.gfn_batch, "GFlowNet trajectories per behaviour group")
      ->check(program::in_range(1, 4096))
      ->capture_default_str();
  app.add_option("--gfn-buffer", config.gfn_buffer, "GFlowNet replay capacity")
      ->check(program::in_range(1, 1 << 20))
      ->capture_default_str();
  auto* p_on = app.add_option("--p-on-policy", e.p_on_policy,
                              "GFlowNet exploration: on-policy share (replay takes 1 - on-policy "
                              "- tempered)")
                   ->check(program::probability())
                   ->capture_default_str();
  auto* p_tempered =
      app.add_option("--p-tempered", e.p_tempered, "GFlowNet exploration: tempered share")
          ->check(program::probability())
          ->capture_default_str();
  app.add_option("--t-high", e.t_high,
                 fmt::format("GFlowNet exploration: highest behaviour temperature (at least the "
                             "lowest, {})",
                             e.t_low))
      ->check(program::in_range(e.t_low, 100))
      ->capture_default_str();
  app.add_option("--replay-rows", e.replay_rows_per_query,
                 "GFlowNet exploration: of each fresh group's rows, this many replayed from the "
                 "buffer (below --gfn-batch)")
      ->check(program::in_range(0, 4095))
      ->capture_default_str();
  app.add_option("--subtb-root-flow", config.gfn_subtb_root_flow,
                 "Modified SubTB: learned log F of the masked root (1) or none (0)")
      ->check(CLI::IsMember({"0", "1"}))
      ->capture_default_str();
  app.add_option("--subtb-lambda", config.gfn_subtb_lambda,
                 "Modified SubTB: lambda (sub-trajectory decay), > 0")
      ->check(program::positive_real())
      ->capture_default_str();
  app.add_option("--buffer-tolerance", config.gfn_buffer_tolerance,
                 "GFlowNet replay: near-duplicate tolerance (0: exact duplicates only)")
      ->check(program::in_range(0, 1))
      ->capture_default_str();
  app.add_option("--seed-answers", config.seed_answers,
                 "Known-good answers, evenly spaced over 0..100, seeded into the GFlowNet's replay "
                 "buffer; SFT then trains on them alone (for a base that never answers validly) "
                 "(default 0; with --model: " +
                     std::to_string(ui::kRealModelSeedAnswers) + ")")
      ->check(program::in_range(0, ui::kNumValues));
  app.add_option("--stop-after-digit", config.stop_after_digit,
                 "STOP only right after a token ending in a digit, for GFlowNet, PPO and SFT alike "
                 "(default 0; with --model: 1)")
      ->check(CLI::IsMember({"0", "1"}));
  app.add_option("--digits-only", config.digits_only,
                 "Vocabulary mask: only tokens that are all digits (and STOP), for GFlowNet, PPO "
                 "and SFT alike")
      ->check(CLI::IsMember({"0", "1"}))
      ->capture_default_str();
  app.add_option("--train-answer-tokens", config.train_answer_tokens,
                 "Each fine-tuning also trains the embedding and head rows of the digit tokens "
                 "and STOP (for a base that never learned them, as stories260K) (default 0; with "
                 "--model: 1)")
      ->check(CLI::IsMember({"0", "1"}));
  app.add_option("--prompt", prompt_text,
                 "With --model: the request (default: the paper's); another wording is a "
                 "validation prompt for choosing settings")
      ->check(program::non_empty());
  app.add_option("--curve-every", config.gfn_curve_every,
                 "Record the GFlowNet's exact KL and validity every N steps (0: never)")
      ->check(program::at_least(0))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Everything is checked before any work: combinations, paths, the whole config.
  GFNLM_CHECK(!model_path.empty() || tokenizer_path.empty(), "--tokenizer needs --model");
  GFNLM_CHECK(!model_path.empty() || app.count("--stop") == 0, "--stop needs --model");
  GFNLM_CHECK(!model_path.empty() || app.count("--prompt") == 0, "--prompt needs --model");
  if (!model_path.empty()) program::require_existing(model_path, "--model");
  if (!tokenizer_path.empty()) program::require_existing(tokenizer_path, "--tokenizer");
  if (p_on->count() + p_tempered->count() > 0) {
    e.p_replay = 1.0 - e.p_on_policy - e.p_tempered;
    GFNLM_CHECK(e.p_replay >= -1e-12,
                "--p-on-policy {} plus --p-tempered {} is more than 1 (replay takes the rest)",
                e.p_on_policy, e.p_tempered);
    e.p_replay = std::max(0.0, e.p_replay);
  }
  GFNLM_CHECK(e.replay_rows_per_query < config.gfn_batch,
              "--replay-rows {} leaves no fresh row: it must be below --gfn-batch {}",
              e.replay_rows_per_query, config.gfn_batch);
  GFNLM_CHECK(config.base.d_model % config.base.n_head == 0,
              "--base-width {} is not a multiple of the base model's {} heads", config.base.d_model,
              config.base.n_head);
  if (quick) {
    if (gfn_steps->count() == 0) config.gfn_steps = quick_config.gfn_steps;
    if (ppo_steps->count() == 0) config.ppo_steps = quick_config.ppo_steps;
    if (grpo_steps->count() == 0) config.grpo_steps = quick_config.grpo_steps;
    if (sft_steps->count() == 0) config.sft_steps = quick_config.sft_steps;
    if (pretrain_steps->count() == 0) config.base.steps = quick_config.base.steps;
    if (app.count("--samples") == 0) config.samples = quick_config.samples;
  }
  if (!model_path.empty()) {  // a real checkpoint: the help of with_real_model_help, where unset
    const auto help = ui::with_real_model_help(config);
    if (app.count("--train-answer-tokens") == 0)
      config.train_answer_tokens = help.train_answer_tokens;
    if (app.count("--seed-answers") == 0) config.seed_answers = help.seed_answers;
    if (app.count("--stop-after-digit") == 0) config.stop_after_digit = help.stop_after_digit;
    if (app.count("--digits-only") == 0) config.digits_only = help.digits_only;
    if (gfn_steps->count() == 0 && !quick) config.gfn_steps = help.gfn_steps;
  }
  config.lora.rank = lora_rank;
  config.lora.alpha = double(lora_rank);
  config.gfn_objective = objective == "tb" ? ui::ExperimentConfig::Objective::trajectory_balance
                                           : ui::ExperimentConfig::Objective::modified_subtb;
  config.cache_dir = no_cache ? std::filesystem::path() : std::filesystem::path(cache_dir);
  config.world = &world;  // under mpirun: the GFlowNet phase over the ranks, rank 0 writes
  config.validate();
  program::require_writable_directory(out_dir, "--out");
  if (!no_cache && model_path.empty())
    program::require_writable_directory(cache_dir, "--cache-dir");
  program::apply_threads(threads);

  const auto progress = [](std::string_view line) {
    fmt::print(stderr, "{}\n", line);
    std::fflush(stderr);
  };
  const std::string prompt(model_path.empty() ? std::string(ui::kCharPrompt) : prompt_text);
  const auto json_path = std::filesystem::path(out_dir) / "results.json";
  const auto write_json = [&](const ui::ExperimentResults& r, bool complete) {
    if (world.rank() != 0) return;
    const auto j = results_json(r, config, prompt, objective, model_path, tokenizer_path, stop_name,
                                quick, complete);
    gfnlm::write_file_atomically(json_path, [&](std::ostream& os) {
      os << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    });
  };
  // results.json is rewritten after every model's evaluation ("complete": false until the end).
  const auto on_evaluated = [&](const ui::ExperimentResults& r) { write_json(r, false); };
  const ui::ExperimentResults results =
      model_path.empty() ? ui::run_experiment(config, progress, on_evaluated)
                         : run_real_model(model_path, tokenizer_path, stop_name, prompt, config,
                                          progress, on_evaluated);

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
             !model_path.empty()       ? model_path
             : results.base_from_cache ? "from cache"
                                       : "pretrained");
  write_json(results, true);
  const auto svg_path = std::filesystem::path(out_dir) / "histograms.svg";
  if (world.rank() != 0) return 0;
  gfnlm::write_file_atomically(
      svg_path, [&](std::ostream& os) { os << histograms_svg(results, config.samples, prompt); });
  fmt::print(stderr, "wrote {} and {}\n", json_path.string(), svg_path.string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gfnlm::program::run_ranked("uniform_integers", [&](gfnlm::Communicator& world) {
    return run_program(argc, argv, world);
  });
}
