#pragma once
// A Hugging Face `tokenizer.json` (the `tokenizers` library's format) with a BPE model, so a
// Hugging Face checkpoint's own tokenizer runs the examples. Two families are covered:
//   - byte-level BPE (GPT-2, Llama-3): ByteLevel pre-tokenizer (GPT-2's regex, or a Split with
//     Llama-3's regex before it) and decoder;
//   - sentencepiece-style BPE (Llama-2, TinyLlama, Mistral): normalizer Prepend("▁") +
//     Replace(" ", "▁") or a Metaspace pre-tokenizer, byte_fallback ("<0xNN>" tokens), fuse_unk,
//     decoder Replace / ByteFallback / Fuse / Strip (or Metaspace).
// What is supported around the model is listed in hf_tokenizer/pipeline.hpp; anything else
// (WordPiece or Unigram models, NFC normalizers, other regexes, BPE dropout) is rejected at load
// time with an error naming it.
//
// encode(text) gives what tokenizers' encode(text, add_special_tokens=False) gives: added tokens
// ("<s>", "<|endoftext|>", ...) are recognised inside the text first (leftmost-longest, with
// their lstrip / rstrip / single_word / normalized flags), the rest is normalized,
// pre-tokenized and merged by rank (detail::BpeMerges, shared with Gpt2Bpe). The post-processor
// adds nothing: callers prepend bos_id() themselves (the Tokenizer concept). Where tokenizers
// silently drops a character the vocabulary lacks (no byte fallback, no unk_token), encode
// throws. decode(ids) is tokenizers' decode(ids) with skip_special_tokens=True (its default):
// special added tokens are dropped, the decoder chain runs over the rest (decode(ids, false)
// keeps them). Ids must run from 0 to vocab_size() - 1 without gaps (vocabulary and added tokens
// together). Known differences from tokenizers, all at the edges of Unicode:
//   - the character classes (\p{L}, \p{N}) come from unicode_tables.hpp (Unicode 14); letters
//     added since (e.g. Unicode 16's Garay, more hieroglyphs) are "other" here;
//   - single_word's word characters (\w) are letters, numbers and '_': combining marks and
//     joiners, which tokenizers' \w includes, are not; No numbers ("½"), which it excludes, are;
//   - (?i) in Llama-3's contractions folds ASCII only.
// Text that is not UTF-8 (tokenizers never sees any) goes through byte by byte: a stray byte is
// its byte-level or "<0xNN>" token, and decodes to U+FFFD as tokenizers would.
//
// BOS / EOS, each looked up in this order:
//   1. tokenizer_config.json beside tokenizer.json (from_file): "bos_token" / "eos_token", a
//      string or an AddedToken object {"content": ...}; null means none;
//   2. the post-processor's TemplateProcessing "single" template (also inside a Sequence): a
//      special token before $A is BOS, one after it EOS (RobertaProcessing / BertProcessing:
//      cls is BOS, sep EOS);
//   3. the first well-known name in the vocabulary: "<s>", "<|begin_of_text|>",
//      "<|endoftext|>" (BOS); "</s>", "<|end_of_text|>", "<|endoftext|>" (EOS); else -1.
#include <gfnlm/core/error.hpp>
#include <gfnlm/text/gpt2_bpe.hpp>
#include <gfnlm/text/hf_tokenizer/pipeline.hpp>
#include <gfnlm/text/tokenizer.hpp>
#include <gfnlm/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gfnlm {

namespace detail::hf {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// \w as tokenizers' single_word check uses it, approximated: letters, numbers and '_'.
inline bool is_word_char(char32_t cp) {
  return cp == '_' || unicode::is_letter(cp) || unicode::is_number(cp);
}

// Added tokens matched inside text: leftmost-longest, non-overlapping (tokenizers' Aho-Corasick
// with MatchKind::LeftmostLongest), then its single_word / lstrip / rstrip rules.
class AddedMatcher {
 public:
  struct Entry {
    std::string pattern;
    int32_t id;
    bool single_word, lstrip, rstrip;
  };
  void add(Entry e) {
    const auto first = static_cast<unsigned char>(e.pattern[0]);
    entries_.push_back(std::move(e));
    auto& bucket = by_first_[first];
    bucket.push_back(entries_.size() - 1);
    std::stable_sort(bucket.begin(), bucket.end(), [&](std::size_t a, std::size_t b) {
      return entries_[a].pattern.size() > entries_[b].pattern.size();
    });
  }

  // Calls fn(segment, offset, id) for the pieces of s in order: id is the added token's, or -1
  // for text between matches.
  template <class Fn>
  void split(std::string_view s, Fn&& fn) const {
    std::size_t done = 0;  // s[0, done) is handed out
    for (std::size_t pos = 0; !entries_.empty() && pos < s.size();) {
      const Entry* m = nullptr;
      for (const auto k : by_first_[static_cast<unsigned char>(s[pos])])
        if (s.substr(pos).starts_with(entries_[k].pattern)) {
          m = &entries_[k];
          break;
        }
      if (!m) {
        ++pos;
        continue;
      }
      auto start = pos, stop = pos + m->pattern.size();
      pos = stop;
      if (m->single_word && ((start > 0 && is_word_char(last_char(s.substr(0, start)))) ||
                             (stop < s.size() && is_word_char(first_char(s.substr(stop))))))
        continue;
      if (m->lstrip) start = done + trailing_space_start(s.substr(done, start - done));
      if (m->rstrip) stop += leading_space_length(s.substr(stop));
      if (done < start) fn(s.substr(done, start - done), done, -1);
      fn(s.substr(start, stop - start), start, m->id);
      done = stop;
      pos = std::max(pos, stop);
    }
    if (done < s.size()) fn(s.substr(done), done, -1);
  }

 private:
  static char32_t first_char(std::string_view s) {
    char32_t cp = 0xFFFD;
    utf8::char_length(s, 0, &cp);
    return cp;
  }
  static char32_t last_char(std::string_view s) {
    std::size_t k = s.size() - 1;
    while (k > 0 && s.size() - k < 4 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
    return first_char(s.substr(k));
  }
  static std::size_t leading_space_length(std::string_view s) {
    std::size_t pos = 0;
    for (char32_t cp = 0; pos < s.size();) {
      const auto n = utf8::char_length(s, pos, &cp);
      if (n == 0 || !unicode::is_white_space(cp)) break;
      pos += n;
    }
    return pos;
  }
  static std::size_t trailing_space_start(std::string_view s) {
    std::size_t run = 0;
    for (std::size_t pos = 0; pos < s.size();) {
      char32_t cp = 0;
      auto n = utf8::char_length(s, pos, &cp);
      const bool space = n > 0 && unicode::is_white_space(cp);
      if (n == 0) n = 1;
      pos += n;
      if (!space) run = pos;
    }
    return run;
  }

  std::vector<Entry> entries_;
  std::array<std::vector<std::size_t>, 256> by_first_;
};

}  // namespace detail::hf

class HfTokenizer {
 public:
  // tokenizer.json, and tokenizer_config.json beside it when present (for BOS / EOS).
  static HfTokenizer from_file(const std::filesystem::path& path) {
    GFNLM_CHECK(!std::filesystem::is_directory(path),
                "'{}' is a folder; HfTokenizer::from_file wants its tokenizer.json", path.string());
    const auto text = detail::read_text_file(path, "Hugging Face tokenizer");
    const auto config_path = path.parent_path() / "tokenizer_config.json";
    std::string config;
    if (std::filesystem::exists(config_path))
      config = detail::read_text_file(config_path, "tokenizer config");
    return from_string(text, path.string(), config, config_path.string());
  }

  // A folder holding tokenizer.json.
  static HfTokenizer from_directory(const std::filesystem::path& dir) {
    GFNLM_CHECK(std::filesystem::exists(dir / "tokenizer.json"), "'{}' holds no tokenizer.json",
                dir.string());
    return from_file(dir / "tokenizer.json");
  }

  // The file's text; config_json: a tokenizer_config.json's text, or empty. Names are used in
  // error messages only.
  static HfTokenizer from_string(std::string_view json_text,
                                 const std::string& name = "tokenizer.json",
                                 std::string_view config_json = {},
                                 const std::string& config_name = "tokenizer_config.json") {
    HfTokenizer t;
    t.name_ = name;
    t.load(parse_json(json_text, name), name);
    t.find_special(config_json.empty() ? nlohmann::json() : parse_json(config_json, config_name),
                   config_name);
    return t;
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    std::vector<int32_t> word;
    std::vector<detail::hf::Piece> pieces;
    raw_added_.split(text, [&](std::string_view segment, std::size_t offset, int32_t id) {
      if (id >= 0) {
        ids.push_back(id);
        return;
      }
      const auto normalized = normalizer_.apply(segment);
      normalized_added_.split(
          normalized, [&](std::string_view sub, std::size_t sub_offset, int32_t sub_id) {
            if (sub_id >= 0) {
              ids.push_back(sub_id);
              return;
            }
            pieces.assign(1, {std::string(sub), offset == 0 && sub_offset == 0});
            pre_tokenizer_.apply(pieces);
            for (const auto& p : pieces) tokenize(p.text, word, ids);
          });
    });
    return ids;
  }

  // skip_special_tokens as in tokenizers' decode (true by default there and here).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = true) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const auto id : ids) {
      check_id(id);
      if (skip_special_tokens && special_[id]) continue;
      tokens.push_back(spelling_[id]);
    }
    return decoder_.apply(std::move(tokens));
  }

  // The bytes one token stands for: a ByteLevel spelling unmapped, "<0xNN>" as its byte, "▁" as
  // a space (kept at the start of a text, where decode drops it), an added token's content.
  std::string token_text(int32_t id) const {
    check_id(id);
    return text_[id];
  }
  // The token as tokenizer.json spells it ("Ġthe", "▁the", "<0x0A>", "<s>").
  const std::string& token(int32_t id) const {
    check_id(id);
    return spelling_[id];
  }
  // Id of a token given by its spelling (an added token's content first), or -1.
  int32_t token_id(std::string_view spelling) const {
    if (const auto it = added_ids_.find(spelling); it != added_ids_.end()) return it->second;
    const auto it = vocab_.find(spelling);
    return it == vocab_.end() ? -1 : it->second;
  }
  bool is_special(int32_t id) const {
    check_id(id);
    return special_[id];
  }

  // The pre-tokenizer alone (tokenizers' pre_tokenizer.pre_tokenize_str): pieces as the model
  // sees them (ByteLevel-mapped where the file says so).
  std::vector<std::string> pre_tokenize(std::string_view text) const {
    std::vector<detail::hf::Piece> pieces{{std::string(text), true}};
    pre_tokenizer_.apply(pieces);
    std::vector<std::string> out;
    for (auto& p : pieces) out.push_back(std::move(p.text));
    return out;
  }
  std::string normalize(std::string_view text) const { return normalizer_.apply(text); }

  int vocab_size() const { return static_cast<int>(spelling_.size()); }
  int merge_count() const { return static_cast<int>(merges_.size()); }
  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  const std::string& name() const { return name_; }

 private:
  using json = nlohmann::json;

  static json parse_json(std::string_view text, const std::string& name) {
    try {
      return json::parse(text);
    } catch (const json::exception& e) {
      throw FormatError(fmt::format("'{}': not valid JSON: {}", name, e.what()));
    }
  }

  void load(const json& j, const std::string& name) {
    using detail::hf::bad;
    if (!j.is_object()) bad("'{}': expected a JSON object (a tokenizer.json)", name);
    const auto model_it = j.find("model");
    if (model_it == j.end() || !model_it->is_object())
      bad("'{}': no \"model\" object; is this a Hugging Face tokenizer.json?", name);
    const auto& model = *model_it;
    const auto where = fmt::format("'{}' model", name);
    const auto type = detail::hf::get_string(model, "type", where)
                          .value_or(model.contains("merges") ? "BPE" : "?");
    if (type != "BPE")
      bad("'{}': model type '{}' is not supported (only BPE: WordPiece, WordLevel and Unigram "
          "vocabularies are not)",
          name, type);
    // Dense ids can't exceed the number of tokens: a bound before anything is allocated.
    const auto vocab = model.find("vocab");
    const auto added = j.find("added_tokens");
    id_limit_ = static_cast<int64_t>((vocab != model.end() ? vocab->size() : 0) +
                                     (added != j.end() ? added->size() : 0));
    load_vocab(model, where);
    load_options(model, where);
    load_added(j, name);
    load_merges(model, where);
    normalizer_ = detail::hf::Normalizer::parse(j.value("normalizer", json()),
                                                fmt::format("'{}' normalizer", name));
    pre_tokenizer_ = detail::hf::PreTokenizer::parse(j.value("pre_tokenizer", json()),
                                                     fmt::format("'{}' pre_tokenizer", name));
    decoder_ =
        detail::hf::Decoder::parse(j.value("decoder", json()), fmt::format("'{}' decoder", name));
    post_processor_ = j.value("post_processor", json());
    // Normalized added tokens are matched in normalized text, spelled as the normalizer makes
    // them (tokenizers also decodes them so).
    for (auto& a : added_) {
      if (a.normalized) a.spelling = normalizer_.apply(a.content);
      if (a.spelling.empty()) bad("'{}': added token {} normalizes to nothing", name, a.id);
      (a.normalized ? normalized_added_ : raw_added_)
          .add({a.spelling, a.id, a.single_word, a.lstrip, a.rstrip});
    }
    build_tables(name);
  }

  void load_vocab(const json& model, const std::string& where) {
    using detail::hf::bad;
    const auto it = model.find("vocab");
    if (it == model.end() || !it->is_object())
      bad("{}: \"vocab\" must be an object token -> id", where);
    for (const auto& [key, value] : it->items()) {
      if (!value.is_number_integer())
        bad("{}: token '{}' has a non-integer id {}", where, key, value.dump());
      const auto id = value.get<int64_t>();
      if (id < 0 || id >= id_limit_)
        bad("{}: token '{}' has id {}, out of range [0, {}) (the number of tokens)", where, key, id,
            id_limit_);
      if (key.empty()) bad("{}: the vocabulary holds an empty token (id {})", where, id);
      vocab_.emplace(key, static_cast<int32_t>(id));
      place(static_cast<int32_t>(id), key, where);
    }
    if (vocab_.empty()) bad("{}: the vocabulary is empty", where);
  }

  // Records spelling `s` for id; two different tokens for one id is an error.
  void place(int32_t id, const std::string& s, const std::string& where) {
    if (static_cast<std::size_t>(id) >= spelling_.size()) {
      spelling_.resize(static_cast<std::size_t>(id) + 1);
      has_.resize(static_cast<std::size_t>(id) + 1, false);
    }
    if (has_[id] && spelling_[id] != s)
      detail::hf::bad("{}: tokens '{}' and '{}' both have id {}", where, spelling_[id], s, id);
    spelling_[id] = s;
    has_[id] = true;
  }

  void load_options(const json& model, const std::string& where) {
    using detail::hf::bad;
    using detail::hf::get_bool;
    using detail::hf::get_string;
    if (const auto d = model.find("dropout"); d != model.end() && !d->is_null()) {
      if (!d->is_number()) bad("{}: \"dropout\" must be a number or null", where);
      if (d->get<double>() != 0.0)
        bad("{}: BPE dropout {} is not supported (encoding would be random)", where,
            d->get<double>());
    }
    fuse_unk_ = get_bool(model, "fuse_unk", false, where);
    byte_fallback_ = get_bool(model, "byte_fallback", false, where);
    ignore_merges_ = get_bool(model, "ignore_merges", false, where);
    prefix_ = get_string(model, "continuing_subword_prefix", where);
    suffix_ = get_string(model, "end_of_word_suffix", where);
    if (prefix_ && prefix_->empty()) prefix_.reset();
    if (suffix_ && suffix_->empty()) suffix_.reset();
    if (const auto unk = get_string(model, "unk_token", where)) {
      const auto it = vocab_.find(*unk);
      if (it == vocab_.end()) bad("{}: unk_token '{}' is not in the vocabulary", where, *unk);
      unk_id_ = it->second;
    }
    byte_token_.fill(-1);
    for (int b = 0; b < 256; ++b)
      if (const auto it = vocab_.find(fmt::format("<0x{:02X}>", b)); it != vocab_.end())
        byte_token_[b] = it->second;
  }

  void load_merges(const json& model, const std::string& where) {
    using detail::hf::bad;
    const auto it = model.find("merges");
    if (it == model.end() || it->is_null()) return;
    if (!it->is_array()) bad("{}: \"merges\" must be an array", where);
    std::string left, right;
    for (std::size_t k = 0; k < it->size(); ++k) {
      const auto& m = (*it)[k];
      if (m.is_string()) {  // "left right" (tokenizers < 0.20)
        const auto s = m.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
          bad("{}: merge {} '{}' is not 'left right'", where, k, s);
        left = s.substr(0, sp), right = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>(), right = m[1].get<std::string>();
      } else {
        bad("{}: merge {} is neither \"left right\" nor [\"left\", \"right\"]: {}", where, k,
            m.dump());
      }
      const auto a = vocab_.find(left), b = vocab_.find(right);
      if (a == vocab_.end() || b == vocab_.end())
        bad("{}: merge {} ('{}' '{}') refers to '{}', which is not in the vocabulary", where, k,
            left, right, a == vocab_.end() ? left : right);
      std::string_view tail = right;
      if (prefix_) {
        if (!tail.starts_with(*prefix_))
          bad("{}: merge {} ('{}' '{}'): the right part lacks continuing_subword_prefix '{}'",
              where, k, left, right, *prefix_);
        tail.remove_prefix(prefix_->size());
      }
      const auto merged = left + std::string(tail);
      const auto c = vocab_.find(merged);
      if (c == vocab_.end())
        bad("{}: merge {} ('{}' '{}') makes '{}', which is not in the vocabulary", where, k, left,
            right, merged);
      merges_.add(a->second, b->second, c->second, static_cast<int32_t>(k));
    }
  }

  struct Added {
    int32_t id;
    std::string content, spelling;
    bool single_word, lstrip, rstrip, normalized, special;
  };

  void load_added(const json& j, const std::string& name) {
    using detail::hf::bad;
    using detail::hf::get_bool;
    const auto it = j.find("added_tokens");
    if (it == j.end() || it->is_null()) return;
    if (!it->is_array()) bad("'{}': \"added_tokens\" must be an array", name);
    for (std::size_t k = 0; k < it->size(); ++k) {
      const auto& a = (*it)[k];
      const auto where = fmt::format("'{}' added_tokens[{}]", name, k);
      if (!a.is_object()) bad("{}: expected an object", where);
      const auto idj = a.find("id");
      if (idj == a.end() || !idj->is_number_integer()) bad("{}: \"id\" must be an integer", where);
      const auto id = idj->get<int64_t>();
      if (id < 0 || id >= id_limit_)
        bad("{}: id {} is out of range [0, {}) (the number of tokens)", where, id, id_limit_);
      Added t{static_cast<int32_t>(id),
              detail::hf::need_string(a, "content", where),
              {},
              get_bool(a, "single_word", false, where),
              get_bool(a, "lstrip", false, where),
              get_bool(a, "rstrip", false, where),
              get_bool(a, "normalized", false, where),
              get_bool(a, "special", false, where)};
      if (t.content.empty()) bad("{}: the content is empty", where);
      for (const auto& other : added_)
        if (other.id == t.id)
          bad("{}: id {} is already added token '{}'", where, t.id, other.content);
      if (static_cast<std::size_t>(t.id) < has_.size() && has_[t.id] &&
          spelling_[t.id] != t.content)
        bad("{}: '{}' has id {}, which the vocabulary gives to '{}'", where, t.content, t.id,
            spelling_[t.id]);
      t.spelling = t.content;
      added_.push_back(std::move(t));
    }
  }

  void build_tables(const std::string& name) {
    // Conflicts with the vocabulary and between added tokens were checked in load_added; a
    // normalized token's spelling replaces its content.
    for (const auto& a : added_) {
      if (static_cast<std::size_t>(a.id) >= spelling_.size()) {
        spelling_.resize(static_cast<std::size_t>(a.id) + 1);
        has_.resize(static_cast<std::size_t>(a.id) + 1, false);
      }
      spelling_[a.id] = a.spelling;
      has_[a.id] = true;
      added_ids_.insert_or_assign(a.content, a.id);
    }
    for (std::size_t id = 0; id < has_.size(); ++id)
      if (!has_[id])
        detail::hf::bad(
            "'{}': id {} has no token; ids must run from 0 to {} without gaps (vocabulary and "
            "added_tokens together)",
            name, id, has_.size() - 1);
    const auto n = spelling_.size();
    special_.assign(n, false);
    text_.resize(n);
    for (std::size_t id = 0; id < n; ++id) text_[id] = decoder_.token_text(spelling_[id]);
    for (const auto& a : added_) {
      special_[a.id] = a.special;
      if (a.special) text_[a.id] = a.content;
    }
    has_.clear();
  }

  // BOS / EOS: tokenizer_config.json, then the post-processor, then well-known names.
  void find_special(const json& config, const std::string& config_name) {
    auto from_config = [&](const char* key) -> std::optional<int32_t> {
      if (!config.is_object() || !config.contains(key)) return std::nullopt;
      const auto& v = config[key];
      if (v.is_null()) return -1;
      std::string content;
      if (v.is_string()) content = v.get<std::string>();
      if (v.is_object() && v.contains("content") && v["content"].is_string())
        content = v["content"].get<std::string>();
      if (content.empty())
        detail::hf::bad("'{}': \"{}\" must be a token or {{\"content\": token}}, got {}",
                        config_name, key, v.dump());
      const auto id = token_id(content);
      if (id < 0) detail::hf::bad("'{}': {} '{}' is not in '{}'", config_name, key, content, name_);
      return id;
    };
    std::optional<int32_t> tpl_bos, tpl_eos;
    try {
      template_special(post_processor_, tpl_bos, tpl_eos);
    } catch (const json::exception&) {  // an odd post-processor only loses this hint
      tpl_bos.reset(), tpl_eos.reset();
    }
    auto known = [&](std::initializer_list<const char*> names) {
      for (const auto* s : names)
        if (const auto id = token_id(s); id >= 0) return id;
      return int32_t{-1};
    };
    bos_ = from_config("bos_token")
               .value_or(tpl_bos.value_or(known({"<s>", "<|begin_of_text|>", "<|endoftext|>"})));
    eos_ = from_config("eos_token")
               .value_or(tpl_eos.value_or(known({"</s>", "<|end_of_text|>", "<|endoftext|>"})));
    post_processor_ = json();  // needed for this only
  }

  void template_special(const json& p, std::optional<int32_t>& bos,
                        std::optional<int32_t>& eos) const {
    if (!p.is_object()) return;
    const auto type = p.value("type", std::string());
    auto id_of = [&](const json& v) -> std::optional<int32_t> {
      // TemplateProcessing names the token; Roberta/Bert give [content, id].
      std::string s;
      if (v.is_string()) s = v.get<std::string>();
      if (v.is_array() && !v.empty() && v[0].is_string()) s = v[0].get<std::string>();
      if (const auto id = token_id(s); id >= 0) return id;
      return std::nullopt;
    };
    if (type == "Sequence") {
      for (const auto& sub : p.value("processors", json::array())) template_special(sub, bos, eos);
    } else if (type == "TemplateProcessing") {
      bool seen_a = false;
      for (const auto& piece : p.value("single", json::array())) {
        if (piece.contains("Sequence")) seen_a = true;
        if (!piece.contains("SpecialToken")) continue;
        const auto id = id_of(piece["SpecialToken"].value("id", json()));
        if (!id) continue;
        if (!seen_a && !bos) bos = id;
        if (seen_a && !eos) eos = id;
      }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
      if (!bos) bos = id_of(p.value("cls", json()));
      if (!eos) eos = id_of(p.value("sep", json()));
    }
  }

  // The BPE model on one pre-token (tokenizers' BPE::merge_word, then the merges).
  void tokenize(std::string_view w, std::vector<int32_t>& word, std::vector<int32_t>& out) const {
    if (w.empty()) return;
    if (ignore_merges_)
      if (const auto it = vocab_.find(w); it != vocab_.end()) {
        out.push_back(it->second);
        return;
      }
    word.clear();
    bool unk_pending = false;
    std::string s;
    for (std::size_t pos = 0; pos < w.size();) {
      auto n = utf8::char_length(w, pos);
      if (n == 0) n = 1;  // a byte that is not UTF-8 goes alone (byte fallback or unk)
      s.clear();
      if (prefix_ && pos > 0) s += *prefix_;
      s += w.substr(pos, n);
      if (suffix_ && pos + n == w.size()) s += *suffix_;
      if (const auto it = vocab_.find(s); it != vocab_.end()) {
        if (unk_pending) word.push_back(unk_id_), unk_pending = false;
        word.push_back(it->second);
      } else if (byte_fallback_ && std::all_of(s.begin(), s.end(), [&](char c) {
                   return byte_token_[static_cast<unsigned char>(c)] >= 0;
                 })) {
        // As tokenizers does, byte tokens go in before a pending (fused) unk.
        for (const char c : s) word.push_back(byte_token_[static_cast<unsigned char>(c)]);
      } else if (unk_id_ >= 0) {
        if (unk_pending && !fuse_unk_) word.push_back(unk_id_);
        unk_pending = true;
      } else {
        fail("HfTokenizer '{}': cannot encode {}: not in the vocabulary, and the model has {}",
             name_, utf8::describe(w, pos),
             byte_fallback_ ? "no byte token for it and no unk_token"
                            : "neither byte_fallback nor an unk_token");
      }
      pos += n;
    }
    if (unk_pending) word.push_back(unk_id_);
    merges_.apply(word);
    out.insert(out.end(), word.begin(), word.end());
  }

  void check_id(int32_t id) const {
    GFNLM_CHECK(id >= 0 && id < vocab_size(), "HfTokenizer '{}': token id {} out of range [0, {})",
                name_, id, vocab_size());
  }

  std::string name_;
  std::vector<std::string> spelling_;  // id -> the token as the file spells it
  std::vector<std::string> text_;      // id -> token_text
  std::vector<bool> special_;
  std::vector<bool> has_;           // while loading: ids seen
  detail::hf::TokenMap vocab_;      // the model's vocabulary: spelling -> id
  detail::hf::TokenMap added_ids_;  // added tokens: content -> id
  std::vector<Added> added_;
  detail::BpeMerges merges_;
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::optional<std::string> prefix_, suffix_;
  std::array<int32_t, 256> byte_token_{};
  detail::hf::Normalizer normalizer_;
  detail::hf::PreTokenizer pre_tokenizer_;
  detail::hf::Decoder decoder_;
  detail::hf::AddedMatcher raw_added_, normalized_added_;
  nlohmann::json post_processor_;
  int32_t bos_ = -1, eos_ = -1;
  int64_t id_limit_ = 0;  // while loading: vocabulary + added tokens
};

static_assert(Tokenizer<HfTokenizer>);

}  // namespace gfnlm
