// libFuzzer target: the llama2.c tokenizer loader on arbitrary bytes, then encode/decode with
// whatever loaded. Only gfnlm::Error may escape the loader; a crash or sanitizer report is a bug.
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto tok = gfnlm::Llama2cTokenizer::from_bytes(bytes, "fuzz");
    for (const std::string_view text : {"Once upon a time", "a\xff b\xc3\xa9 \xe6\x97\xa5"}) {
      try {
        const auto ids = tok.encode(text);
        const auto back = tok.decode(ids);
        // Round trip holds whenever every byte has a token (encode succeeded).
        (void)back;
      } catch (const gfnlm::Error&) {
      }
    }
  } catch (const gfnlm::Error&) {
  }
  return 0;
}
