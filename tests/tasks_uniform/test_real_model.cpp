// The random-integer experiment on a model this project did not train (issue 5's --model): the
// aidreams260K llama2.c checkpoint in ../shared/models (a Llama, sub-word tokenizer, BOS + the
// paper's prompt, EOS as STOP). Answers are read from the decoded text after the prompt; a short
// GFlowNet run must raise the exact validity far above the base's (skipped when the files are
// absent).
#include <gfnlm/io/load_llama2c.hpp>
#include <gfnlm/tasks/uniform_integers/experiment.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <omp.h>
#include <catch2/catch.hpp>

#include "../llama/aidreams.hpp"

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace ui = gfnlm::uniform_integers;

namespace {

using aidreams::kDir;
using aidreams::present;

}  // namespace

TEST_CASE("AnswerCodec reads answers after the paper's prompt (llama2.c tokenizer)",
          "[tasks_uniform]") {
  if (!present()) return;
  const auto tok = gfnlm::Llama2cTokenizer::from_file(kDir / "tok512.bin", 512);
  const std::string text(ui::kPaperPrompt);
  std::vector<int32_t> prompt{tok.bos_id()};
  for (const auto t : tok.encode(text)) prompt.push_back(t);
  const ui::AnswerCodec<gfnlm::Llama2cTokenizer> codec(tok, prompt, text);
  for (const char* answer : {"0", "7", "42", "100"}) {
    const auto z = codec.tokens(answer);
    REQUIRE(codec.text(z) == answer);
    REQUIRE(codec.parse(z).is_valid());
    // Without the prompt, the tokenizer's own encode adds a dummy space: not an answer's tokens.
    REQUIRE(tok.encode(answer) != z);
  }
  // A space token before the digits is a space in the answer (decode alone would drop it).
  std::vector<int32_t> spaced = tok.encode("a 4");  // [" a", " ", "4"] or similar
  spaced.erase(spaced.begin());
  REQUIRE(codec.text(spaced).front() == ' ');
  REQUIRE(codec.parse(spaced).kind == ui::AnswerKind::unparseable);
}

TEST_CASE("a short GFlowNet run on aidreams260K raises validity from ~0", "[tasks_uniform]") {
  if (!present()) return;
  omp_set_num_threads(1);
  auto model = gfnlm::load_llama2c(kDir / "model.bin");
  const auto tok = gfnlm::Llama2cTokenizer::from_file(kDir / "tok512.bin", 512);
  const std::string text(ui::kPaperPrompt);
  std::vector<int32_t> prompt{tok.bos_id()};
  for (const auto t : tok.encode(text)) prompt.push_back(t);
  const ui::AnswerCodec<gfnlm::Llama2cTokenizer> codec(tok, prompt, text);
  auto config = ui::ExperimentConfig::quick();
  config.gfn_steps = 40;
  config.ppo_steps = 1;
  config.ppo_batch = 16;
  config.grpo_steps = 1;
  config.grpo_groups = 2;
  config.sft_steps = 5;
  config.samples = 200;
  config.eval_chunk = 200;
  ui::ModelResult base;
  base.name = "base";
  const auto results = ui::run_fine_tunings(model, codec, tok.eos_id(), config, base);
  REQUIRE(results.models.size() == 5);
  const auto& b = results.models[0];
  const auto& g = results.models[4];
  INFO("base exact validity " << b.exact.valid_mass << ", GFlowNet " << g.exact.valid_mass
                              << " (sampled " << g.report.valid_fraction << ")");
  REQUIRE(b.exact.valid_mass < 0.01);  // a prose model almost never answers with a bare integer
  REQUIRE(g.exact.valid_mass > 0.2);
  REQUIRE(g.report.valid_fraction > 0.1);
  for (const auto& m : results.models) REQUIRE(m.counts.total == config.samples);
}

// stories260K (llama2.c, TinyStories): why the base never succeeds and what the help does. Its
// end-of-sequence token and its byte-fallback tokens never occurred in training, so their
// embeddings (and, tied, their head rows) are one vector: STOP cannot get a logit of its own
// through adapters of the blocks, which is what ExperimentConfig::train_answer_tokens fixes.
TEST_CASE("stories260K: untrained STOP row, one spelling per integer", "[tasks_uniform]") {
  const auto dir = std::filesystem::path(GFNLM_SHARED_DIR) / "models/stories260K";
  if (!std::filesystem::exists(dir / "model.bin")) {
    WARN("skipping: " << dir.string() << " is absent");
    return;
  }
  auto model = gfnlm::load_llama2c(dir / "model.bin");
  const auto tok = gfnlm::Llama2cTokenizer::from_file(dir / "tok512.bin", 512);
  const auto row = [&](int32_t v) {
    const auto p = model.base_parameters().front();  // the token embedding, [V, C]
    REQUIRE(p.name == "model.embed_tokens.weight");
    const int C = model.config().d_model;
    return std::vector<float>(p.value + std::size_t(v) * C, p.value + std::size_t(v + 1) * C);
  };
  const auto distance = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return std::sqrt(s);
  };
  const int32_t byte_zero = 3 + '0';                            // "<0x30>"
  CHECK(distance(row(tok.eos_id()), row(byte_zero)) < 1e-2);    // measured 6e-4
  CHECK(distance(row(byte_zero), row(byte_zero + 7)) < 1e-2);   // "<0x30>" and "<0x37>"
  CHECK(distance(row(tok.eos_id()), row(tok.bos_id())) > 1.0);  // BOS was trained

  // "42" in the tokenizer's pieces earns the reward; the same text in byte tokens does not,
  // unless canonical_only is off.
  const std::string text(ui::kPaperPrompt);
  std::vector<int32_t> prompt{tok.bos_id()};
  for (const auto t : tok.encode(text)) prompt.push_back(t);
  const ui::AnswerCodec<gfnlm::Llama2cTokenizer> codec(tok, prompt, text);
  const auto own = codec.tokens("42");
  const std::vector<int32_t> bytes{3 + '4', 3 + '2'};
  REQUIRE(own != bytes);
  REQUIRE(codec.text(bytes) == "42");
  const ui::GfnLogReward<gfnlm::Llama2cTokenizer> reward(codec);
  CHECK(reward(0, own) == 8.0);
  CHECK(reward(0, bytes) == -16.0);
  const ui::GfnLogReward<gfnlm::Llama2cTokenizer> any_spelling(codec, {.canonical_only = false});
  CHECK(any_spelling(0, bytes) == 8.0);
}
