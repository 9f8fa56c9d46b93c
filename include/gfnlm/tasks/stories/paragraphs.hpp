#pragma once
// TinyStories paragraphs and their sentences (issue 19): the data of the sentence-continuation
// and infilling experiments (SPEC section 3; ../shared/data/tinystories, one paragraph a line).
//
// A sentence ends at '.', '!' or '?' (a run of them: "...", "?!"), then any closing quotes
// ('"', '\'', ')'), then white space or the end of the paragraph. Sentences keep their text
// exactly; the white space between them is kept too, so a paragraph is its sentences and
// separators. Three exceptions, measured on the 1,640 paragraphs (8,168 ends by the bare rule):
// - the next word starts in lower case: 60 ends, every one inside a sentence, as in
//   `"Good job, Sam!" said Tim.` (`said, "Wow!" Kitty smiled` does split, after the quote);
// - the word is a title: "Mr." (8) and "Mrs." (3) before a name; Ms., Dr. and St. never occur
//   but are treated alike;
// - an ellipsis before a digit, counting: `"1, 2, 3... 7, 8, 9!"` (1).
// That gives 8,101 sentences. Ends inside quoted speech split it (580 of the 6,461 boundaries:
// `replied, "Thank you, Spot.` | `I polish it every day."`): a boundary of the speech, kept.
// 18 paragraphs hold curly quotes mis-decoded (UTF-8 read as CP-1252: "â€œ", "â€™", and "â€"
// for a closing quote whose last byte was lost); "â€" is no closing quote here, so
// `cliffs?â€ Daisy nodded her head.` stays one sentence (10 missed boundaries, all in those 18
// paragraphs; ascii_paragraphs() leaves them out).
//
// The data's README says four or more sentences, by a rule that split before "said": under these
// rules 29 paragraphs have three (line 48: `"Good job, Sam!" said Tim. They played ...`), so
// read it with kTinyStoriesMinSentences.
#include <gfnlm/core/error.hpp>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gfnlm::stories {

// The fewest sentences a paragraph of ../shared/data/tinystories has under split_sentences.
inline constexpr int kTinyStoriesMinSentences = 3;

struct Paragraph {
  std::string text;  // the line, exactly
  // [begin, end) byte ranges of the sentences in text, in order; text between two is white space
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  int line = 0;  // 1-based line in the file it came from (0: not from a file)

  std::size_t size() const { return spans.size(); }
  std::string_view sentence(std::size_t i) const {
    return std::string_view(text).substr(spans.at(i).first, spans[i].second - spans[i].first);
  }
  // Sentences [first, last) joined by one space (the items' convention, stories/items.hpp).
  std::string joined(std::size_t first, std::size_t last) const {
    std::string out;
    for (std::size_t i = first; i < last; ++i) {
      if (i > first) out += ' ';
      out += sentence(i);
    }
    return out;
  }
};

namespace detail {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
inline bool is_closer(char c) {
  return c == '"' || c == '\'' || c == ')';
}
inline bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// True when the word ending at text[end) (just before the '.') is a title such as "Mr".
inline bool ends_with_title(std::string_view text, std::size_t end) {
  std::size_t begin = end;
  while (begin > 0 && !is_space(text[begin - 1]) && text[begin - 1] != '"') --begin;
  const auto word = text.substr(begin, end - begin);
  for (const char* title : {"Mr", "Mrs", "Ms", "Dr", "St"})
    if (word == title) return true;
  return false;
}

}  // namespace detail

// The [begin, end) byte ranges of the sentences of `text` (rules at the top of this file). Text
// after the last sentence end is a sentence of its own (a paragraph cut short still has it).
inline std::vector<std::pair<std::size_t, std::size_t>> split_sentences(std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  const std::size_t n = text.size();
  std::size_t begin = 0;
  const auto skip_space = [&](std::size_t i) {
    while (i < n && detail::is_space(text[i])) ++i;
    return i;
  };
  begin = skip_space(0);
  for (std::size_t i = begin; i < n;) {
    const char c = text[i];
    if (c != '.' && c != '!' && c != '?') {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < n && (text[end] == '.' || text[end] == '!' || text[end] == '?')) ++end;
    const bool ellipsis = end - i >= 3 && text[i] == '.';
    while (end < n && detail::is_closer(text[end])) ++end;
    const std::size_t next = skip_space(end);
    const bool boundary = (end == n || detail::is_space(text[end])) &&
                          !(next < n && detail::is_lower(text[next])) &&
                          !(end - i == 1 && c == '.' && detail::ends_with_title(text, i)) &&
                          !(ellipsis && next < n && detail::is_digit(text[next]));
    if (boundary) {
      spans.emplace_back(begin, end);
      begin = next;
    }
    i = end;
  }
  if (begin < n) {
    std::size_t end = n;
    while (end > begin && detail::is_space(text[end - 1])) --end;
    spans.emplace_back(begin, end);
  }
  return spans;
}

inline Paragraph make_paragraph(std::string text, int line = 0) {
  Paragraph p;
  p.spans = split_sentences(text);
  p.text = std::move(text);
  p.line = line;
  return p;
}

// Paragraphs from the text of a file, one a line (`name` is the file, for errors): an empty (or
// all white space) line, or one with fewer than min_sentences sentences, is an error naming the
// file and the line. A final newline is optional; a '\r' before a newline is dropped.
inline std::vector<Paragraph> parse_paragraphs(std::string_view text, const std::string& name,
                                               int min_sentences) {
  std::vector<Paragraph> out;
  int line = 0;
  for (std::size_t pos = 0; pos < text.size();) {
    ++line;
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view row = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
    auto p = make_paragraph(std::string(row), line);
    GFNLM_CHECK(p.size() > 0, "stories: '{}' line {} is empty (one paragraph a line)", name, line);
    GFNLM_CHECK(static_cast<int>(p.size()) >= min_sentences,
                "stories: '{}' line {} has {} sentence(s), fewer than the {} required: '{}'", name,
                line, p.size(), min_sentences, row.substr(0, 80));
    out.push_back(std::move(p));
  }
  GFNLM_CHECK(!out.empty(), "stories: '{}' holds no paragraphs", name);
  return out;
}

// The paragraphs of a file (parse_paragraphs). Paragraph i is line i + 1, since no line may be
// empty: an index in a split (stories/split.hpp) names a line.
inline std::vector<Paragraph> read_paragraphs(const std::filesystem::path& path,
                                              int min_sentences) {
  std::ifstream is(path, std::ios::binary);
  GFNLM_CHECK(is.good(), "stories: cannot open '{}'", path.string());
  std::stringstream ss;
  ss << is.rdbuf();
  GFNLM_CHECK(!is.bad(), "stories: error reading '{}'", path.string());
  return parse_paragraphs(ss.str(), path.string(), min_sentences);
}

// Indices of the paragraphs whose text is 7-bit ASCII: 1,622 of the 1,640; the other 18 hold
// mis-decoded quotes that stories260K's tokenizer spells in byte tokens the model never saw.
inline std::vector<std::size_t> ascii_paragraphs(const std::vector<Paragraph>& paragraphs) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < paragraphs.size(); ++i) {
    bool ascii = true;
    for (const char c : paragraphs[i].text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) out.push_back(i);
  }
  return out;
}

}  // namespace gfnlm::stories
