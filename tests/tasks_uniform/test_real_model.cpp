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
  config.sft_steps = 5;
  config.samples = 200;
  config.eval_chunk = 200;
  ui::ModelResult base;
  base.name = "base";
  const auto results = ui::run_fine_tunings(model, codec, tok.eos_id(), config, base);
  REQUIRE(results.models.size() == 4);
  const auto& b = results.models[0];
  const auto& g = results.models[3];
  INFO("base exact validity " << b.exact.valid_mass << ", GFlowNet " << g.exact.valid_mass
                              << " (sampled " << g.report.valid_fraction << ")");
  REQUIRE(b.exact.valid_mass < 0.01);  // a prose model almost never answers with a bare integer
  REQUIRE(g.exact.valid_mass > 0.2);
  REQUIRE(g.report.valid_fraction > 0.1);
  for (const auto& m : results.models) REQUIRE(m.counts.total == config.samples);
}
