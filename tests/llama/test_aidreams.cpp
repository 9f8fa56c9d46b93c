// The real llama2.c model in ../shared/models/aidreams260K (issue 4, acceptance 3): it loads
// through io/load_llama2c.hpp and greedy decoding from "Once upon a time" (BOS prepended) gives
// readable English. Skips with a message where the folder is absent. Also: the loader's shape
// checks name the file and the tensor.
#include <gfnlm/io/load_llama2c.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <catch2/catch.hpp>

#include "aidreams.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using aidreams::kDir;
using aidreams::present;

}  // namespace

TEST_CASE("aidreams260K loads and greedy decoding writes English", "[llama][aidreams]") {
  if (!present()) return;
  const auto model = gfnlm::load_llama2c(kDir / "model.bin");
  const auto& c = model.config();
  CHECK(c.d_model == 64);
  CHECK(c.d_ff == 172);
  CHECK(c.n_layer == 4);
  CHECK(c.vocab_size == 512);
  CHECK(c.tied_head);
  const auto tok = gfnlm::Llama2cTokenizer::from_file(kDir / "tok512.bin", c.vocab_size);

  std::vector<int32_t> ids = {tok.bos_id()};
  for (const auto t : tok.encode("Once upon a time")) ids.push_back(t);
  const std::size_t prompt = ids.size();
  auto cache = model.make_cache(1);
  std::vector<gfnlm::DecodeToken> batch;
  for (const auto t : ids) batch.push_back({0, t});
  auto logits = model.decode(cache, batch);
  const int V = c.vocab_size;
  while (static_cast<int>(ids.size()) < 100) {
    const float* last = logits.data() + logits.size() - V;
    const auto next = static_cast<int32_t>(std::max_element(last, last + V) - last);
    if (next == tok.eos_id() || next == tok.bos_id()) break;
    ids.push_back(next);
    const gfnlm::DecodeToken d{0, next};
    logits = model.decode(cache, std::span(&d, 1));
  }
  const std::string text = tok.decode(std::span<const int32_t>(ids).subspan(1));  // without BOS
  std::printf("aidreams260K greedy: %s\n", text.c_str());
  REQUIRE(ids.size() > prompt + 10);

  const auto readable = std::count_if(text.begin(), text.end(), [](unsigned char ch) {
    return std::isalpha(ch) || ch == ' ' || ch == ',' || ch == '.' || ch == '\'' || ch == '\n';
  });
  CHECK(double(readable) / text.size() > 0.95);
  static const std::set<std::string> common = {"the", "a",   "and", "of", "to",   "in",   "i",
                                               "is",  "it",  "my",  "me", "was",  "with", "she",
                                               "he",  "her", "his", "on", "that", "for"};
  std::set<std::string> seen;
  std::istringstream words(text.substr(std::string("Once upon a time").size() + 1));
  for (std::string w; words >> w;) {
    std::string lower;
    for (unsigned char ch : w)
      if (std::isalpha(ch)) lower += static_cast<char>(std::tolower(ch));
    if (common.count(lower)) seen.insert(lower);
  }
  INFO(text);
  CHECK(seen.size() >= 3);  // several distinct common words beyond the prompt

  // The full forward agrees with the cached decode on this real model.
  gfnlm::LlamaTransformer<> full = model;
  const int T = static_cast<int>(ids.size()) - 1;
  full.forward(ids.data(), 1, T);
  const float* lt = full.logits() + static_cast<std::size_t>(T - 1) * V;
  const auto argmax = std::max_element(lt, lt + V) - lt;
  CHECK(argmax == ids[T]);
}

TEST_CASE("llama2.c loading names the file and tensor of a shape mismatch", "[llama][io]") {
  gfnlm::Llama2cCheckpoint ck;
  ck.config.dim = 8;
  ck.config.hidden_dim = 12;
  ck.config.n_layers = 1;
  ck.config.n_heads = 2;
  ck.config.n_kv_heads = 1;
  ck.config.vocab_size = 5;
  ck.config.seq_len = 4;
  auto put = [&](const std::string& n, std::vector<int64_t> shape) {
    int64_t k = 1;
    for (auto d : shape) k *= d;
    ck.tensors[n] = std::vector<float>(k, 0.5f);
    ck.shapes[n] = shape;
  };
  put("tok_embeddings.weight", {5, 8});
  put("layers.0.attention_norm.weight", {8});
  put("layers.0.attention.wq.weight", {8, 8});
  put("layers.0.attention.wk.weight", {4, 8});
  put("layers.0.attention.wv.weight", {4, 8});
  put("layers.0.attention.wo.weight", {8, 8});
  put("layers.0.ffn_norm.weight", {8});
  put("layers.0.feed_forward.w1.weight", {12, 8});
  put("layers.0.feed_forward.w2.weight", {8, 12});
  put("layers.0.feed_forward.w3.weight", {12, 8});
  put("norm.weight", {8});
  const auto ok = gfnlm::llama_from_llama2c(ck, "mem.bin");
  CHECK(ok.config().n_kv_head == 1);

  auto bad = ck;
  put("layers.0.attention.wk.weight", {8, 8});  // as if n_kv_heads were 2
  try {
    gfnlm::llama_from_llama2c(ck, "mem.bin");
    FAIL("no error for a wrong wk shape");
  } catch (const gfnlm::Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("mem.bin") != std::string::npos);
    CHECK(msg.find("layers.0.attention.wk.weight") != std::string::npos);
  }
  bad.tensors.erase("norm.weight");
  bad.shapes.erase("norm.weight");
  CHECK_THROWS_WITH(gfnlm::llama_from_llama2c(bad, "mem.bin"),
                    Catch::Contains("model.norm.weight"));
}
