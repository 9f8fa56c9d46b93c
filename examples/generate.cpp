// Samples text from a pretrained model (issue 4, "examples/generate.cpp"): a llama2.c checkpoint
// (legacy or version-1 fp32 layout) with its llama2.c tokenizer file, or a Hugging Face GPT-2 /
// Llama safetensors folder (single or sharded) with a GPT-2 BPE vocabulary or a llama2.c
// tokenizer file; decoded incrementally on a KV cache, several samples as rows of one batch.
// Sampling is temperature, then top-k, then top-p (nucleus) on the renormalised distribution;
// temperature 0 is greedy. Prints each sample and the decoding speed (prefill and generation
// separately).
//
//   generate --model ../shared/models/aidreams260K/model.bin
//            --tokenizer ../shared/models/aidreams260K/tok512.bin --prompt "Once upon a time"
#include "load_checkpoint.hpp"
#include "program.hpp"

#include <gfnlm/core/rng.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace {

struct Sampling {
  double temperature = 1.0;
  int top_k = 0;       // 0 = off
  double top_p = 1.0;  // 1 = off
};

// One token from logits [V].
int32_t sample(const float* logits, int V, const Sampling& s, gfnlm::Rng& rng,
               std::vector<int32_t>& order, std::vector<double>& p) {
  if (s.temperature <= 0)
    return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  order.resize(V);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const int k = s.top_k > 0 ? std::min(s.top_k, V) : V;
  p.resize(k);
  double total = 0;
  for (int i = 0; i < k; ++i)
    total += p[i] = std::exp((double(logits[order[i]]) - logits[order[0]]) / s.temperature);
  int keep = k;  // top-p: the smallest prefix whose mass reaches top_p
  double mass = 0;
  for (int i = 0; i < k; ++i) {
    mass += p[i] / total;
    if (mass >= s.top_p) {
      keep = i + 1;
      break;
    }
  }
  double u = rng.uniform(0.0, 1.0) * std::accumulate(p.begin(), p.begin() + keep, 0.0);
  for (int i = 0; i < keep; ++i)
    if ((u -= p[i]) <= 0) return order[i];
  return order[keep - 1];
}

struct Options {
  std::string prompt = "Once upon a time";
  int max_new = 100, samples = 1;
  Sampling s;
  uint64_t seed = 1;
  bool no_bos = false, keep_going = false;
};

template <class Model, class Tok>
void run(const Model& model, const Tok& tok, Options o) {
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

  gfnlm::Rng rng(o.seed);
  auto cache = model.make_cache(o.samples);
  const int V = c.vocab_size;
  std::vector<std::vector<int32_t>> out(o.samples, prefix);
  std::vector<bool> done(o.samples, false);
  std::vector<gfnlm::DecodeToken> batch;
  for (int r = 0; r < o.samples; ++r)
    for (const auto t : prefix) batch.push_back({r, t});
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto logits = model.decode(cache, batch);
  const auto t1 = Clock::now();
  // last logits of each row: in the prefill they are the row's last token
  std::vector<const float*> last(o.samples);
  for (int r = 0; r < o.samples; ++r)
    last[r] = logits.data() + (static_cast<std::size_t>(r + 1) * prefix.size() - 1) * V;
  std::vector<int32_t> order;
  std::vector<double> p;
  long generated = 0;
  for (int step = 0; step < o.max_new; ++step) {
    batch.clear();
    for (int r = 0; r < o.samples; ++r) {
      if (done[r]) continue;
      const int32_t next = sample(last[r], V, o.s, rng, order, p);
      if (!o.keep_going && (next == tok.eos_id() || next == tok.bos_id())) {
        done[r] = true;
        continue;
      }
      out[r].push_back(next);
      ++generated;
      if (step + 1 < o.max_new) batch.push_back({r, next});
    }
    if (batch.empty()) break;
    logits = model.decode(cache, batch);
    for (std::size_t i = 0; i < batch.size(); ++i) last[batch[i].row] = logits.data() + i * V;
  }
  const auto t2 = Clock::now();
  const std::size_t skip = !o.no_bos && tok.bos_id() >= 0 ? 1 : 0;  // print the text, not BOS
  for (int r = 0; r < o.samples; ++r)
    fmt::print("--- sample {} ---\n{}\n", r,
               tok.decode(std::span<const int32_t>(out[r]).subspan(skip)));
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count(),
               gen_s = std::chrono::duration<double>(t2 - t1).count();
  fmt::print(stderr,
             "prefill: {} tokens in {:.4f} s ({:.0f} tokens/s); generation: {} tokens in "
             "{:.4f} s ({:.0f} tokens/s)\n",
             prefix.size() * o.samples, prefill_s, prefix.size() * o.samples / prefill_s, generated,
             gen_s, generated / gen_s);
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
  auto& s = o.s;
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
  app.add_option("--temperature", s.temperature,
                 "divides the logits before sampling; 0 = greedy (argmax)")
      ->check(program::in_range(0, 1e6))
      ->capture_default_str();
  app.add_option("--top-k", s.top_k, "sample only among the k most likely tokens; 0 = all")
      ->check(program::at_least(0))
      ->capture_default_str();
  app.add_option("--top-p", s.top_p,
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
                           [&](const auto& model, const auto& tok) { run(model, tok, o); });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return gfnlm::program::run("generate", [&] { return run_program(argc, argv); });
}
