// The TinyStories data layer (issue 19): sentence splitting, bad input, the fixed-seed split, the
// items, and on the real data and stories260K's tokenizer the measured properties the
// experiments rely on (skipped with a warning where ../shared lacks them).
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/io/llama2c.hpp>
#include <gfnlm/tasks/stories.hpp>
#include <gfnlm/text/byte_tokenizer.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

using namespace gfnlm;
using namespace gfnlm::stories;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

std::vector<std::string> sentences(const std::string& text) {
  const auto p = make_paragraph(text);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < p.size(); ++i) out.emplace_back(p.sentence(i));
  return out;
}

fs::path write_temp(const std::string& name, const std::string& text) {
  const auto path = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

const fs::path kData = fs::path(GFNLM_SHARED_DIR) / "data/tinystories/paragraphs.txt";
const fs::path kModel = fs::path(GFNLM_SHARED_DIR) / "models/stories260K";

bool shared_present() {
  if (fs::exists(kData) && fs::exists(kModel / "tok512.bin") && fs::exists(kModel / "model.bin"))
    return true;
  WARN("skipping: " << kData.string() << " or " << kModel.string() << " is absent");
  return false;
}

}  // namespace

TEST_CASE("stories: sentences end at . ! ? with closing quotes", "[tasks_stories]") {
  using V = std::vector<std::string>;
  CHECK(sentences("Tom ran. He fell! Why? The end.") ==
        V{"Tom ran.", "He fell!", "Why?", "The end."});
  // The quote closes the first sentence; a lower-case word after it continues the sentence.
  CHECK(sentences("Spot said, \"Wow!\" Kitty smiled. \"Hi!\" said Tim. Done.") ==
        V{"Spot said, \"Wow!\"", "Kitty smiled.", "\"Hi!\" said Tim.", "Done."});
  CHECK(sentences("She said 'Mum!' Then (it was late.) Bye.") ==
        V{"She said 'Mum!'", "Then (it was late.)", "Bye."});
  // Titles, ellipses before digits, runs of marks, a quote then a full stop.
  CHECK(
      sentences("Mr. Smith and Mrs. Jones met. 1, 2, 3... 7, 8! Wait... Go?! Ok 'hide it!'.") ==
      V{"Mr. Smith and Mrs. Jones met.", "1, 2, 3... 7, 8!", "Wait...", "Go?!", "Ok 'hide it!'."});
  // Text is exact: odd spacing survives in the paragraph; a cut-short end is a sentence of its own.
  const auto p = make_paragraph("A b.  C d. E f");
  REQUIRE(p.size() == 3);
  CHECK(p.sentence(1) == "C d.");
  CHECK(p.text.substr(p.spans[0].second, p.spans[1].first - p.spans[0].second) == "  ");
  CHECK(p.sentence(2) == "E f");
  CHECK(p.joined(0, 3) == "A b. C d. E f");
  CHECK(ends_as_sentence("Hi.\"\""));
  CHECK_FALSE(ends_as_sentence("E f"));
  CHECK_FALSE(ends_as_sentence("I found it!'"));
  CHECK(sentences("   ").empty());
}

TEST_CASE("stories: bad input names the file and line", "[tasks_stories]") {
  const auto missing = fs::temp_directory_path() / "gfnlm_no_such_stories.txt";
  CHECK_THROWS_WITH(read_paragraphs(missing, 4),
                    Contains("cannot open") && Contains("gfnlm_no_such"));

  const auto short_one = write_temp("gfnlm_stories_short", "A. B. C. D.\nOne. Two.\nA. B. C. D.\n");
  CHECK_THROWS_AS(read_paragraphs(short_one, 4), Error);
  CHECK_THROWS_WITH(read_paragraphs(short_one, 4), Contains(short_one.string()) &&
                                                       Contains("line 2") &&
                                                       Contains("2 sentence(s)"));
  CHECK(read_paragraphs(short_one, 2).size() == 3);

  const auto empty_line = write_temp("gfnlm_stories_empty", "A. B. C. D.\nA. B. C. D.\n\nA. B.\n");
  CHECK_THROWS_WITH(read_paragraphs(empty_line, 1),
                    Contains(empty_line.string()) && Contains("line 3 is empty"));
  const auto crlf = write_temp("gfnlm_stories_crlf", "A. B.\r\nC. D.");  // no final newline
  const auto ps = read_paragraphs(crlf, 2);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].text == "A. B.");
  CHECK(ps[1].line == 2);
  const auto nothing = write_temp("gfnlm_stories_nothing", "");
  CHECK_THROWS_WITH(read_paragraphs(nothing, 1), Contains("holds no paragraphs"));
  for (const auto& f : {short_one, empty_line, crlf, nothing}) fs::remove(f);
}

TEST_CASE("stories: the split is deterministic, disjoint and sorted", "[tasks_stories]") {
  const SplitSizes sizes{.train = 50, .validation = 10, .test = 20};
  const auto a = split_paragraphs(100, sizes, 7), b = split_paragraphs(100, sizes, 7);
  CHECK(a.train == b.train);
  CHECK(a.validation == b.validation);
  CHECK(a.test == b.test);
  CHECK(split_paragraphs(100, sizes, 8).train != a.train);
  std::set<std::size_t> all;
  for (const auto* part : {&a.train, &a.validation, &a.test}) {
    CHECK(std::is_sorted(part->begin(), part->end()));
    all.insert(part->begin(), part->end());
  }
  CHECK(all.size() == 80);
  CHECK(*all.rbegin() < 100);
  // Fixed across platforms and versions: xoshiro256** and Rng::below only (values of seed 7).
  CHECK(a.validation == std::vector<std::size_t>{2, 32, 40, 53, 62, 66, 71, 80, 91, 99});
  const std::vector<std::size_t> pool{3, 5, 9, 11};
  const auto p = split_paragraphs(pool, {.train = 2, .validation = 1, .test = 1}, 1);
  std::vector<std::size_t> got = p.train;
  got.insert(got.end(), p.validation.begin(), p.validation.end());
  got.insert(got.end(), p.test.begin(), p.test.end());
  std::sort(got.begin(), got.end());
  CHECK(got == pool);
  CHECK_THROWS_WITH(split_paragraphs(10, {.train = 8, .validation = 2, .test = 1}, 0),
                    Contains("needs 11"));
  const std::vector<std::size_t> repeated{1, 1, 2};
  CHECK_THROWS_WITH(split_paragraphs(repeated, {.train = 1}, 0), Contains("repeats"));
}

TEST_CASE("stories: continuation and infilling items", "[tasks_stories]") {
  const std::vector<Paragraph> ps{make_paragraph("A a. B b! C c? \"D d.\" E e.", 1),
                                  make_paragraph("F f. G g. H h. I i.", 2)};
  const std::vector<std::size_t> both{0, 1};
  const auto cont = continuation_items(ps, both, ItemChoice::all, 0);
  REQUIRE(cont.size() == 6);  // k = 1..3 in each paragraph
  CHECK(cont[2].x == "A a. B b! C c?");
  CHECK(cont[2].z == "\"D d.\"");
  CHECK(cont[2].y.empty());
  CHECK(cont[2].name() == "line 1, sentence 4");
  const auto fill = infilling_items(ps, both, ItemChoice::all, 0);
  REQUIRE(fill.size() == 5);  // i = 1..3, then 1..2
  CHECK(fill[0].x == "A a.");
  CHECK(fill[0].z == "B b!");
  CHECK(fill[0].y == "C c?");
  CHECK(fill[4].z == "H h.");
  CHECK(fill[4].y == "I i.");
  // One per paragraph: drawn from the item's own seed, so the same whatever else is listed.
  const auto one = continuation_items(ps, both, ItemChoice::one_per_paragraph, 5);
  REQUIRE(one.size() == 2);
  const std::vector<std::size_t> second{1};
  CHECK(continuation_items(ps, second, ItemChoice::one_per_paragraph, 5)[0].held_out ==
        one[1].held_out);
  for (const auto& item : one) CHECK((item.held_out >= 1 && item.held_out <= 3));
  // A sentence that does not end as one is never held out.
  const std::vector<Paragraph> odd{make_paragraph("A a. She said 'Go!' B b. C c.")};
  const std::vector<std::size_t> first{0};
  for (const auto& item : continuation_items(odd, first, ItemChoice::all, 0))
    CHECK(item.z != "She said 'Go!'");
  CHECK_THROWS_WITH(continuation_items(ps, std::vector<std::size_t>{2}, ItemChoice::all, 0),
                    Contains("out of range"));
}

TEST_CASE("stories: tokens for a tokenizer without a dummy space", "[tasks_stories]") {
  const ByteTokenizer tok({"<bos>"});
  CHECK_FALSE(adds_leading_space(tok));
  const StoryItem item{0, 1, 1, "Hi.", "Go!", "Ok."};
  const auto t = tokenize(tok, item, true);
  CHECK(t.x.front() == tok.bos_id());
  CHECK(tok.decode(t.z) == " Go!");
  CHECK(tok.decode(t.y) == " Ok.");
  CHECK_THROWS_WITH(tokenize(ByteTokenizer{}, item, true), Contains("line 1, sentence 2"));
  CHECK(sentence_end_tokens(tok) == std::vector<int32_t>{'!', '"', '.', '?'});
  const auto q = to_query(t, 3);
  CHECK(q.prompt == t.x);
  CHECK(q.suffix == t.y);
  CHECK(q.id == 3);
  check_fits(q, 30, static_cast<int>(q.prompt.size() + q.suffix.size() + 30), item.name());
  CHECK_THROWS_WITH(
      check_fits(q, 30, static_cast<int>(q.prompt.size() + q.suffix.size() + 29), item.name()),
      Contains("line 1, sentence 2") && Contains("max_seq_len"));
}

// The measured properties the experiments rely on (stories/tokens.hpp, sentence_end.hpp).
TEST_CASE("stories: real data with stories260K's tokenizer", "[tasks_stories]") {
  if (!shared_present()) return;
  const auto ps = read_paragraphs(kData, kTinyStoriesMinSentences);
  REQUIRE(ps.size() == 1640);
  CHECK_THROWS_WITH(read_paragraphs(kData, 4), Contains("line 48 has 3 sentence(s)"));
  CHECK(ascii_paragraphs(ps).size() == 1622);
  const auto tok = Llama2cTokenizer::from_file(kModel / "tok512.bin", 512);
  const int max_seq_len = read_llama2c_checkpoint(kModel / "model.bin").config.seq_len;
  CHECK(max_seq_len == 512);
  REQUIRE(adds_leading_space(tok));
  REQUIRE(splits_closing_quote(tok));
  const auto ends = sentence_end_tokens(tok);
  CHECK(ends == std::vector<int32_t>{426, 436, 443, 450});  // ".", '"', "!", "?"
  const std::set<int32_t> end_set(ends.begin(), ends.end());
  const LogitMask mask(tok.vocab_size(), tok.eos_id(), 1, {}, ends);  // a valid stop_after set
  CHECK(mask.stop_after_tokens() == ends);

  std::vector<std::size_t> all(ps.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  for (const bool infill : {false, true}) {
    const auto items = infill ? infilling_items(ps, all, ItemChoice::all, 0)
                              : continuation_items(ps, all, ItemChoice::all, 0);
    CHECK(items.size() == (infill ? 4820u : 4890u));
    std::size_t composed = 0, internal = 0;
    for (const auto& item : items) {
      const auto t = tokenize(tok, item, true);
      REQUIRE(t.x.front() == tok.bos_id());
      std::vector<int32_t> parts(t.x.begin() + 1, t.x.end());
      parts.insert(parts.end(), t.z.begin(), t.z.end());
      parts.insert(parts.end(), t.y.begin(), t.y.end());
      const auto whole = tok.encode(item.x + " " + item.z + (infill ? " " + item.y : ""));
      composed += parts == whole;
      INFO(item.name() << ": " << item.z);
      REQUIRE(end_set.count(t.z.back()) == 1);
      std::size_t run = t.z.size();
      while (run > 0 && end_set.count(t.z[run - 1]) == 1) --run;
      internal += std::any_of(t.z.begin(), t.z.begin() + static_cast<std::ptrdiff_t>(run),
                              [&](int32_t v) { return end_set.count(v) == 1; });
      check_fits(to_query(t, 0), 30, max_seq_len, item.name());
    }
    CHECK(composed == items.size());          // 100%: parts compose
    CHECK(internal == (infill ? 66u : 94u));  // quotes, titles, ellipses (measured)
  }
}
