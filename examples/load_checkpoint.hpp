#pragma once
// The one place the example programs turn --model / --tokenizer into a model and its tokenizer:
// a llama2.c checkpoint with its llama2.c tokenizer file, or a Hugging Face folder, .safetensors
// file or index (GPT-2 with its BPE vocabulary, by default from the model folder; Llama with a
// llama2.c tokenizer file). fn(model, tokenizer) runs on whichever was loaded; the model is the
// caller's to modify (LoRA adapters, training).
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/gpt2_safetensors.hpp>
#include <gfnlm/io/hf_config.hpp>
#include <gfnlm/io/hf_model_type.hpp>
#include <gfnlm/io/llama_safetensors.hpp>
#include <gfnlm/io/load_llama2c.hpp>
#include <gfnlm/text/gpt2_bpe.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <filesystem>
#include <string>

namespace gfnlm::program {

template <class Fn>
auto with_checkpoint(const std::string& model_path, const std::string& tok_path, Fn&& fn) {
  namespace fs = std::filesystem;
  const fs::path path(model_path);
  const bool hf =
      fs::is_directory(path) || path.extension() == ".safetensors" || path.extension() == ".json";
  const auto llama2c_tokenizer = [&](int vocab) {
    GFNLM_CHECK(!tok_path.empty() && !fs::is_directory(tok_path),
                "--tokenizer must name a llama2.c tokenizer file for this model");
    return Llama2cTokenizer::from_file(tok_path, vocab);
  };
  if (!hf) {
    auto model = load_llama2c(model_path);
    return fn(model, llama2c_tokenizer(model.config().vocab_size));
  }
  const auto type = hf_model_type(path);
  if (type == "gpt2") {
    auto model = load_gpt2(path);
    const fs::path dir = !tok_path.empty()        ? fs::path(tok_path)
                         : fs::is_directory(path) ? path
                                                  : path.parent_path();
    const auto tok = Gpt2Bpe::from_directory(dir);
    GFNLM_CHECK(tok.vocab_size() <= model.config().vocab_size,
                "the tokenizer has {} tokens, the model's vocabulary {}", tok.vocab_size(),
                model.config().vocab_size);
    return fn(model, tok);
  }
  GFNLM_CHECK(type == "llama", "'{}': model type '{}' is not supported (gpt2, llama)", model_path,
              type);
  auto model = load_llama(path);
  return fn(model, llama2c_tokenizer(model.config().vocab_size));
}

}  // namespace gfnlm::program
