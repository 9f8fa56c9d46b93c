// GPT-2 byte-level BPE: the pre-tokeniser against hand-worked splits, loader errors on small
// synthetic vocabularies, and (where the real vocabulary is present) ids equal to the reference
// JavaScript encoder's on tests/reference/gpt2_bpe/expected.json.
#include <gfnlm/text/gpt2_bpe.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using gfnlm::Gpt2Bpe;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> out;
  for (const auto p : gfnlm::gpt2_pretokenize(text)) out.emplace_back(p);
  return out;
}

// A byte-level vocabulary with all 256 bytes (spelled in GPT-2's byte alphabet) plus `extra`.
std::string byte_vocab(const std::vector<std::string>& extra) {
  const auto alphabet = gfnlm::detail::gpt2_byte_alphabet();
  nlohmann::json j = nlohmann::json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) {
    std::string s;
    gfnlm::utf8::append(s, alphabet[b]);
    j[s] = id++;
  }
  for (const auto& e : extra) j[e] = id++;
  return j.dump();
}

// Where the real GPT-2 files are: $GFNLM_GPT2_VOCAB_DIR, then the CMake-detected folder, then
// ../shared/models/gpt2_vocab beside the checkout.
std::optional<fs::path> real_vocab_dir() {
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

}  // namespace

TEST_CASE("gpt2_pretokenize: hand-worked splits", "[text][gpt2]") {
  using V = std::vector<std::string>;
  CHECK(split("Hello world") == V{"Hello", " world"});
  CHECK(split("Hello  world's 123!!\n\n x") ==
        V{"Hello", " ", " world", "'s", " 123", "!!", "\n\n", " x"});
  CHECK(split("I'm   ok") == V{"I", "'m", "  ", " ok"});
  CHECK(split("a\tb") == V{"a", "\t", "b"});
  CHECK(split("trailing   ") == V{"trailing", "   "});
  CHECK(split("x?'s") == V{"x", "?'", "s"});
  CHECK(split("'S") == V{"'", "S"});
  CHECK(split("abc123def") == V{"abc", "123", "def"});
  CHECK(split("café 日本") == V{"café", " 日本"});
  CHECK(split("x\u00a0y") == V{"x", "\u00a0", "y"});  // NBSP is \s but not the optional space
  CHECK(split("½ ²") == V{"½", " ²"});                // No category counts as \p{N}
  CHECK(split("a\xff b") == V{"a", "\xff", " b"});    // invalid byte: its own "other" run
  CHECK(split("").empty());
}

TEST_CASE("Gpt2Bpe: merges on a synthetic vocabulary", "[text][gpt2]") {
  // "Ġ" spells a space. Merges: (l,o) rank 0, (Ġ,lo) rank 1, (lo,w) rank 2, (Ġlo,w) rank 3.
  const auto vocab = byte_vocab({"lo", "low", "Ġlo", "Ġlow", "<|endoftext|>"});
  const auto tok = Gpt2Bpe::from_strings(vocab, "#version: 0.2\nl o\nĠ lo\nlo w\nĠlo w\n");
  CHECK(tok.vocab_size() == 261);
  CHECK(tok.merge_count() == 4);
  CHECK(tok.eos_id() == 260);
  CHECK(tok.bos_id() == 260);
  const auto low = tok.token_id("low"), space_low = tok.token_id(" low");
  CHECK(low == 257);
  CHECK(space_low == 259);
  CHECK(tok.encode("low low") == std::vector<int32_t>{low, space_low});
  CHECK(tok.encode("lol") == std::vector<int32_t>{256, tok.token_id("l")});
  // With (lo,w) ranked above (Ġ,lo), " low" becomes Ġ + low: the best-ranked pair merges first.
  const auto tok2 = Gpt2Bpe::from_strings(vocab, "l o\nlo w\nĠ lo\nĠlo w\n");
  CHECK(tok2.encode(" low") == std::vector<int32_t>{tok2.token_id(" "), low});
  const auto bytes = std::string("\x00\xff\n\t z\xc3\xa9", 8);
  CHECK(tok.decode(tok.encode(bytes)) == bytes);
  CHECK(tok.token_text(tok.token_id("\n")) == "\n");
  // The same files under Hugging Face's names, found by from_directory.
  const auto dir = fs::temp_directory_path() / "gfnlm_test_gpt2_hf";
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.json") << vocab;
  std::ofstream(dir / "merges.txt") << "#version: 0.2\nl o\nĠ lo\nlo w\nĠlo w\n";
  CHECK(Gpt2Bpe::from_directory(dir).encode("low low") == tok.encode("low low"));
  fs::remove_all(dir);
  const std::vector<int32_t> bad{261};
  CHECK_THROWS_WITH(tok.decode(bad), Catch::Contains("token id 261 out of range"));
}

TEST_CASE("Gpt2Bpe: bad vocabulary and merges files", "[text][gpt2]") {
  const auto vocab = byte_vocab({"ab"});
  using Catch::Contains;
  CHECK_THROWS_AS(Gpt2Bpe::from_strings("{\"a\": 0", "", "v.json"), gfnlm::FormatError);
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("{\"a\": 0", "", "v.json"),
                    Contains("'v.json'") && Contains("not valid JSON"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("[1, 2]", "", "v.json"), Contains("JSON object"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("{\"a\": 0, \"b\": \"x\"}", "", "v.json"),
                    Contains("token 'b'") && Contains("non-integer"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("{\"a\": 0, \"b\": 0}", "", "v.json"), Contains("id 0"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("{\"a\": 0, \"b\": 7}", "", "v.json"), Contains("id 7"));
  // Invalid UTF-8 inside a vocabulary key.
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("{\"\xc3\x28\": 0}", "", "v.json"),
                    Contains("'v.json'") && Contains("UTF-8"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings("{\"a\": 0}", "", "v.json"),
                    Contains("no token for byte 0x00"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings(vocab, "#version: 0.2\na b c\n", "v", "m.txt"),
                    Contains("'m.txt' line 2") && Contains("'a b c'"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings(vocab, "ab\n", "v", "m.txt"), Contains("line 1"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings(vocab, "a c\n", "v", "m.txt"),
                    Contains("line 1") && Contains("missing from the vocabulary"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings(vocab, "a \xff\n", "v", "m.txt"),
                    Contains("'m.txt'") && Contains("invalid UTF-8 at byte 2"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_strings(vocab, "a \xe2\x82\xac\n", "v", "m.txt"),
                    Contains("outside GPT-2's byte alphabet"));
  CHECK_NOTHROW(Gpt2Bpe::from_strings(vocab, "#version: 0.2\r\na b\r\n\r\n"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_files("/nonexistent/vocab.json", "/nonexistent/merges.txt"),
                    Contains("/nonexistent/vocab.json"));
  CHECK_THROWS_WITH(Gpt2Bpe::from_directory("/nonexistent"), Contains("neither"));
}

TEST_CASE("Gpt2Bpe: real GPT-2 vocabulary matches the reference encoder", "[text][gpt2]") {
  const auto dir = real_vocab_dir();
  if (!dir) {
    WARN(
        "SKIPPED: GPT-2 vocabulary not found in ../shared/models/gpt2_vocab; set "
        "GFNLM_GPT2_VOCAB_DIR to a folder with encoder.json + vocab.bpe");
    return;
  }
  const auto tok = Gpt2Bpe::from_directory(*dir);
  CHECK(tok.vocab_size() == 50257);
  CHECK(tok.merge_count() == 50000);
  CHECK(tok.eos_id() == 50256);

  std::ifstream is(fs::path(GFNLM_SOURCE_DIR) / "tests/reference/gpt2_bpe/expected.json");
  REQUIRE(is.good());
  const auto fixture = nlohmann::json::parse(is);
  REQUIRE(fixture.size() >= 200);
  int matched = 0;
  for (const auto& item : fixture) {
    const auto text = item["text"].get<std::string>();
    const auto expected = item["ids"].get<std::vector<int32_t>>();
    INFO("text: " << nlohmann::json(text).dump());
    CHECK(split(text) == item["pieces"].get<std::vector<std::string>>());
    const auto ids = tok.encode(text);
    CHECK(ids == expected);
    CHECK(tok.decode(ids) == text);
    matched += ids == expected;
  }
  CHECK(matched == static_cast<int>(fixture.size()));
}
