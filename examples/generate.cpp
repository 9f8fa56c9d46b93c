// Samples text from a pretrained model (issue 4, "examples/generate.cpp"): a llama2.c checkpoint
// (legacy or version-1 fp32 layout) with its llama2.c tokenizer file, or a Hugging Face GPT-2 /
// Llama safetensors folder (single or sharded) with a GPT-2 BPE vocabulary or a llama2.c
// tokenizer file; decoded incrementally on a KV cache, several samples as rows of one batch.
// Sampling is temperature, then top-k, then top-p (nucleus) on the renormalised distribution
// (the library's decoder, baselines/sample_decode.hpp); temperature 0 is greedy. Prints each
// sample and the decoding speed.
//
//   generate --model ../shared/models/aidreams260K/model.bin
//            --tokenizer ../shared/models/aidreams260K/tok512.bin --prompt "Once upon a time"
#include "load_checkpoint.hpp"
#include "program.hpp"

#include <gfnlm/baselines/sample_decode.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/policies/lm_policy.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string prompt = "Once upon a time";
  int max_new = 100, samples = 1;
  double temperature = 1.0;  // 0: greedy
  gfnlm::Truncation truncation;
  uint64_t seed = 1;
  bool no_bos = false, keep_going = false;
};

// The samples are rollouts of the library's decoder (baselines/sample_decode.hpp) over an
// LmPolicy whose STOP is the tokenizer's EOS: the rows of one prompt share its prefill.
template <class Model, class Tok>
void run(Model& model, const Tok& tok, Options o) {
  const auto& c = model.config();
  std::vector<int32_t> prefix;
  if (!o.no_bos && tok.bos_id() >= 0) prefix.push_back(tok.bos_id());
  for (const auto t : tok.encode(o.prompt)) prefix.push_back(t);
  GFNLM_CHECK(!prefix.empty(), "empty prompt with --no-bos: nothing to condition on");
  GFNLM_CHECK(static_cast<int>(prefix.size()) < c.max_seq_len,
              "the prompt is {} tokens, the model's seq_len is {}", prefix.size(), c.max_seq_len);
  o.max_new = std::min<int>(o.max_new, c.max_seq_len - static_cast<int>(prefix.size()));
  fmt::print(stderr,
             "model: {} layers, width {}, {} heads, vocab {}, seq_len {} ({} parameters); prompt "
             "{} tokens\n",
             c.n_layer, c.d_model, c.n_head, c.vocab_size, c.max_seq_len, model.num_parameters(),
             prefix.size());

  // EOS is the policy's STOP; a tokenizer without one (or --ignore-eos) never stops early.
  const int32_t eos = tok.eos_id(), bos = tok.bos_id();
  const bool stops = eos >= 0 && !o.keep_going;
  gfnlm::BasicLmPolicy policy(model, eos >= 0 ? eos : 0, /*adapters=*/false);
  const gfnlm::LogitMask mask(c.vocab_size, policy.stop_token(), stops ? 0 : o.max_new);
  gfnlm::SamplingDecoder decoder =
      o.temperature > 0 ? gfnlm::SamplingDecoder{o.temperature, o.truncation, o.max_new}
                        : gfnlm::greedy_decoder(o.max_new);
  if (stops && bos >= 0 && bos != eos) decoder.end_after = {bos};  // a new document: stop there
  gfnlm::Rng rng(o.seed);
  const gfnlm::LmQuery query{prefix, {}, -1};
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const auto drawn = gfnlm::sample_decode(policy, std::span<const gfnlm::LmQuery>(&query, 1),
                                          o.samples, mask, decoder, rng);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  long generated = 0;
  for (std::size_t r = 0; r < drawn[0].size(); ++r) {
    std::vector<int32_t> text(prefix.begin() + (!o.no_bos && bos >= 0 ? 1 : 0), prefix.end());
    auto actions = drawn[0][r].actions;
    if (!decoder.end_after.empty() && !actions.empty() && actions.back() == bos)
      actions.pop_back();  // the BOS that ended the row is not text
    generated += static_cast<long>(actions.size());
    text.insert(text.end(), actions.begin(), actions.end());
    fmt::print("--- sample {} ---\n{}\n", r, tok.decode(std::span<const int32_t>(text)));
  }
  fmt::print(stderr,
             "{} sample(s): {} tokens generated in {:.4f} s ({:.0f} tokens/s, the prefill of {} "
             "prompt tokens included)\n",
             o.samples, generated, seconds, generated / seconds, prefix.size());
}

int run_program(int argc, char** argv) {
  namespace program = gfnlm::program;
  CLI::App app{
      "Generate text from a llama2.c checkpoint or a Hugging Face GPT-2 / Llama safetensors "
      "checkpoint, sampling with temperature / top-k / top-p"};
  std::string model_path, tok_path;
  Options o;
  auto& prompt = o.prompt;
  auto& max_new = o.max_new;
  auto& samples = o.samples;
  auto& seed = o.seed;
  auto& no_bos = o.no_bos;
  auto& keep_going = o.keep_going;
  app.add_option("--model", model_path,
                 "llama2.c checkpoint (model.bin), or a Hugging Face GPT-2 / Llama checkpoint: a "
                 "folder, a .safetensors file or a model.safetensors.index.json")
      ->required();
  app.add_option("--tokenizer", tok_path,
                 "llama2.c tokenizer file (tokenizer.bin, tok512.bin); for GPT-2, a folder with "
                 "vocab.json + merges.txt or encoder.json + vocab.bpe (default: the model folder)");
  app.add_option("--prompt", prompt, "text to continue (may be empty)");
  app.add_option("--max-new-tokens", max_new,
                 "tokens to generate per sample, capped by the model's seq_len")
      ->check(program::in_range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--temperature", o.temperature,
                 "divides the logits before sampling; 0 = greedy (argmax)")
      ->check(program::in_range(0, 1e6))
      ->capture_default_str();
  app.add_option("--top-k", o.truncation.top_k,
                 "sample only among the k most likely tokens; 0 = all")
      ->check(program::at_least(0))
      ->capture_default_str();
  app.add_option("--top-p", o.truncation.top_p,
                 "nucleus sampling: only the most likely tokens whose mass reaches p; 1 = all")
      ->check(program::in_range(1e-9, 1.0, "in (0, 1] (at least 1e-9)"))
      ->capture_default_str();
  app.add_option("--samples", samples, "independent samples, decoded together as one batch")
      ->check(program::in_range(1, 1024))
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed of the sampler")->capture_default_str();
  int threads = 0;
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")
      ->check(program::threads())
      ->capture_default_str();
  app.add_flag("--no-bos", no_bos, "do not prepend the tokenizer's BOS token to the prompt");
  app.add_flag("--ignore-eos", keep_going, "keep generating after EOS / BOS instead of stopping");
  CLI11_PARSE(app, argc, argv);
  program::require_existing(model_path, "--model");
  if (!tok_path.empty()) program::require_existing(tok_path, "--tokenizer");
  program::apply_threads(threads);

  program::with_checkpoint(model_path, tok_path,
                           [&](auto& model, const auto& tok) { run(model, tok, o); });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gfnlm::program::run("generate", [&] { return run_program(argc, argv); });
}
