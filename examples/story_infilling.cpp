// Story infilling (paper section 4.2, issue 19) on a real pretrained model: X = the sentences of
// a TinyStories paragraph before a held-out one, Y = the sentence after it, Z = the held-out
// sentence. Prompting (the base after X), SFT on the reference infills and a GFlowNet trained to
// sample Z with probability proportional to p_LM(Z Y | X)^(1/T_R), K samples per test item each
// (tasks/stories/infilling.hpp). Writes results.json, samples.jsonl (for
// scripts/sentence_diversity.py) and bleu.svg (BLEU-4 and GLEU-4 by method).
//
//   story_infilling --out runs/infilling --seed 0 --threads 2
#include "load_checkpoint.hpp"
#include "program.hpp"
#include "stories_program.hpp"

#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/eval/svg/bar_chart.hpp>
#include <gfnlm/tasks/stories.hpp>
#include <gfnlm/tasks/stories/infilling.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace st = gfnlm::stories;
using nlohmann::json;

struct Options : gfnlm::program::StoriesInputs {
  Options() { out = "runs/story_infilling"; }
  std::string condition = "yx";
  int items = 322, train_items = 1200;
  uint64_t split_seed = 7;
  st::SplitSizes sizes{1200, 100, 322};  // the continuation example's split of the 1,622
  bool quick = false, no_seed_buffer = false;
  st::InfillingConfig config;
};

json method_json(const st::InfillMethodResult& r) {
  return {{"method", r.method},
          {"bleu4", r.bleu4},
          {"gleu4", r.gleu4},
          {"log_p_xzy", r.log_p_xzy},
          {"log_p_zy_given_x", r.log_p_zy},
          {"edit_diversity", r.edit_diversity},
          {"distinct_2", r.distinct2},
          {"distinct_samples", r.distinct_samples},
          {"mean_tokens", r.tokens},
          {"seconds", r.seconds}};
}

json diagnosis_json(const st::RewardDiagnosis& d) {
  return {{"method", d.method},
          {"ref_above_median_sample", d.ref_above_median},
          {"ref_above_every_sample", d.ref_above_max},
          {"ref_percentile", d.ref_percentile},
          {"ref_log_zy", d.ref_log_zy},
          {"bleu4_of_highest_reward_sample", d.bleu_of_best},
          {"reward_bleu_correlation", d.reward_bleu_corr}};
}

std::string figure(const st::InfillingResults& results) {
  gfnlm::GroupedBarChart chart;
  chart.title = "Story infilling: BLEU-4 and GLEU-4 against the reference sentence";
  chart.y_label = "score (mean over items of the mean over K samples)";
  chart.groups = {"BLEU-4", "GLEU-4"};
  chart.show_values = true;
  chart.value_decimals = 3;
  for (const auto& r : results.methods) chart.series.push_back({r.method, {r.bleu4, r.gleu4}, {}});
  return gfnlm::to_svg(chart);
}

template <class Model, class Tok>
int run(Model& model, const Tok& tok, const Options& o) {
  const auto& c = o.config;
  const auto paragraphs = st::read_paragraphs(o.data, st::kTinyStoriesMinSentences);
  const auto pool = st::ascii_paragraphs(paragraphs);
  auto sizes = o.sizes;
  if (pool.size() < sizes.train + sizes.validation + sizes.test) {  // a small --data file
    sizes.validation = sizes.test = std::max<std::size_t>(1, pool.size() / 5);
    GFNLM_CHECK(pool.size() >= 2 * sizes.test + 1,
                "--data '{}': {} ASCII paragraphs are too few to split into training and test",
                o.data, pool.size());
    sizes.train = pool.size() - 2 * sizes.test;
  }
  const auto split = st::split_paragraphs(pool, sizes, o.split_seed);
  const bool bos = tok.bos_id() >= 0;
  const int32_t stop = tok.eos_id();
  GFNLM_CHECK(stop >= 0 && stop < model.config().vocab_size,
              "the tokenizer has no end-of-sequence token to serve as STOP");
  const auto ends = st::sentence_end_tokens(tok);
  GFNLM_CHECK(!ends.empty(), "the tokenizer has no sentence-end token ('.', '!', '?')");
  const auto condition =
      o.condition == "x" ? st::InfillConditioning::x : st::InfillConditioning::y_then_x;
  int dropped = 0;
  const auto items = [&](const std::vector<std::size_t>& ids, std::size_t limit, int64_t base) {
    std::vector<st::InfillItem> out;
    for (const auto& item :
         st::infilling_items(paragraphs, ids, st::ItemChoice::one_per_paragraph, o.split_seed)) {
      if (out.size() == limit) break;
      const auto t = st::tokenize(tok, item, bos);
      const int64_t id = base + int64_t(out.size());
      st::InfillItem it{st::to_query(t, id), st::policy_prompt(t, condition, tok.bos_id()), t.z,
                        item.z};
      st::check_fits(it.reward, c.max_len, model.config().max_seq_len, item.name());
      st::check_fits({it.policy_prompt, {}, id}, c.max_len, model.config().max_seq_len,
                     item.name() + " (the policy's prompt, Y then X)");
      // The reference must lie in the target's support (Z of min_len to max_len tokens).
      if (int(t.z.size()) < c.min_len || int(t.z.size()) > c.max_len) {
        ++dropped;
        continue;
      }
      out.push_back(std::move(it));
    }
    return out;
  };
  const auto& eval_ids = o.split == "test" ? split.test : split.validation;
  const auto train = items(split.train, std::size_t(o.train_items), 0);
  const auto eval = items(eval_ids, std::size_t(o.items), 1'000'000);
  GFNLM_CHECK(!train.empty() && !eval.empty(),
              "--data '{}': no infilling items (need paragraphs of 3+ sentences whose held-out "
              "sentence has {} to {} tokens)",
              o.data, c.min_len, c.max_len);
  fmt::print(stderr,
             "{} paragraphs ({} ASCII): {} train / {} validation / {} test (split seed {}); "
             "{} training and {} {} items ({} dropped: reference outside {}..{} tokens); "
             "STOP = token {}, after {} sentence-end tokens\n",
             paragraphs.size(), pool.size(), split.train.size(), split.validation.size(),
             split.test.size(), o.split_seed, train.size(), eval.size(), o.split, dropped,
             c.min_len, c.max_len, stop, ends.size());

  const fs::path out(o.out);
  const auto text = [&](const std::vector<int32_t>& ids) { return tok.decode(ids); };
  const auto write = [&](const st::InfillingResults& r, bool complete) {
    json j{{"experiment", "story_infilling"},
           {"complete", complete},
           {"model", o.model},
           {"data", o.data},
           {"seed", c.seed},
           {"quick", o.quick},
           {"split",
            {{"seed", o.split_seed},
             {"train", sizes.train},
             {"validation", sizes.validation},
             {"test", sizes.test},
             {"evaluated", o.split},
             {"train_items", train.size()},
             {"eval_items", eval.size()},
             {"dropped_items", dropped}}},
           {"config",
            {{"samples_per_item", c.samples},
             {"min_len", c.min_len},
             {"max_len", c.max_len},
             {"conditioning", o.condition},
             {"steps", c.steps},
             {"prompts_per_step", c.prompts_per_step},
             {"trajectories", c.trajectories},
             {"lr", c.lr},
             {"lora_rank", c.lora.rank},
             {"reward_t", {c.reward_t_start, c.reward_t_end, c.reward_t_steps}},
             {"buffer", c.buffer},
             {"seed_buffer", c.seed_buffer},
             {"objective",
              c.objective == st::InfillObjective::subtb ? "modified_subtb" : "vargrad_tb"},
             {"gfn_from_sft", c.gfn_from_sft && c.run_sft},
             {"sft_batch", c.sft_batch},
             {"sft_lr", c.sft_lr}}},
           {"metrics_note",
            "BLEU-4 (nltk method1) and GLEU-4 on str.split() words of the decoded text; mean "
            "over items of the mean over K samples"},
           {"sft_seconds", r.sft_seconds},
           {"gfn_seconds", r.gfn_seconds},
           {"seeded_buffer", r.seeded}};
    for (const auto& m : r.methods) j["methods"].push_back(method_json(m));
    for (const auto& d : r.diagnosis) j["diagnosis"].push_back(diagnosis_json(d));
    for (const auto& p : r.gfn_curve)
      j["gfn_curve"].push_back({{"step", p.step},
                                {"loss", p.loss},
                                {"mean_log_r", p.mean_log_r},
                                {"log_z_spread", p.log_z_spread},
                                {"reward_temperature", p.reward_temperature},
                                {"samples_per_s", p.samples_per_s}});
    for (const auto& p : r.sft_curve) j["sft_curve"].push_back({{"step", p.step}, {"nll", p.loss}});
    gfnlm::write_file_atomically(out / "results.json", [&](std::ostream& os) {
      os << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    });
    gfnlm::write_file_atomically(out / "samples.jsonl", [&](std::ostream& os) {
      for (const auto& m : r.methods)
        for (std::size_t p = 0; p < m.samples.size(); ++p) {
          json line{{"method", m.method},
                    {"setting", o.condition},
                    {"seed", c.seed},
                    {"prompt", p},
                    {"x", text(eval[p].reward.prompt)},
                    {"y", text(eval[p].reward.suffix)},
                    {"reference", eval[p].reference},
                    {"reference_log_zy", r.ref_log_zy[p]},
                    {"samples", m.texts[p]},
                    {"log_zy", m.log_zy[p]},
                    {"bleu4", m.bleu[p]}};
          os << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
        }
    });
  };
  const auto results = st::run_infilling(
      model, stop, ends, std::span<const st::InfillItem>(train),
      std::span<const st::InfillItem>(eval), text, c,
      [](const std::string& line) {
        fmt::print(stderr, "{}\n", line);
        std::fflush(stderr);
      },
      [&](const st::InfillingResults& r) { write(r, false); });
  write(results, true);
  gfnlm::write_file_atomically(out / "bleu.svg", [&](std::ostream& os) { os << figure(results); });

  fmt::print("\n{:<10} {:>8} {:>8} {:>11} {:>11} {:>9} {:>10} {:>9} {:>7}\n", "method", "BLEU-4",
             "GLEU-4", "log p(XZY)", "log p(ZY|X)", "edit div", "distinct-2", "distinct", "tokens");
  for (const auto& r : results.methods)
    fmt::print(
        "{:<10} {:>8.4f} {:>8.4f} {:>11.2f} {:>11.2f} {:>9.3f} {:>10.3f} {:>9.1f} {:>7.1f}\n",
        r.method, r.bleu4, r.gleu4, r.log_p_xzy, r.log_p_zy, r.edit_diversity, r.distinct2,
        r.distinct_samples, r.tokens);
  fmt::print("\nreward diagnosis: log p(Z_ref Y | X) against each method's samples\n");
  fmt::print("{:<10} {:>12} {:>12} {:>11} {:>12} {:>13}\n", "method", "ref > median", "ref > all",
             "percentile", "BLEU of best", "corr(R, BLEU)");
  for (const auto& d : results.diagnosis)
    fmt::print("{:<10} {:>12.3f} {:>12.3f} {:>11.3f} {:>12.4f} {:>13.3f}\n", d.method,
               d.ref_above_median, d.ref_above_max, d.ref_percentile, d.bleu_of_best,
               d.reward_bleu_corr);
  fmt::print("SFT trained in {:.1f} s, GFlowNet in {:.1f} s\n", results.sft_seconds,
             results.gfn_seconds);
  fmt::print(stderr, "wrote {}/results.json, samples.jsonl and bleu.svg\n", o.out);
  return 0;
}

int run_program(int argc, char** argv) {
  namespace program = gfnlm::program;
  Options o;
  auto& c = o.config;
  CLI::App app{"Story infilling: prompting, SFT and a GFlowNet (paper section 4.2)"};
  program::add_stories_options(app, o, "items");
  app.add_option("--seed", c.seed, "seed of the fine-tunings and of every sampler");
  app.add_option("--items", o.items, "test items evaluated")->check(program::in_range(1, 100000));
  app.add_option("--train-items", o.train_items, "training items")
      ->check(program::in_range(1, 100000));
  app.add_option("--samples", c.samples, "K samples per item, every method")
      ->check(program::in_range(2, 1000));
  app.add_option("--condition", o.condition,
                 "what SFT and the GFlowNet see: x (X alone) or yx (Y, then X)")
      ->check(CLI::IsMember({"x", "yx"}));
  app.add_option("--min-len", c.min_len, "tokens of Z at least")->check(program::in_range(1, 200));
  app.add_option("--max-len", c.max_len, "tokens of Z at most")->check(program::in_range(1, 200));
  app.add_option("--steps", c.steps, "GFlowNet (and SFT) steps")->check(program::in_range(1, 1e6));
  app.add_option("--prompts-per-step", c.prompts_per_step, "training prompts per GFlowNet step")
      ->check(program::in_range(1, 1024));
  app.add_option("--trajectories", c.trajectories, "trajectories per prompt and step")
      ->check(program::in_range(2, 1024));
  app.add_option("--sft-batch", c.sft_batch, "reference infills per SFT step")
      ->check(program::in_range(1, 4096));
  app.add_option("--lr", c.lr, "GFlowNet learning rate")->check(program::positive_real());
  app.add_option("--sft-lr", c.sft_lr, "SFT learning rate")->check(program::positive_real());
  app.add_option("--lora-rank", c.lora.rank, "LoRA rank")->check(program::in_range(1, 4096));
  app.add_option("--reward-t-start", c.reward_t_start, "initial reward temperature T_R")
      ->check(program::positive_real());
  app.add_option("--reward-t-end", c.reward_t_end, "final reward temperature T_R")
      ->check(program::positive_real());
  app.add_option("--reward-t-steps", c.reward_t_steps, "steps of the T_R anneal")
      ->check(program::in_range(0, 1e6));
  app.add_option("--buffer", c.buffer, "replay buffer size per prompt")
      ->check(program::in_range(1, 100000));
  auto& e = c.exploration;
  app.add_option("--p-on-policy", e.p_on_policy, "behaviour: on-policy probability")
      ->check(program::probability());
  app.add_option("--p-tempered", e.p_tempered, "behaviour: tempered probability")
      ->check(program::probability());
  app.add_option("--p-replay", e.p_replay, "behaviour: replay probability")
      ->check(program::probability());
  app.add_option("--t-high", e.t_high, "tempered behaviour: highest temperature")
      ->check(program::in_range(0.5, 10));
  std::string objective = "vargrad";
  app.add_option("--objective", objective,
                 "GFlowNet loss: vargrad (VarGrad TB) or subtb (modified SubTB)")
      ->check(CLI::IsMember({"vargrad", "subtb"}));
  std::vector<std::string> methods{"prompting", "sft", "gfn"};
  app.add_option("--methods", methods, "methods to run (prompting always runs)")
      ->delimiter(',')
      ->check(CLI::IsMember({"prompting", "sft", "gfn"}));
  app.add_flag("--gfn-from-sft,!--gfn-fresh", c.gfn_from_sft,
               "start the GFlowNet from SFT's adapters (default) or from fresh ones");
  app.add_flag("--no-seed-buffer", o.no_seed_buffer,
               "do not seed the replay buffer with the reference infills");
  app.add_flag("--quick", o.quick, "a run of under a minute (tests): few steps and items");
  CLI11_PARSE(app, argc, argv);
  GFNLM_CHECK(c.min_len <= c.max_len, "--min-len {} is above --max-len {}", c.min_len, c.max_len);

  program::resolve_stories_inputs(o);
  if (o.quick) {
    if (app.count("--steps") == 0) c.steps = 10;
    if (app.count("--items") == 0) o.items = 4;
    if (app.count("--train-items") == 0) o.train_items = 40;
    if (app.count("--samples") == 0) c.samples = 4;
    c.reward_t_steps = std::min(c.reward_t_steps, c.steps);
    c.progress_every = 5;
  }
  c.seed_buffer = !o.no_seed_buffer;
  c.objective = objective == "subtb" ? st::InfillObjective::subtb : st::InfillObjective::vargrad;
  c.run_sft = std::find(methods.begin(), methods.end(), "sft") != methods.end();
  c.run_gfn = std::find(methods.begin(), methods.end(), "gfn") != methods.end();
  c.lora.alpha = double(c.lora.rank);
  c.validate();
  program::prepare_stories_run(o);
  return program::with_checkpoint(o.model, o.tokenizer,
                                  [&](auto& model, const auto& tok) { return run(model, tok, o); });
}

}  // namespace

int main(int argc, char** argv) {
  return gfnlm::program::run("story_infilling", [&] { return run_program(argc, argv); });
}
