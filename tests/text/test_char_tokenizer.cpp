#include <gfnlm/text/char_tokenizer.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

using gfnlm::CharTokenizer;

TEST_CASE("CharTokenizer: digits plus <eos>", "[text][char]") {
  const CharTokenizer tok("0123456789", {"<eos>"});
  CHECK(tok.vocab_size() == 11);
  CHECK(tok.alphabet_size() == 10);
  CHECK(tok.eos_id() == 10);
  CHECK(tok.bos_id() == -1);
  CHECK(tok.encode("907") == std::vector<int32_t>{9, 0, 7});
  CHECK(tok.encode("12<eos>") == std::vector<int32_t>{1, 2, 10});
  const std::vector<int32_t> ids{3, 1, 4, 10};
  CHECK(tok.decode(ids) == "314<eos>");
  CHECK(tok.token_text(5) == "5");
  CHECK(tok.token_id("7") == 7);
  CHECK(tok.token_id("x") == -1);
  CHECK(tok.is_special(10));
  CHECK_FALSE(tok.is_special(9));
}

TEST_CASE("CharTokenizer: unknown characters are named with their position", "[text][char]") {
  const CharTokenizer tok("ab");
  try {
    (void)tok.encode("abxa");
    FAIL("no exception");
  } catch (const gfnlm::Error& e) {
    const std::string what = e.what();
    CHECK(what.find("'x'") != std::string::npos);
    CHECK(what.find("byte 2") != std::string::npos);
  }
  CHECK_THROWS_WITH(tok.encode("a\n"), Catch::Contains("'\\n'") && Catch::Contains("byte 1"));
  CHECK_THROWS_WITH(tok.encode("a\xff"), Catch::Contains("invalid UTF-8"));
  const std::vector<int32_t> bad{0, 2};
  CHECK_THROWS_WITH(tok.decode(bad), Catch::Contains("token id 2 out of range"));
}

TEST_CASE("CharTokenizer: UTF-8 alphabet and from_corpus", "[text][char]") {
  const std::vector<std::string> corpus{"héllo wörld", "日本\n"};
  const auto tok = CharTokenizer::from_corpus(corpus, {"<bos>", "<eos>"});
  // distinct characters: \n, space, d h l o r w, é ö, 日 本
  CHECK(tok.alphabet_size() == 12);
  CHECK(tok.token_text(0) == "\n");  // code-point order
  CHECK(tok.token_text(1) == " ");
  CHECK(tok.token_text(11) == "本");
  CHECK(tok.bos_id() == 12);
  CHECK(tok.eos_id() == 13);
  for (const auto& s : corpus) CHECK(tok.decode(tok.encode(s)) == s);
  CHECK(tok.encode("日").size() == 1);
  CHECK_THROWS_WITH(tok.encode("hé!"), Catch::Contains("'!'") && Catch::Contains("byte 3"));
  CHECK_THROWS_WITH(tok.encode("hè"), Catch::Contains("U+00E8"));
}

TEST_CASE("CharTokenizer: construction errors", "[text][char]") {
  CHECK_THROWS_WITH(CharTokenizer("aba"), Catch::Contains("twice"));
  CHECK_THROWS_WITH(CharTokenizer("ab", {"a"}), Catch::Contains("special token 'a'"));
  CHECK_THROWS_WITH(CharTokenizer("ab", {"<x y>"}), Catch::Contains("whitespace"));
  CHECK_THROWS_WITH(CharTokenizer("a\xc3"), Catch::Contains("not valid UTF-8"));
}

TEST_CASE("CharTokenizer: save and load", "[text][char]") {
  const CharTokenizer tok(" \n\tabcé", {"<pad>", "<eos>"});
  std::stringstream ss;
  tok.save(ss);
  const auto back = CharTokenizer::load(ss, "mem");
  REQUIRE(back.vocab_size() == tok.vocab_size());
  for (int32_t id = 0; id < tok.vocab_size(); ++id)
    CHECK(back.token_text(id) == tok.token_text(id));
  CHECK(back.pad_id() == 7);
  CHECK(back.eos_id() == 8);

  const auto path = std::filesystem::temp_directory_path() / "gfnlm_test_char_tok.txt";
  tok.save(path);
  const auto from_file = CharTokenizer::load(path);
  CHECK(from_file.encode("a b\n<eos>") == tok.encode("a b\n<eos>"));
  std::filesystem::remove(path);

  std::stringstream bad_magic("something else\n");
  CHECK_THROWS_WITH(CharTokenizer::load(bad_magic, "f.txt"), Catch::Contains("'f.txt'"));
  std::stringstream bad_hex("gfnlm-char-tokenizer 1\nc 6g\n");
  CHECK_THROWS_WITH(CharTokenizer::load(bad_hex, "f.txt"),
                    Catch::Contains("line 2") && Catch::Contains("'6g'"));
  std::stringstream dup("gfnlm-char-tokenizer 1\nc 61\nc 61\n");
  CHECK_THROWS_WITH(CharTokenizer::load(dup, "f.txt"), Catch::Contains("twice"));
  CHECK_THROWS(CharTokenizer::load(std::filesystem::path("/nonexistent/tok.txt")));
}

#include <gfnlm/text/byte_tokenizer.hpp>

TEST_CASE("ByteTokenizer: every byte string round-trips; specials after 255", "[text][byte]") {
  const gfnlm::ByteTokenizer tok({"<eos>", "<e>"});
  CHECK(tok.vocab_size() == 258);
  CHECK(tok.eos_id() == 256);
  CHECK(tok.bos_id() == -1);
  CHECK(tok.encode("A\xff") == std::vector<int32_t>{65, 255});
  CHECK(tok.encode("a<eos><e><x") == std::vector<int32_t>{97, 256, 257, '<', 'x'});
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  CHECK(tok.decode(tok.encode(all)) == all);
  CHECK(tok.token_text(257) == "<e>");
  const std::vector<int32_t> bad{258};
  CHECK_THROWS_WITH(tok.decode(bad), Catch::Contains("token id 258 out of range"));
  CHECK_THROWS_WITH(gfnlm::ByteTokenizer({"x", "x"}), Catch::Contains("twice"));
}
