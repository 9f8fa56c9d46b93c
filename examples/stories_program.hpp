#pragma once
// What the two TinyStories programs (sentence_continuation, story_infilling) share: the model,
// tokenizer and data flags with their ../shared defaults, the split flag, and the checks that run
// on them before any work.
#include "program.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

namespace gfnlm::program {

struct StoriesInputs {
  std::string model, tokenizer, data, out, split = "test";
  int threads = 0;
};

// <checkout>/../shared, where the brief's models and data live.
inline std::filesystem::path stories_shared_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
}

// what: "prompts" or "items", the unit --split chooses.
inline void add_stories_options(CLI::App& app, StoriesInputs& in, const std::string& what) {
  app.add_option("--model", in.model,
                 "llama2.c checkpoint or Hugging Face folder "
                 "(default: ../shared/models/stories260K/model.bin)");
  app.add_option("--tokenizer", in.tokenizer, "its tokenizer (default: stories260K's tok512.bin)");
  app.add_option("--data", in.data,
                 "TinyStories paragraphs, one per line "
                 "(default: ../shared/data/tinystories/paragraphs.txt)");
  app.add_option("--out", in.out, "output directory");
  app.add_option("--threads", in.threads, "OpenMP threads (0: OpenMP's default)")->check(threads());
  app.add_option("--split", in.split, what + " evaluated: test, or validation to choose settings")
      ->check(CLI::IsMember({"test", "validation"}));
}

// Fills the defaults and checks that the model and data exist.
inline void resolve_stories_inputs(StoriesInputs& in) {
  const auto shared = stories_shared_dir();
  if (in.model.empty()) in.model = (shared / "models/stories260K/model.bin").string();
  if (in.tokenizer.empty() && std::filesystem::path(in.model).extension() == ".bin")
    in.tokenizer = (std::filesystem::path(in.model).parent_path() / "tok512.bin").string();
  if (in.data.empty()) in.data = (shared / "data/tinystories/paragraphs.txt").string();
  require_existing(in.model, "--model", /*directory_ok=*/true);
  require_existing(in.data, "--data", /*directory_ok=*/false);
}

// After validation of everything else: --out is writable, the thread count applied.
inline void prepare_stories_run(const StoriesInputs& in) {
  require_writable_directory(in.out, "--out");
  apply_threads(in.threads);
}

}  // namespace gfnlm::program
