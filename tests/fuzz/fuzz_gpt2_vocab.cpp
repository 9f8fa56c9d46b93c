// libFuzzer target: GPT-2 vocab.json + merges.txt loader. The input is split at its first NUL byte
// into the vocabulary text and the merges text. Only gfnlm::Error may escape.
#include <gfnlm/text/gpt2_bpe.hpp>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto cut = input.find('\0');
  const auto vocab = input.substr(0, cut);
  const auto merges = cut == std::string_view::npos ? std::string_view{} : input.substr(cut + 1);
  try {
    const auto tok = gfnlm::Gpt2Bpe::from_strings(vocab, merges);
    const std::string text = "Hello world's 123 caf\xc3\xa9 \xff";
    const auto ids = tok.encode(text);
    if (tok.decode(ids) != text) std::abort();  // byte-level BPE must round-trip any bytes
  } catch (const gfnlm::Error&) {
  }
  return 0;
}
