// libFuzzer target: GPT-2 pre-tokenisation and BPE on arbitrary text with a small fixed
// vocabulary. Checks the pieces tile the input and decode(encode(s)) == s for any bytes.
#include <gfnlm/text/gpt2_bpe.hpp>

#include <cstdlib>

namespace {
const gfnlm::Gpt2Bpe& tokenizer() {
  static const gfnlm::Gpt2Bpe tok = [] {
    const auto alphabet = gfnlm::detail::gpt2_byte_alphabet();
    nlohmann::json vocab = nlohmann::json::object();
    int id = 0;
    for (int b = 0; b < 256; ++b) {
      std::string s;
      gfnlm::utf8::append(s, alphabet[b]);
      vocab[s] = id++;
    }
    // Every merge's result joins the vocabulary, as in a real BPE training run.
    const std::vector<std::pair<std::string, std::string>> merges{
        {"h", "e"},    {"l", "l"},     {"he", "ll"}, {"hell", "o"}, {"Ġ", "h"}, {"Ġh", "e"},
        {"Ġhe", "ll"}, {"Ġhell", "o"}, {"Ġ", "Ġ"},   {"ĠĠ", "ĠĠ"},  {"1", "2"}, {"12", "3"}};
    std::string merges_text = "#version: 0.2\n";
    for (const auto& [a, b] : merges) {
      if (!vocab.contains(a + b)) vocab[a + b] = id++;
      merges_text += a + " " + b + "\n";
    }
    return gfnlm::Gpt2Bpe::from_strings(vocab.dump(), merges_text);
  }();
  return tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // BPE is quadratic in a piece's length; long inputs only slow it
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string joined;
  for (const auto piece : gfnlm::gpt2_pretokenize(text)) {
    if (piece.empty()) std::abort();
    joined += piece;
  }
  if (joined != text) std::abort();
  const auto& tok = tokenizer();
  if (tok.decode(tok.encode(text)) != text) std::abort();
  return 0;
}
