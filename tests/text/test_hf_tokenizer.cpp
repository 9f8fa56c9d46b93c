// Hugging Face tokenizer.json: the tokenizers built and run by
// tests/reference/make_hf_tokenizer_fixture.py (byte-level BPE, Llama-2 style with a
// normalizer, Llama style with a Metaspace pre-tokenizer, Llama-3 style with its Split regex):
// encode == tokenizers' ids, decode == tokenizers' decode, pre-tokens == its pre_tokenize_str;
// both merges formats; the real GPT-2 vocabulary (a tokenizer.json tokenizers wrote from it
// where the fixture script has run, and one assembled here from ../shared/models/gpt2_vocab);
// and the loader's errors on malformed files.
#include <gfnlm/text/gpt2_bpe.hpp>
#include <gfnlm/text/hf_tokenizer.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

using gfnlm::Gpt2Bpe;
using gfnlm::HfTokenizer;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path fixture_dir() {
  return fs::path(GFNLM_SOURCE_DIR) / "tests/reference/hf_tokenizer";
}

json read_json(const fs::path& p) {
  std::ifstream is(p);
  REQUIRE(is.good());
  return json::parse(is);
}

const json& expected() {
  static const json j = read_json(fixture_dir() / "expected.json");
  return j;
}

// Every comparison the fixture records for one tokenizer; returns the number of mismatches.
int compare(const HfTokenizer& tok, const json& rec) {
  const auto& strings = expected()["strings"];
  int bad = 0;
  CHECK(tok.vocab_size() == rec["vocab_size"].get<int>());
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const auto text = strings[i].get<std::string>();
    INFO("text " << i << ": " << json(text).dump());
    const auto want = rec["encode"][i].get<std::vector<int32_t>>();
    const auto ids = tok.encode(text);
    CHECK(ids == want);
    CHECK(tok.decode(want) == rec["decode"][i].get<std::string>());
    bad += ids != want || tok.decode(want) != rec["decode"][i].get<std::string>();
    if (!rec["pre_tokens"].empty()) {
      const auto pieces = tok.pre_tokenize(text);
      CHECK(pieces == rec["pre_tokens"][i].get<std::vector<std::string>>());
      bad += pieces != rec["pre_tokens"][i].get<std::vector<std::string>>();
    }
  }
  const auto& one = rec["decode_one"];
  for (std::size_t id = 0; id < one.size(); ++id) {
    const std::vector<int32_t> ids{static_cast<int32_t>(id)};
    INFO("decode([" << id << "]), token " << json(tok.token(ids[0])).dump());
    CHECK(tok.decode(ids) == one[id].get<std::string>());
    bad += tok.decode(ids) != one[id].get<std::string>();
  }
  for (const auto& c : rec["decode_random"]) {
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    INFO("decode(" << c["ids"].dump() << ")");
    CHECK(tok.decode(ids) == c["text"].get<std::string>());
    CHECK(tok.decode(ids, false) == c["with_special"].get<std::string>());
    bad += tok.decode(ids) != c["text"].get<std::string>() ||
           tok.decode(ids, false) != c["with_special"].get<std::string>();
  }
  return bad;
}

// The real GPT-2 files: $GFNLM_GPT2_VOCAB_DIR, the CMake-detected folder, then
// ../shared/models/gpt2_vocab beside the checkout.
std::optional<fs::path> gpt2_vocab_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("GFNLM_GPT2_VOCAB_DIR")) candidates.emplace_back(env);
#ifdef GFNLM_GPT2_VOCAB_DIR
  candidates.emplace_back(GFNLM_GPT2_VOCAB_DIR);
#endif
  candidates.emplace_back(fs::path(GFNLM_SOURCE_DIR) / "../shared/models/gpt2_vocab");
  for (const auto& dir : candidates)
    if (fs::exists(dir / "encoder.json") && fs::exists(dir / "vocab.bpe")) return dir;
  return std::nullopt;
}

// A tokenizer.json as Hugging Face's GPT-2 checkpoints ship it, assembled from encoder.json +
// vocab.bpe; merges as strings or pairs.
std::string gpt2_tokenizer_json(const fs::path& dir, bool pair_merges) {
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array({{{"id", 50256},
                                    {"content", "<|endoftext|>"},
                                    {"single_word", false},
                                    {"lstrip", false},
                                    {"rstrip", false},
                                    {"normalized", true},
                                    {"special", true}}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"},
                        {"add_prefix_space", false},
                        {"trim_offsets", true},
                        {"use_regex", true}};
  j["post_processor"] = {{"type", "ByteLevel"},
                         {"add_prefix_space", true},
                         {"trim_offsets", false},
                         {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"},
                  {"add_prefix_space", true},
                  {"trim_offsets", true},
                  {"use_regex", true}};
  json merges = json::array();
  std::ifstream is(dir / "vocab.bpe");
  for (std::string line; std::getline(is, line);) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const auto sp = line.find(' ');
    if (pair_merges)
      merges.push_back({line.substr(0, sp), line.substr(sp + 1)});
    else
      merges.push_back(line);
  }
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", read_json(dir / "encoder.json")},
                {"merges", merges}};
  return j.dump();
}

// A tiny BPE tokenizer.json to break in the error tests: "a" "b" "ab", merge (a, b).
json tiny() {
  json j;
  j["added_tokens"] = json::array();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nullptr;
  j["decoder"] = nullptr;
  j["model"] = {{"type", "BPE"},
                {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}},
                {"merges", json::array({json::array({"a", "b"})})}};
  return j;
}

HfTokenizer load(const json& j) {
  return HfTokenizer::from_string(j.dump(), "t.json");
}

}  // namespace

TEST_CASE("HfTokenizer: trained fixtures match tokenizers exactly", "[text][hf_tokenizer]") {
  INFO("tokenizers " << expected()["tokenizers_version"].get<std::string>());
  REQUIRE(expected()["strings"].size() >= 30);
  for (const auto* name : {"bytelevel", "llama", "llama_metaspace", "llama3"}) {
    INFO("fixture " << name);
    const auto tok = HfTokenizer::from_file(fixture_dir() / name / "tokenizer.json");
    CHECK(compare(tok, expected()[name]) == 0);
  }
}

TEST_CASE("HfTokenizer: BOS/EOS, token texts, special tokens", "[text][hf_tokenizer]") {
  const auto bl = HfTokenizer::from_directory(fixture_dir() / "bytelevel");
  // No tokenizer_config.json, a ByteLevel post-processor: the well-known name.
  CHECK(bl.bos_id() == bl.token_id("<|endoftext|>"));
  CHECK(bl.eos_id() == bl.token_id("<|endoftext|>"));
  CHECK(bl.token_text(bl.token_id("Ġ")) == " ");
  CHECK(bl.token_text(bl.token_id("Ċ")) == "\n");
  CHECK(bl.is_special(bl.token_id("<|endoftext|>")));
  CHECK_FALSE(bl.is_special(bl.token_id("[NAME]")));
  CHECK(bl.merge_count() > 300);

  // tokenizer_config.json with AddedToken objects.
  const auto llama = HfTokenizer::from_file(fixture_dir() / "llama" / "tokenizer.json");
  CHECK(llama.bos_id() == 1);
  CHECK(llama.eos_id() == 2);
  CHECK(llama.token_text(llama.token_id("\u2581")) == " ");
  CHECK(llama.token_text(llama.token_id("<0x0A>")) == "\n");
  CHECK(llama.token_text(1) == "<s>");
  CHECK(llama.token(3) == "<0x00>");
  CHECK(llama.normalize("a b") == "\u2581a\u2581b");
  // Without the config: <s> from the "<s> $A" template, </s> by name.
  std::ifstream is(fixture_dir() / "llama" / "tokenizer.json");
  const std::string text((std::istreambuf_iterator<char>(is)), {});
  const auto bare = HfTokenizer::from_string(text, "llama/tokenizer.json");
  CHECK(bare.bos_id() == 1);
  CHECK(bare.eos_id() == 2);
  CHECK(
      HfTokenizer::from_string(text, "t", R"({"bos_token": null, "eos_token": "<s>"})").bos_id() ==
      -1);
  CHECK(HfTokenizer::from_string(text, "t", R"({"eos_token": "<s>"})").eos_id() == 1);
  CHECK_THROWS_WITH(HfTokenizer::from_string(text, "t", R"({"eos_token": "<nope>"})", "c.json"),
                    Catch::Contains("'c.json'") && Catch::Contains("'<nope>'"));
  CHECK_THROWS_WITH(HfTokenizer::from_string(text, "t", R"({"eos_token": 2})", "c.json"),
                    Catch::Contains("'c.json'") && Catch::Contains("\"eos_token\" must be"));
  CHECK_THROWS_WITH(HfTokenizer::from_string(text, "t", R"({"eos_token": )", "c.json"),
                    Catch::Contains("'c.json'") && Catch::Contains("not valid JSON"));

  // Plain-string tokenizer_config.json.
  const auto ms = HfTokenizer::from_directory(fixture_dir() / "llama_metaspace");
  CHECK(ms.bos_id() == 1);
  CHECK(ms.eos_id() == 2);

  // BOS from the template inside a Sequence post-processor, EOS by name.
  const auto l3 = HfTokenizer::from_directory(fixture_dir() / "llama3");
  CHECK(l3.bos_id() == l3.token_id("<|begin_of_text|>"));
  CHECK(l3.eos_id() == l3.token_id("<|end_of_text|>"));
  CHECK(l3.bos_id() == 600);
}

TEST_CASE("HfTokenizer: further pre-tokenizers and decoders match tokenizers",
          "[text][hf_tokenizer]") {
  const auto stages = read_json(fixture_dir() / "stages.json");
  const auto& strings = expected()["strings"];
  int compared = 0;
  for (const auto& p : stages["pre_tokenizers"]) {
    auto j = tiny();
    j["pre_tokenizer"] = p["json"];
    INFO("pre_tokenizer " << p["json"].dump());
    const auto tok = load(j);
    for (std::size_t i = 0; i < strings.size(); ++i) {
      INFO("text " << i << ": " << strings[i].dump());
      CHECK(tok.pre_tokenize(strings[i].get<std::string>()) ==
            p["pieces"][i].get<std::vector<std::string>>());
      ++compared;
    }
  }
  for (const auto& d : stages["decoders"]) {
    // A vocabulary of the tokens the cases use; decode runs the decoder over their spellings.
    auto j = tiny();
    j["decoder"] = d["json"];
    json vocab = json::object();
    for (const auto& c : d["tokens"])
      for (const auto& t : c)
        if (!vocab.contains(t.get<std::string>())) vocab[t.get<std::string>()] = vocab.size();
    j["model"]["vocab"] = vocab;
    j["model"]["merges"] = json::array();
    INFO("decoder " << d["json"].dump());
    const auto tok = load(j);
    for (std::size_t i = 0; i < d["tokens"].size(); ++i) {
      if (d["text"][i].is_null()) continue;  // tokenizers panics there
      std::vector<int32_t> ids;
      for (const auto& t : d["tokens"][i]) ids.push_back(tok.token_id(t.get<std::string>()));
      INFO("tokens " << d["tokens"][i].dump());
      CHECK(tok.decode(ids) == d["text"][i].get<std::string>());
      ++compared;
    }
  }
  CHECK(compared > 500);
}

TEST_CASE("HfTokenizer: text that is not UTF-8", "[text][hf_tokenizer]") {
  // tokenizers only sees valid UTF-8; here a stray byte goes through byte fallback (or the
  // byte-level alphabet) alone, and decoding replaces it by U+FFFD as tokenizers would.
  const auto llama = HfTokenizer::from_directory(fixture_dir() / "llama");
  const auto ids = llama.encode("a\xff b");
  CHECK(std::find(ids.begin(), ids.end(), 3 + 0xFF) != ids.end());
  CHECK(llama.decode(ids) == "a\uFFFD b");
  const auto bl = HfTokenizer::from_directory(fixture_dir() / "bytelevel");
  const auto bids = bl.encode("a\xff\xc3 b");
  CHECK(bl.decode(bids) == "a\uFFFD\uFFFD b");
  std::string bytes;
  for (const auto id : bids) bytes += bl.token_text(id);
  CHECK(bytes == "a\xff\xc3 b");
}

TEST_CASE("HfTokenizer: both merges formats load alike", "[text][hf_tokenizer]") {
  for (const auto* name : {"bytelevel", "llama"}) {
    INFO("fixture " << name);
    auto j = read_json(fixture_dir() / name / "tokenizer.json");
    const bool strings = j["model"]["merges"][0].is_string();
    CHECK(strings == (std::string(name) == "llama"));  // the fixture script wrote one of each
    json other = json::array();
    for (const auto& m : j["model"]["merges"]) {
      if (strings) {
        const auto s = m.get<std::string>();
        other.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
      } else {
        other.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      }
    }
    const auto a = HfTokenizer::from_file(fixture_dir() / name / "tokenizer.json");
    j["model"]["merges"] = other;
    const auto b = HfTokenizer::from_string(j.dump(), "converted");
    CHECK(a.merge_count() == b.merge_count());
    for (const auto& s : expected()["strings"]) {
      INFO(s.dump());
      CHECK(a.encode(s.get<std::string>()) == b.encode(s.get<std::string>()));
    }
  }
}

TEST_CASE("HfTokenizer: long texts, round trips", "[text][hf_tokenizer]") {
  // A Llama-2 style tokenizer has no pre-tokenizer: the whole text is one BPE word, which the
  // heap-based merge loop takes in O(n log n).
  std::ifstream is(fs::path(GFNLM_SHARED_DIR) / "data/tinystories/paragraphs.txt");
  std::string text, line;
  for (int i = 0; i < 1600 && std::getline(is, line); ++i) text += line + "\n";
  if (text.size() < 100000) text = std::string(4000, 'x') + " a b c \n" + text;  // no shared data
  for (const auto* name : {"bytelevel", "llama", "llama_metaspace", "llama3"}) {
    INFO("fixture " << name);
    const auto tok = HfTokenizer::from_directory(fixture_dir() / name);
    const auto t0 = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(s < 10.0);
    CHECK(ids.size() > text.size() / 8);
    CHECK(tok.decode(ids) == text);
  }
}

TEST_CASE("HfTokenizer: real GPT-2 vocabulary", "[text][hf_tokenizer][gpt2]") {
  const auto& rec = expected()["gpt2"];
  REQUIRE(rec.is_object());
  // The tokenizer.json tokenizers itself wrote (make_hf_tokenizer_fixture.py; ~2 MB, not
  // committed).
  fs::path written = fs::path(GFNLM_SOURCE_DIR) / "build/hf_tokenizer/gpt2/tokenizer.json";
  if (const char* env = std::getenv("GFNLM_HF_GPT2_TOKENIZER")) written = env;
  if (fs::exists(written)) {
    const auto tok = HfTokenizer::from_file(written);
    CHECK(compare(tok, rec) == 0);
  } else {
    WARN("SKIPPED: " << written.string()
                     << " is absent; run tests/reference/make_hf_tokenizer_fixture.py (or set "
                        "GFNLM_HF_GPT2_TOKENIZER) to compare tokenizers' own GPT-2 file");
  }
  const auto dir = gpt2_vocab_dir();
  if (!dir) {
    WARN(
        "SKIPPED: GPT-2 vocabulary not found in ../shared/models/gpt2_vocab; set "
        "GFNLM_GPT2_VOCAB_DIR to a folder with encoder.json + vocab.bpe");
    return;
  }
  // The same vocabulary assembled here in Hugging Face's layout (both merges formats): equal to
  // tokenizers' ids, to Gpt2Bpe and to the reference JavaScript encoder's ids.
  const auto tok = HfTokenizer::from_string(gpt2_tokenizer_json(*dir, false), "gpt2 (strings)");
  const auto pairs = HfTokenizer::from_string(gpt2_tokenizer_json(*dir, true), "gpt2 (pairs)");
  CHECK(tok.vocab_size() == 50257);
  CHECK(tok.merge_count() == 50000);
  CHECK(tok.bos_id() == 50256);
  CHECK(tok.eos_id() == 50256);
  CHECK(compare(tok, rec) == 0);
  const auto reference = Gpt2Bpe::from_directory(*dir);
  const auto js = read_json(fs::path(GFNLM_SOURCE_DIR) / "tests/reference/gpt2_bpe/expected.json");
  int matched = 0;
  for (const auto& item : js) {
    const auto text = item["text"].get<std::string>();
    INFO("text: " << json(text).dump());
    const auto ids = tok.encode(text);
    CHECK(ids == item["ids"].get<std::vector<int32_t>>());
    CHECK(pairs.encode(text) == ids);
    CHECK(reference.encode(text) == ids);
    CHECK(tok.decode(ids) == text);
    matched += ids == item["ids"].get<std::vector<int32_t>>();
  }
  CHECK(matched == static_cast<int>(js.size()));
}

TEST_CASE("HfTokenizer: BPE options on a tiny vocabulary", "[text][hf_tokenizer]") {
  auto j = tiny();
  const auto t = load(j);
  CHECK(t.encode("abab") == std::vector<int32_t>{2, 2});
  CHECK(t.encode("aab") == std::vector<int32_t>{0, 2});
  CHECK(t.decode(std::vector<int32_t>{2, 0}) == "ab a");  // no decoder: joined by spaces
  CHECK_THROWS_WITH(t.encode("abc"), Catch::Contains("cannot encode 'c'") &&
                                         Catch::Contains("neither byte_fallback nor an unk_token"));
  CHECK_THROWS_WITH(t.decode(std::vector<int32_t>{3}),
                    Catch::Contains("token id 3 out of range [0, 3)"));
  CHECK(t.bos_id() == -1);
  CHECK(t.eos_id() == -1);
  // unk_token, fused and not.
  j["model"]["vocab"]["<unk>"] = 3;
  j["model"]["unk_token"] = "<unk>";
  CHECK(load(j).encode("axyb") == std::vector<int32_t>{0, 3, 3, 1});
  j["model"]["fuse_unk"] = true;
  CHECK(load(j).encode("axyb") == std::vector<int32_t>{0, 3, 1});
  // ignore_merges: a piece that is a token is taken whole.
  auto k = tiny();
  k["model"]["vocab"]["aab"] = 3;
  k["model"]["merges"].push_back({"a", "ab"});
  CHECK(load(k).encode("aab") == std::vector<int32_t>{3});
  k["model"]["merges"] = json::array({{"a", "b"}});
  CHECK(load(k).encode("aab") == std::vector<int32_t>{0, 2});
  k["model"]["ignore_merges"] = true;
  CHECK(load(k).encode("aab") == std::vector<int32_t>{3});
  // continuing_subword_prefix: "##b" continues a word; (a, ##b) makes "ab".
  auto w = tiny();
  w["model"]["vocab"] = {{"a", 0}, {"##b", 1}, {"ab", 2}, {"b", 3}};
  w["model"]["merges"] = json::array({"a ##b"});
  w["model"]["continuing_subword_prefix"] = "##";
  CHECK(load(w).encode("ab") == std::vector<int32_t>{2});
  CHECK(load(w).encode("b") == std::vector<int32_t>{3});
  // An added token that is single_word only matches between non-word characters.
  auto s = tiny();
  s["added_tokens"] =
      json::array({{{"id", 3}, {"content", "ab"}, {"single_word", true}, {"special", false}}});
  s["model"]["vocab"]["x"] = 4;
  s["model"]["vocab"][" "] = 5;
  const auto st = load(s);
  CHECK(st.encode("ab") == std::vector<int32_t>{3});
  CHECK(st.encode("ab ab") == std::vector<int32_t>{3, 5, 3});
  CHECK(st.encode("xab") == std::vector<int32_t>{4, 2});
}

TEST_CASE("HfTokenizer: malformed and unsupported files", "[text][hf_tokenizer]") {
  using Catch::Contains;
  auto throws = [](const json& j, const std::string& what) {
    INFO(j.dump());
    CHECK_THROWS_AS(load(j), gfnlm::Error);
    CHECK_THROWS_WITH(load(j), Contains("'t.json'") && Contains(what));
  };
  CHECK_THROWS_WITH(HfTokenizer::from_file("/nonexistent/tokenizer.json"),
                    Contains("cannot open") && Contains("/nonexistent/tokenizer.json"));
  CHECK_THROWS_WITH(HfTokenizer::from_directory("/nonexistent"), Contains("no tokenizer.json"));
  CHECK_THROWS_WITH(HfTokenizer::from_string("{\"model\": ", "t.json"),
                    Contains("'t.json'") && Contains("not valid JSON"));
  CHECK_THROWS_WITH(HfTokenizer::from_string("{\"a\": 0}", "t.json"), Contains("no \"model\""));

  auto j = tiny();
  j["model"]["type"] = "Unigram";
  throws(j, "model type 'Unigram' is not supported");
  j = tiny();
  j["model"]["type"] = "WordPiece";
  throws(j, "model type 'WordPiece'");
  j = tiny();
  j["normalizer"] = {{"type", "NFC"}};
  throws(j, "normalizer type 'NFC' is not supported");
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Lowercase"}}})}};
  throws(j, "normalizer type 'Lowercase'");
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", "▁"}};
  throws(j, "Regex pattern ( +) is not supported");
  j = tiny();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  throws(j, "pre-tokenizer type 'Whitespace' is not supported");
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "\\w+"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  throws(j, "pattern '\\w+' is not supported");
  j["pre_tokenizer"]["behavior"] = "Removed";
  throws(j, "only behavior Isolated");
  j["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", "▁"}, {"prepend_scheme", "sometimes"}};
  throws(j, "prepend_scheme 'sometimes'");
  j = tiny();
  j["decoder"] = {{"type", "WordPiece"}};
  throws(j, "decoder type 'WordPiece' is not supported");
  j["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
  throws(j, "must be one character");

  j = tiny();
  j["model"]["merges"] = json::array({{"a", "c"}});
  throws(j, "merge 0 ('a' 'c') refers to 'c', which is not in the vocabulary");
  j["model"]["merges"] = json::array({"b a"});
  throws(j, "merge 0 ('b' 'a') makes 'ba', which is not in the vocabulary");
  j["model"]["merges"] = json::array({"a b", "ab"});
  throws(j, "merge 1 'ab' is not 'left right'");
  j["model"]["merges"] = json::array({json::array({"a"})});
  throws(j, "merge 0 is neither");
  j = tiny();
  j["model"]["vocab"]["c"] = -1;
  throws(j, "token 'c' has id -1, out of range");
  j["model"]["vocab"]["c"] = "3";
  throws(j, "token 'c' has a non-integer id");
  j["model"]["vocab"]["c"] = 1;
  throws(j, "tokens 'b' and 'c' both have id 1");
  j["model"]["vocab"]["c"] = 4;
  throws(j, "token 'c' has id 4, out of range [0, 4) (the number of tokens)");
  j["added_tokens"] = json::array({{{"id", 4}, {"content", "c"}}});  // the same token twice
  throws(j, "id 3 has no token");
  j = tiny();
  j["model"]["unk_token"] = "<unk>";
  throws(j, "unk_token '<unk>' is not in the vocabulary");
  j = tiny();
  j["model"]["dropout"] = 0.1;
  throws(j, "dropout 0.1 is not supported");
  j = tiny();
  j["added_tokens"] = json::array({{{"id", 1}, {"content", "<s>"}}});
  throws(j, "'<s>' has id 1, which the vocabulary gives to 'b'");
  j["added_tokens"] =
      json::array({{{"id", 3}, {"content", "<s>"}}, {{"id", 3}, {"content", "</s>"}}});
  throws(j, "id 3 is already added token '<s>'");
  j["added_tokens"] = json::array({{{"id", 5}, {"content", "<s>"}}});
  throws(j, "added_tokens[0]: id 5 is out of range [0, 4)");
  j["added_tokens"] = json::array({{{"id", 2}, {"content", "ab"}}, {{"id", 4}, {"content", "x"}}});
  throws(j, "id 3 has no token; ids must run from 0 to 4 without gaps");
  j["added_tokens"] = json::array({{{"id", 3}, {"content", ""}}});
  throws(j, "the content is empty");
  j = tiny();
  j["model"].erase("vocab");
  throws(j, "\"vocab\" must be an object");
  // Byte fallback without byte tokens, and no unk: a clear encode error.
  j = tiny();
  j["model"]["byte_fallback"] = true;
  CHECK_THROWS_WITH(load(j).encode("aé"),
                    Contains("cannot encode 'é' (U+00E9)") && Contains("no byte token"));
  j["added_tokens"] = json::array({{{"id", 3}, {"content", "<s>"}, {"special", true}}});
  CHECK(load(j).encode("ab<s>a") == std::vector<int32_t>{2, 3, 0});
  CHECK(load(j).decode(std::vector<int32_t>{2, 3, 0}) == "ab a");
  CHECK(load(j).decode(std::vector<int32_t>{2, 3, 0}, false) == "ab <s> a");
}
