// llama2.c tokenizer: synthetic files (merge order by score, byte fallback, malformed files) and
// the real tok512.bin from ../shared/models/aidreams260K (skipped where absent).
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

using gfnlm::Llama2cTokenizer;
namespace fs = std::filesystem;

namespace {

struct TokFile {
  std::string bytes;
  template <class T>
  TokFile& pod(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  TokFile& token(std::string_view piece, float score) {
    pod(score).pod(static_cast<int32_t>(piece.size()));
    bytes.append(piece);
    return *this;
  }
};

// <unk> <s> </s>, the 256 byte tokens, then a few pieces with scores.
TokFile small_vocab() {
  TokFile f;
  f.pod(int32_t{8}).token("<unk>", 0).token("\n<s>\n", 0).token("\n</s>\n", 0);
  for (int b = 0; b < 256; ++b) f.token(fmt::format("<0x{:02X}>", b), 0);
  // ids 259.. : single characters, then merges; higher score merges first.
  for (const char* c : {" ", "a", "b", "c", "é"}) f.token(c, -100);
  f.token("ab", -1).token("bc", -2).token(" a", -3).token(" ab", -4).token("abc", -0.5f);
  return f;
}

}  // namespace

TEST_CASE("Llama2cTokenizer: merges by score and byte fallback", "[text][llama2c]") {
  const auto tok = Llama2cTokenizer::from_bytes(small_vocab().bytes, "mem");
  REQUIRE(tok.vocab_size() == 3 + 256 + 5 + 5);
  CHECK(tok.max_token_length() == 8);
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  const auto id = [&](std::string_view p) { return tok.token_id(p); };
  // " abc": pieces " ","a","b","c"; best first: "ab" (-1) -> " ", "ab", "c"; then "abc" (-0.5)
  // beats " ab" (-4).
  CHECK(tok.encode("abc") == std::vector<int32_t>{id(" "), id("abc")});
  // " bc": "bc" (-2) only.
  CHECK(tok.encode("bc") == std::vector<int32_t>{id(" "), id("bc")});
  // " a": " a" (-3).
  CHECK(tok.encode("a") == std::vector<int32_t>{id(" a")});
  // 'z' has no token: byte fallback <0x7A>; "日" is three byte tokens.
  CHECK(tok.encode("z") == std::vector<int32_t>{id(" "), id("<0x7A>")});
  CHECK(tok.encode("日") ==
        std::vector<int32_t>{id(" "), id("<0xE6>"), id("<0x97>"), id("<0xA5>")});
  CHECK(tok.encode("").empty());
  for (const std::string s : {"abc", "zz top", "é日本\n", "a  b\tc", " leading", "\xff\xfe"}) {
    const auto ids = tok.encode(s);
    CHECK(tok.decode(ids) == s);
    std::vector<int32_t> with_bos{tok.bos_id()};
    with_bos.insert(with_bos.end(), ids.begin(), ids.end());
    with_bos.push_back(tok.eos_id());
    CHECK(tok.decode(with_bos) == s);
  }
  CHECK(tok.token_text(id("<0x41>")) == "A");
  CHECK(tok.piece(id("<0x41>")) == "<0x41>");
  CHECK(tok.score(id("ab")) == -1.0f);
  const std::vector<int32_t> bad{tok.vocab_size()};
  CHECK_THROWS_WITH(tok.decode(bad), Catch::Contains("out of range"));
}

TEST_CASE("Llama2cTokenizer: no byte tokens gives a clear encode error", "[text][llama2c]") {
  TokFile f;
  f.pod(int32_t{8}).token("<unk>", 0).token("<s>", 0).token("</s>", 0).token(" ", 0).token("a", 0);
  const auto tok = Llama2cTokenizer::from_bytes(f.bytes, "mem");
  CHECK(tok.encode("aa").size() == 3);
  CHECK_THROWS_WITH(tok.encode("ab"), Catch::Contains("'b' at byte 1") && Catch::Contains("0x62"));
}

TEST_CASE("Llama2cTokenizer: malformed files", "[text][llama2c]") {
  using Catch::Contains;
  const auto good = small_vocab().bytes;
  CHECK_THROWS_AS(Llama2cTokenizer::from_bytes(good.substr(0, 2), "t.bin"), gfnlm::FormatError);
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(good.substr(0, 2), "t.bin"),
                    Contains("'t.bin'") && Contains("max_token_length"));
  // Tokens 0..2 take 4 + 13 + 13 + 14 = 44 bytes, each byte token 14: token 4 spans [58, 72).
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(good.substr(0, 68), "t.bin"),
                    Contains("truncated") && Contains("token 4 bytes"));
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(good.substr(0, 60), "t.bin"),
                    Contains("truncated") && Contains("token 4 score"));
  for (std::size_t cut = 5; cut < 200; cut += 7) {
    if (cut == good.size()) continue;
    CHECK_THROWS_AS(Llama2cTokenizer::from_bytes(good.substr(0, cut), "t.bin"), gfnlm::FormatError);
  }
  TokFile neg;
  neg.pod(int32_t{-3});
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(neg.bytes, "t.bin"), Contains("-3"));
  TokFile too_long;
  too_long.pod(int32_t{2}).token("abc", 0);
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(too_long.bytes, "t.bin"),
                    Contains("token 0 has length 3"));
  TokFile huge_len;
  huge_len.pod(int32_t{8}).pod(0.0f).pod(int32_t{1 << 30});
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(huge_len.bytes, "t.bin"), Contains("length"));
  TokFile bad_utf8;
  bad_utf8.pod(int32_t{8}).token("ok", 0).token("a\xc3(", 0);
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(bad_utf8.bytes, "t.bin"),
                    Contains("token 1 is not valid UTF-8"));
  TokFile nan_score;
  nan_score.pod(int32_t{8}).token("x", std::nanf(""));
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(nan_score.bytes, "t.bin"),
                    Contains("non-finite score"));
  TokFile empty;
  empty.pod(int32_t{8});
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(empty.bytes, "t.bin"), Contains("no tokens"));
  CHECK_THROWS_WITH(Llama2cTokenizer::from_bytes(good, "t.bin", 32000),
                    Contains("holds 269 tokens") && Contains("32000"));
  CHECK_THROWS_WITH(Llama2cTokenizer::from_file("/nonexistent/tok.bin"),
                    Contains("/nonexistent/tok.bin"));
}

TEST_CASE("Llama2cTokenizer: real tok512.bin", "[text][llama2c]") {
  const auto path = fs::path(GFNLM_SHARED_DIR) / "models/aidreams260K/tok512.bin";
  if (!fs::exists(path)) {
    WARN("SKIPPED: " << path.string() << " is absent");
    return;
  }
  const auto tok = Llama2cTokenizer::from_file(path, 512);
  CHECK(tok.vocab_size() == 512);
  CHECK(tok.max_token_length() == 10);
  CHECK(tok.piece(0) == "<unk>");
  CHECK(tok.piece(tok.bos_id()) == "\n<s>\n");
  CHECK(tok.piece(tok.eos_id()) == "\n</s>\n");
  CHECK(tok.piece(3) == "<0x00>");
  CHECK(tok.piece(258) == "<0xFF>");

  // Hand-checked against the vocabulary: with only 512 tokens, " O", "On", "nce", " u", "up",
  // "ti", "me" are absent while "ce", "on", " a", " t", "im" are present (ids 259.. hold the
  // merges, best score first).
  const auto ids = tok.encode("Once upon a time");
  std::vector<std::string> pieces;
  for (const auto id : ids) pieces.push_back(tok.piece(id));
  CHECK(fmt::format("{}", fmt::join(pieces, "|")) == " |O|n|ce| |u|p|on| a| t|im|e");
  CHECK(tok.decode(ids) == "Once upon a time");
  CHECK(tok.token_id(" a") == 262);

  for (const std::string s :
       {"Once upon a time, whispers of precision, and I adjust to certainty.",
        "The little robot dreamed of electric sheep.\nThen it woke up.", "  two  spaces  ",
        "Numbers 12345 and symbols #@!~", "Unicode: café, 日本語, emoji 😀", "\t\n\r", "x"}) {
    const auto enc = tok.encode(s);
    CHECK(tok.decode(enc) == s);
    for (const auto id : enc) CHECK((id >= 3 && id < 512));
    // The merge loop ran to completion: no adjacent pair spells a token.
    for (std::size_t i = 0; i + 1 < enc.size(); ++i)
      CHECK(tok.token_id(tok.piece(enc[i]) + tok.piece(enc[i + 1])) == -1);
  }
  // Characters outside the vocabulary fall back to bytes: "日" is 3 byte tokens after the space.
  const auto cjk = tok.encode("日");
  CHECK(cjk.size() == 4);
  CHECK(tok.piece(cjk[1]) == "<0xE6>");
}
