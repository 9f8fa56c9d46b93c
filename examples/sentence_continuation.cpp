// Sentence continuation (paper section 4.1, issue 19) on a real pretrained model: X = the first
// 1-3 sentences of a TinyStories paragraph, Z = one next sentence; a GFlowNet fine-tuned to sample
// Z with probability proportional to p_LM(Z | X)^(1/T) against greedy, beam, diverse beam,
// nucleus and ancestral decoding of the base, n samples per test prompt each
// (tasks/stories/continuation.hpp). Writes results.json, samples.jsonl (for
// scripts/sentence_diversity.py, the paper's embedding diversity) and figure3.svg (max
// log-likelihood against diversity, one point per method, the paper's Figure 3).
//
//   sentence_continuation --out runs/continuation --seed 0 --threads 2
#include "load_checkpoint.hpp"
#include "program.hpp"
#include "stories_program.hpp"

#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/eval/svg/line_chart.hpp>
#include <gfnlm/tasks/stories.hpp>
#include <gfnlm/tasks/stories/continuation.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace st = gfnlm::stories;
using nlohmann::json;

struct Options : gfnlm::program::StoriesInputs {
  Options() { out = "runs/sentence_continuation"; }
  uint64_t split_seed = 7;
  st::SplitSizes sizes{1200, 100, 322};
  bool quick = false;
  st::ContinuationConfig config;
};

json method_json(const st::MethodResult& r) {
  return {{"method", r.method},
          {"setting", r.setting},
          {"mean_log_likelihood", r.mean_ll},
          {"max_log_likelihood", r.max_ll},
          {"edit_diversity", r.edit_diversity},
          {"distinct_2", r.distinct2},
          {"distinct_samples", r.distinct_samples},
          {"seconds", r.seconds}};
}

std::string figure(const st::ContinuationResults& results, int n) {
  gfnlm::LineChart chart;
  chart.title =
      fmt::format("Sentence continuation: max log-likelihood against diversity (n = {})", n);
  chart.x_label = "diversity (mean pairwise normalised edit distance)";
  chart.y_label = "max log p_LM(Z | X), mean over prompts";
  chart.markers = true;
  for (const auto& r : results.methods)
    chart.series.push_back({r.setting.empty() ? r.method : r.method + " (" + r.setting + ")",
                            {r.edit_diversity},
                            {r.max_ll}});
  return gfnlm::to_svg(chart);
}

template <class Model, class Tok>
int run(Model& model, const Tok& tok, const Options& o) {
  const auto paragraphs = st::read_paragraphs(o.data, st::kTinyStoriesMinSentences);
  const auto split = st::split_paragraphs(st::ascii_paragraphs(paragraphs), o.sizes, o.split_seed);
  const auto& eval_ids = o.split == "test" ? split.test : split.validation;
  const bool bos = tok.bos_id() >= 0;
  const auto queries = [&](const std::vector<std::size_t>& ids, std::size_t limit, int64_t base) {
    std::vector<gfnlm::LmQuery> out;
    for (const auto& item :
         st::continuation_items(paragraphs, ids, st::ItemChoice::one_per_paragraph, o.split_seed)) {
      if (out.size() == limit) break;
      auto q = st::to_query(st::tokenize(tok, item, bos), base + int64_t(out.size()));
      st::check_fits(q, o.config.max_len, model.config().max_seq_len, item.name());
      out.push_back(std::move(q));
    }
    return out;
  };
  const auto train = queries(split.train, split.train.size(), 0);
  const auto eval = queries(eval_ids, std::size_t(o.config.eval_prompts), 1'000'000);
  // STOP is the "." token (SPEC section 3): the one the tokenizer ends a sentence with (not a
  // byte-fallback token of the same text, which tok512 also has and never produces).
  const auto ended = tok.encode("It ended.");
  const int32_t period = ended.empty() ? -1 : ended.back();
  GFNLM_CHECK(period >= 0 && tok.token_text(period) == ".",
              "the tokenizer ends \"It ended.\" with token {} ({:?}), not a \".\" token to serve "
              "as STOP",
              period, period >= 0 ? tok.token_text(period) : std::string());
  fmt::print(stderr,
             "{} paragraphs: {} train / {} validation / {} test (split seed {}); "
             "{} {} prompts evaluated; STOP = \".\" (token {})\n",
             paragraphs.size(), split.train.size(), split.validation.size(), split.test.size(),
             o.split_seed, eval.size(), o.split, period);

  const fs::path out(o.out);
  const auto text = [&](const std::vector<int32_t>& ids) { return tok.decode(ids); };
  const auto sentence = [&](std::vector<int32_t> z) {  // Z and its STOP, the "."
    z.push_back(period);
    return tok.decode(z);
  };
  const auto write = [&](const st::ContinuationResults& r, bool complete) {
    json j{{"experiment", "sentence_continuation"},
           {"complete", complete},
           {"model", o.model},
           {"data", o.data},
           {"seed", o.config.seed},
           {"split",
            {{"seed", o.split_seed},
             {"train", o.sizes.train},
             {"validation", o.sizes.validation},
             {"test", o.sizes.test},
             {"evaluated", o.split}}},
           {"samples_per_prompt", o.config.samples},
           {"prompts", eval.size()},
           {"quick", o.quick},
           {"train_seconds", r.train_seconds}};
    for (const auto& m : r.methods) j["methods"].push_back(method_json(m));
    for (const auto& p : r.curve)
      j["curve"].push_back({{"step", p.step},
                            {"loss", p.loss},
                            {"mean_log_r", p.mean_log_r},
                            {"log_z", p.log_z},
                            {"log_z_spread", p.log_z_spread},
                            {"reward_temperature", p.reward_temperature}});
    gfnlm::write_file_atomically(out / "results.json", [&](std::ostream& os) {
      os << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    });
    gfnlm::write_file_atomically(out / "samples.jsonl", [&](std::ostream& os) {
      for (const auto& m : r.methods)
        for (std::size_t p = 0; p < m.samples.size(); ++p) {
          json line{{"method", m.method},
                    {"setting", m.setting},
                    {"seed", o.config.seed},
                    {"prompt", p},
                    {"context", text(eval[p].prompt)}};
          for (std::size_t i = 0; i < m.samples[p].size(); ++i) {
            line["samples"].push_back(sentence(m.samples[p][i]));
            line["log_likelihood"].push_back(m.log_likelihood[p][i]);
          }
          os << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
        }
    });
  };
  const auto results = st::run_continuation(
      model, period, train, eval, o.config,
      [](const std::string& line) {
        fmt::print(stderr, "{}\n", line);
        std::fflush(stderr);
      },
      [&](const st::ContinuationResults& r) { write(r, false); });
  write(results, true);
  gfnlm::write_file_atomically(out / "figure3.svg",
                               [&](std::ostream& os) { os << figure(results, o.config.samples); });

  fmt::print("\n{:<13} {:<10} {:>9} {:>9} {:>9} {:>10} {:>9}\n", "method", "setting", "mean LL",
             "max LL", "edit div", "distinct-2", "distinct");
  for (const auto& r : results.methods)
    fmt::print("{:<13} {:<10} {:>9.2f} {:>9.2f} {:>9.3f} {:>10.3f} {:>9.1f}\n", r.method, r.setting,
               r.mean_ll, r.max_ll, r.edit_diversity, r.distinct2, r.distinct_samples);
  const auto spread = [&](std::size_t from, std::size_t to) {
    double total = 0;
    for (std::size_t i = from; i < to; ++i) total += results.curve[i].log_z_spread;
    return total / double(to - from);
  };
  const std::size_t tenth = std::max<std::size_t>(1, results.curve.size() / 10);
  fmt::print(
      "log Z estimate's spread (std of log R - log q per prompt): first tenth {:.3f}, "
      "last tenth {:.3f}; GFlowNet trained in {:.1f} s\n",
      spread(0, tenth), spread(results.curve.size() - tenth, results.curve.size()),
      results.train_seconds);
  fmt::print(stderr, "wrote {}/results.json, samples.jsonl and figure3.svg\n", o.out);
  return 0;
}

int run_program(int argc, char** argv) {
  namespace program = gfnlm::program;
  Options o;
  auto& c = o.config;
  CLI::App app{"Sentence continuation with a GFlowNet against decoding baselines (paper 4.1)"};
  program::add_stories_options(app, o, "prompts");
  app.add_option("--seed", c.seed, "seed of the GFlowNet and of every sampler");
  app.add_option("--samples", c.samples, "n samples per prompt, every method")
      ->check(program::in_range(2, 1000));
  app.add_option("--prompts", c.eval_prompts, "prompts evaluated")
      ->check(program::in_range(1, 322));
  app.add_option("--max-len", c.max_len, "tokens of Z at most")->check(program::in_range(1, 200));
  app.add_option("--steps", c.steps, "GFlowNet steps")->check(program::in_range(1, 1e6));
  app.add_option("--prompts-per-step", c.prompts_per_step, "training prompts per step")
      ->check(program::in_range(1, 1024));
  app.add_option("--trajectories", c.trajectories, "trajectories per prompt and step")
      ->check(program::in_range(2, 1024));
  app.add_option("--lr", c.lr, "GFlowNet learning rate")->check(program::positive_real());
  app.add_option("--lora-rank", c.lora.rank, "LoRA rank")->check(program::in_range(1, 4096));
  app.add_option("--reward-t-end", c.reward_t_end, "final reward temperature T_R")
      ->check(program::positive_real());
  app.add_option("--reward-t-steps", c.reward_t_steps, "steps of the T_R anneal from 1")
      ->check(program::in_range(0, 1e6));
  app.add_option("--diversity-penalty", c.diversity_penalty, "diverse beam search's penalty")
      ->check(program::in_range(0, 1e6));
  app.add_option("--top-p", c.top_p, "nucleus sampling's p")->check(program::in_range(1e-9, 1));
  app.add_flag("--quick", o.quick, "a run of about a minute (tests): few steps and prompts");
  CLI11_PARSE(app, argc, argv);

  program::resolve_stories_inputs(o);
  if (o.quick) {
    if (app.count("--steps") == 0) c.steps = 20;
    if (app.count("--prompts") == 0) c.eval_prompts = 3;
    if (app.count("--samples") == 0) c.samples = 4;
    c.reward_t_steps = std::min(c.reward_t_steps, c.steps);
    c.progress_every = 10;
  }
  c.lora.alpha = double(c.lora.rank);
  c.validate();
  program::prepare_stories_run(o);
  return program::with_checkpoint(o.model, o.tokenizer,
                                  [&](auto& model, const auto& tok) { return run(model, tok, o); });
}

}  // namespace

int main(int argc, char** argv) {
  return gfnlm::program::run("sentence_continuation", [&] { return run_program(argc, argv); });
}
