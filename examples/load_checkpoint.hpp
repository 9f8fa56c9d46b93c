#pragma once
// The one place the example programs turn --model / --tokenizer into a model and its tokenizer:
// a llama2.c checkpoint with its llama2.c tokenizer file, or a Hugging Face folder, .safetensors
// file or index. A Hugging Face GPT-2 takes its BPE vocabulary (vocab.json + merges.txt or
// encoder.json + vocab.bpe) from --tokenizer or the model folder, else that folder's
// tokenizer.json; a Hugging Face Llama takes a llama2.c tokenizer file given as --tokenizer, or a
// tokenizer.json (--tokenizer naming one or its folder; by default the model folder's).
// fn(model, tokenizer) runs on whichever was loaded; the model is the caller's to modify (LoRA
// adapters, training).
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/gpt2_safetensors.hpp>
#include <gfnlm/io/hf_config.hpp>
#include <gfnlm/io/hf_model_type.hpp>
#include <gfnlm/io/llama_safetensors.hpp>
#include <gfnlm/io/load_llama2c.hpp>
#include <gfnlm/text/gpt2_bpe.hpp>
#include <gfnlm/text/hf_tokenizer.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <filesystem>
#include <string>

namespace gfnlm::program {

// A Hugging Face tokenizer.json for a model with `model_vocab` ids: the tokenizer's ids must fit.
inline HfTokenizer hf_tokenizer_for(const std::filesystem::path& path, int model_vocab) {
  auto tok = HfTokenizer::from_file(path);
  GFNLM_CHECK(tok.vocab_size() <= model_vocab,
              "'{}' has {} tokens (vocabulary and added tokens), more than the model's vocab_size "
              "{}",
              path.string(), tok.vocab_size(), model_vocab);
  return tok;
}

template <class Fn>
auto with_checkpoint(const std::string& model_path, const std::string& tok_path, Fn&& fn) {
  namespace fs = std::filesystem;
  const fs::path path(model_path);
  const bool hf =
      fs::is_directory(path) || path.extension() == ".safetensors" || path.extension() == ".json";
  const bool tok_json = !tok_path.empty() && fs::path(tok_path).extension() == ".json";
  const auto llama2c_tokenizer = [&](int vocab) {
    GFNLM_CHECK(!tok_path.empty() && !fs::is_directory(tok_path),
                "--tokenizer must name a llama2.c tokenizer file for this model");
    return Llama2cTokenizer::from_file(tok_path, vocab);
  };
  if (!hf) {
    auto model = load_llama2c(model_path);
    if (tok_json) return fn(model, hf_tokenizer_for(tok_path, model.config().vocab_size));
    return fn(model, llama2c_tokenizer(model.config().vocab_size));
  }
  const fs::path model_dir = fs::is_directory(path) ? path : path.parent_path();
  const auto type = hf_model_type(path);
  if (type == "gpt2") {
    auto model = load_gpt2(path);
    const int vocab = model.config().vocab_size;
    if (tok_json) return fn(model, hf_tokenizer_for(tok_path, vocab));
    const fs::path dir = tok_path.empty() ? model_dir : fs::path(tok_path);
    const bool bpe_files = (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) ||
                           (fs::exists(dir / "encoder.json") && fs::exists(dir / "vocab.bpe"));
    if (!bpe_files && fs::exists(dir / "tokenizer.json"))
      return fn(model, hf_tokenizer_for(dir / "tokenizer.json", vocab));
    const auto tok = Gpt2Bpe::from_directory(dir);
    GFNLM_CHECK(tok.vocab_size() <= vocab, "the tokenizer has {} tokens, the model's vocabulary {}",
                tok.vocab_size(), vocab);
    return fn(model, tok);
  }
  GFNLM_CHECK(type == "llama", "'{}': model type '{}' is not supported (gpt2, llama)", model_path,
              type);
  auto model = load_llama(path);
  const int vocab = model.config().vocab_size;
  if (tok_json) return fn(model, hf_tokenizer_for(tok_path, vocab));
  if (tok_path.empty() || fs::is_directory(tok_path)) {
    const fs::path dir = tok_path.empty() ? model_dir : fs::path(tok_path);
    GFNLM_CHECK(fs::exists(dir / "tokenizer.json"),
                "'{}' holds no tokenizer.json; give --tokenizer a tokenizer.json or a llama2.c "
                "tokenizer file (tokenizer.bin, tok512.bin)",
                dir.string());
    return fn(model, hf_tokenizer_for(dir / "tokenizer.json", vocab));
  }
  return fn(model, llama2c_tokenizer(vocab));
}

}  // namespace gfnlm::program
