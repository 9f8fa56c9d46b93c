#pragma once
// What the language programs share: the model and tokenizer flags with their ../shared defaults
// (every one), and for the two TinyStories programs (sentence_continuation, story_infilling) the
// data and split flags, with the checks that run on them before any work.
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

// --model and --tokenizer, defaulting to the shared stories260K (every language program).
inline void add_model_options(CLI::App& app, std::string& model, std::string& tokenizer) {
  app.add_option("--model", model,
                 "llama2.c checkpoint or Hugging Face folder "
                 "(default: ../shared/models/stories260K/model.bin)");
  app.add_option("--tokenizer", tokenizer, "its tokenizer (default: stories260K's tok512.bin)");
}

// Fills the defaults of add_model_options (a llama2.c model's tok512.bin beside it) and checks
// that the model exists.
inline void resolve_model_inputs(std::string& model, std::string& tokenizer) {
  if (model.empty()) model = (stories_shared_dir() / "models/stories260K/model.bin").string();
  if (tokenizer.empty() && std::filesystem::path(model).extension() == ".bin")
    tokenizer = (std::filesystem::path(model).parent_path() / "tok512.bin").string();
  require_existing(model, "--model", /*directory_ok=*/true);
}

// what: "prompts" or "items", the unit --split chooses.
inline void add_stories_options(CLI::App& app, StoriesInputs& in, const std::string& what) {
  add_model_options(app, in.model, in.tokenizer);
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
  resolve_model_inputs(in.model, in.tokenizer);
  if (in.data.empty())
    in.data = (stories_shared_dir() / "data/tinystories/paragraphs.txt").string();
  require_existing(in.data, "--data", /*directory_ok=*/false);
}

// After validation of everything else: --out is writable, the thread count applied.
inline void prepare_stories_run(const StoriesInputs& in) {
  require_writable_directory(in.out, "--out");
  apply_threads(in.threads);
}

}  // namespace gfnlm::program
