// Subjectivity classification from k labels with latent rationales (paper section 4.3, issue 23):
// zero-shot, few-shot, SFT and EM with a GFlowNet E-step (tasks/subjectivity/experiment.hpp) for
// every k and seed asked for, on the paper's own SUBJ split. Writes results.json (after every
// method, atomically) and accuracy.svg (mean accuracy against k, one line per method).
//
//   subjectivity --out runs/subjectivity --threads 2                  (k = 10, seeds 0-2)
//   subjectivity --out runs/subjectivity --labels 10,20,50,0 --threads 2   (docs/subjectivity.md)
#include "load_checkpoint.hpp"
#include "program.hpp"
#include "stories_program.hpp"

#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/eval/svg/line_chart.hpp>
#include <gfnlm/tasks/subjectivity/dataset.hpp>
#include <gfnlm/tasks/subjectivity/experiment.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace sj = gfnlm::subjectivity;
using nlohmann::json;

struct Options {
  std::string model, tokenizer, data, out = "runs/subjectivity";
  std::vector<int> labels{10};  // 0: all 8,000; the table: --labels 10,20,50,0
  std::vector<uint64_t> seeds{0, 1, 2};
  int test_items = 300, threads = 0;  // the default run: under 20 minutes on 2 cores
  bool quick = false;
  sj::ExperimentConfig config;
};

// The paper's figures (instruct GPT-J 6B), where it gives them: 10 labels (its GFlowNet row is
// the E-step alone, issue 23).
const std::map<std::string, double> kPaperAt10{{"sft", 64.3}, {"e_step", 71.4}};

json run_json(int k, uint64_t seed, const sj::ExperimentResults& r) {
  json methods = json::array(), rounds = json::array();
  for (const auto& m : r.methods)
    methods.push_back({{"method", m.method}, {"accuracy", m.accuracy}, {"seconds", m.seconds}});
  for (const auto& e : r.em_rounds)
    rounds.push_back({{"e_loss", e.e_loss},
                      {"e_mean_log_r", e.e_mean_log_r},
                      {"right_share", e.right_share},
                      {"distinct_rationales", e.distinct_rationales},
                      {"m_loss_first", e.m_loss_first},
                      {"m_loss_last", e.m_loss_last},
                      {"seconds", e.seconds}});
  return {{"k", k},
          {"seed", seed},
          {"labelled", r.labelled},
          {"test", r.test},
          {"few_shot_examples", r.few_shot_examples},
          {"majority_share", r.majority_share},
          {"methods", methods},
          {"em_rounds", rounds},
          {"oracle_items", r.oracle_items},
          {"oracle_true_label", r.oracle_true},
          {"oracle_wrong_label", r.oracle_wrong},
          {"rationales", r.rationales}};
}

// Mean and sample standard deviation over seeds of each (method, k).
struct Cell {
  std::vector<double> values;
  double mean() const {
    double s = 0;
    for (double v : values) s += v;
    return s / double(values.size());
  }
  double sd() const {
    if (values.size() < 2) return 0;
    double m = mean(), s = 0;
    for (double v : values) s += (v - m) * (v - m);
    return std::sqrt(s / double(values.size() - 1));
  }
};

template <class Model, class Tok>
int run(Model& model, const Tok& tok, const Options& o, const sj::Dataset& data) {
  const fs::path out(o.out);
  // A fixed shuffle (the file lists objective sentences first), the same for every seed and k.
  std::vector<std::size_t> idx(data.test.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  gfnlm::Rng shuffle(2024);
  for (std::size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[shuffle.below(i)]);
  std::vector<sj::Example> test;
  for (std::size_t i = 0; i < std::min<std::size_t>(o.test_items, idx.size()); ++i)
    test.push_back(data.test[idx[i]]);
  const Model pristine = model;
  json runs = json::array();
  std::map<std::string, std::map<int, Cell>> table;
  std::vector<std::string> order;
  const auto write = [&](bool final) {
    json j = {{"model", o.model},        {"data", data.source},    {"test_items", test.size()},
              {"final", final},          {"runs", runs},           {"paper_at_10", kPaperAt10},
              {"votes", o.config.votes}, {"max_z", o.config.max_z}};
    gfnlm::write_file_atomically(out / "results.json", [&](std::ostream& os) {
      // Rationales are decoded token pieces: a byte-fallback token can end mid-character.
      os << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    });
  };
  for (const int k : o.labels) {
    const auto labelled = sj::labelled_subset(data, o.data, k, /*seed=*/1234);
    for (const uint64_t seed : o.seeds) {
      fmt::print(stderr, "== k = {} ({} labelled), seed {} ==\n", k, labelled.size(), seed);
      auto c = o.config;
      c.seed = seed;
      // A fresh copy of the base per run: a model's copy carries its activation arena, and the
      // base's grows with the few-shot prompts (tasks/subjectivity/experiment.hpp).
      Model base = pristine;
      sj::Experiment<Model, Tok> experiment(base, tok, c, [](const std::string& line) {
        fmt::print(stderr, "{}\n", line);
        std::fflush(stderr);
      });
      runs.push_back(json::object());
      const auto r = experiment.run(labelled, test, [&](const sj::ExperimentResults& partial) {
        runs.back() = run_json(k, seed, partial);
        write(false);
      });
      runs.back() = run_json(k, seed, r);
      for (const auto& m : r.methods) {
        if (!table.contains(m.method)) order.push_back(m.method);
        table[m.method][k].values.push_back(100 * m.accuracy);
      }
      write(false);
    }
  }
  write(true);

  gfnlm::LineChart chart;
  chart.title = "SUBJ: test accuracy against the number of labels";
  chart.x_label = "labelled sentences k (log2)";
  chart.y_label = "accuracy % (mean over seeds)";
  chart.markers = true;
  for (const auto& name : order) {
    gfnlm::LineSeries s{name, {}, {}};
    for (const auto& [k, cell] : table[name]) {
      s.x.push_back(std::log2(double(k == 0 ? data.train.size() : std::size_t(k))));
      s.y.push_back(cell.mean());
    }
    chart.series.push_back(std::move(s));
  }
  gfnlm::write_file_atomically(out / "accuracy.svg",
                               [&](std::ostream& os) { os << gfnlm::to_svg(chart); });

  fmt::print("\nSUBJ test accuracy % ({} sentences; mean ± sd over {} seeds; paper: GPT-J 6B)\n",
             test.size(), o.seeds.size());
  fmt::print("| method |");
  for (int k : o.labels) fmt::print(" k = {} |", k == 0 ? std::string("all") : std::to_string(k));
  fmt::print(" paper, k = 10 |\n|---|");
  for (std::size_t i = 0; i <= o.labels.size(); ++i) fmt::print("---|");
  fmt::print("\n");
  for (const auto& name : order) {
    fmt::print("| {} |", name);
    for (int k : o.labels) {
      const auto it = table[name].find(k);
      if (it == table[name].end())
        fmt::print(" - |");
      else
        fmt::print(" {:.1f} ± {:.1f} |", it->second.mean(), it->second.sd());
    }
    const auto p = kPaperAt10.find(name);
    fmt::print(" {} |\n", p == kPaperAt10.end() ? std::string("-") : fmt::format("{}", p->second));
  }
  fmt::print(stderr, "wrote {}/results.json and accuracy.svg\n", o.out);
  return 0;
}

int run_program(int argc, char** argv) {
  namespace program = gfnlm::program;
  Options o;
  auto& c = o.config;
  CLI::App app{"Subjectivity classification from k labels with GFlowNet-EM (paper 4.3)"};
  program::add_model_options(app, o.model, o.tokenizer);
  app.add_option("--data", o.data, "the SUBJ folder (default: ../shared/data/subj)");
  app.add_option("--out", o.out, "output directory");
  app.add_option("--threads", o.threads, "OpenMP threads (0: OpenMP's default)")
      ->check(program::threads());
  app.add_option("--labels", o.labels, "k values, comma-separated (0: all of train)")
      ->delimiter(',')
      ->check(program::in_range(0, 8000));
  app.add_option("--seeds", o.seeds, "seeds, comma-separated")->delimiter(',');
  app.add_option("--test-items", o.test_items,
                 "test sentences evaluated (the first n of a fixed shuffle)")
      ->check(program::in_range(1, 2000));
  app.add_option("--votes", c.votes, "rationales per test sentence")
      ->check(program::in_range(1, 1000));
  app.add_option("--max-z", c.max_z, "rationale tokens at most")->check(program::in_range(1, 64));
  app.add_option("--rounds", c.em.rounds, "EM rounds (0: no EM)")->check(program::in_range(0, 100));
  app.add_option("--e-steps", c.em.e_steps, "E-step sampler steps per round")
      ->check(program::in_range(0, 1e6));
  app.add_option("--m-steps", c.em.m_steps, "M-step classifier steps per round")
      ->check(program::in_range(0, 1e6));
  app.add_option("--sft-steps", c.sft_steps, "SFT steps")->check(program::in_range(0, 1e6));
  app.add_option("--lora-rank", c.lora.rank, "LoRA rank")->check(program::in_range(1, 4096));
  app.add_option("--penalty", c.wrong_label_penalty, "nats off log R for a wrong-label rationale")
      ->check(program::in_range(0, 1e6));
  app.add_flag("--quick", o.quick, "a run of about a minute (tests): few steps and sentences");
  CLI11_PARSE(app, argc, argv);

  program::resolve_model_inputs(o.model, o.tokenizer);
  if (o.data.empty()) o.data = (program::stories_shared_dir() / "data/subj").string();
  program::require_existing(o.data, "--data", /*directory_ok=*/true);
  GFNLM_CHECK(fs::is_directory(o.data),
              "--data '{}' must be the SUBJ folder (train.jsonl, "
              "test.jsonl)",
              o.data);
  GFNLM_CHECK(!o.seeds.empty() && !o.labels.empty(), "--labels and --seeds need a value each");
  if (o.quick) {
    if (app.count("--labels") == 0) o.labels = {10};
    if (app.count("--seeds") == 0) o.seeds = {0};
    if (app.count("--test-items") == 0) o.test_items = 40;
    if (app.count("--sft-steps") == 0) c.sft_steps = 10;
    if (app.count("--e-steps") == 0) c.em.e_steps = 10;
    if (app.count("--m-steps") == 0) c.em.m_steps = 10;
    if (app.count("--votes") == 0) c.votes = 3;
    c.progress_every = 5;
  }
  c.lora.alpha = double(c.lora.rank);
  c.em.max_len = c.max_z;
  c.validate();
  // Every data line is read and checked before any model work.
  const auto data = sj::read_subj(o.data);
  for (int k : o.labels)
    GFNLM_CHECK(std::size_t(k) <= data.train.size(), "--labels {}: train has {} sentences", k,
                data.train.size());
  program::require_writable_directory(o.out, "--out");
  program::apply_threads(o.threads);
  return program::with_checkpoint(
      o.model, o.tokenizer, [&](auto& model, const auto& tok) { return run(model, tok, o, data); });
}

}  // namespace

int main(int argc, char** argv) {
  return gfnlm::program::run("subjectivity", [&] { return run_program(argc, argv); });
}
