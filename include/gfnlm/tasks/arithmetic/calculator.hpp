#pragma once
// The calculator tool (SPEC section 5). When the policy's latest action ends in "=", the text of
// the current step (after the last "," of the rationale, or from its start) is evaluated as
// "<int> <+|-> <int>" and " <value>" is appended to the state as context: tokens the policy and
// the reward read, never actions, never scored by q (gfn/tool.hpp). A step that does not parse
// ("=" alone, "6 - =", a second "=" in one step, "6 * 2 =") appends nothing, so a bad step is
// visible to the reward as a missing result rather than an error.
//
// The actions alone determine the step: tool output only ever follows an "=", and a step holding
// an earlier "=" is invalid either way, so the calculator needs no memory of its own output
// (a deterministic function of the actions, as replayed buffer items require).
#include <gfnlm/gfn/tool.hpp>

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm::arithmetic {

namespace detail {
// Reads -?[0-9]{1,9} at pos (after optional spaces); advances pos.
inline std::optional<long> read_int(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && s[pos] == ' ') ++pos;
  bool neg = false;
  if (pos < s.size() && s[pos] == '-') neg = true, ++pos;
  const std::size_t start = pos;
  long v = 0;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) && pos - start < 9)
    v = v * 10 + (s[pos++] - '0');
  if (pos == start || (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))))
    return std::nullopt;
  return neg ? -v : v;
}
}  // namespace detail

// "6 - 4" -> 2, " -6 + 7 " -> 1; nullopt unless the whole text is one binary + / - of integers.
inline std::optional<long> evaluate_step(std::string_view step) {
  std::size_t pos = 0;
  const auto a = detail::read_int(step, pos);
  if (!a) return std::nullopt;
  while (pos < step.size() && step[pos] == ' ') ++pos;
  if (pos >= step.size() || (step[pos] != '+' && step[pos] != '-')) return std::nullopt;
  const char op = step[pos++];
  const auto b = detail::read_int(step, pos);
  if (!b) return std::nullopt;
  while (pos < step.size() && step[pos] == ' ') ++pos;
  if (pos != step.size()) return std::nullopt;
  return op == '+' ? *a + *b : *a - *b;
}

// What the calculator appends after a rationale whose action text (no tool output) is `text`:
// " <value>" when text ends in "=" and its current step evaluates, else "".
inline std::string calculator_output(std::string_view text) {
  if (text.empty() || text.back() != '=') return {};
  std::string_view body = text.substr(0, text.size() - 1);
  const auto comma = body.rfind(',');
  if (comma != std::string_view::npos) body = body.substr(comma + 1);
  const auto value = evaluate_step(body);
  return value ? fmt::format(" {}", *value) : std::string{};
}

// The rationale text with the calculator's output in place (what the policy and reward read).
inline std::string with_calculator(std::string_view actions_text) {
  std::string out;
  for (std::size_t i = 0; i < actions_text.size(); ++i) {
    out += actions_text[i];
    if (actions_text[i] == '=') out += calculator_output(actions_text.substr(0, i + 1));
  }
  return out;
}

// The calculator as a gfnlm Tool over token ids: decodes the actions with the tokenizer and
// encodes its output with it. Only the newest action can complete a step, so it looks at the
// text once per call and returns nothing unless that text ends in "=".
template <class Tok>
class Calculator {
 public:
  explicit Calculator(const Tok& tokenizer) : tok_(&tokenizer) {}

  template <class Q>
  std::vector<int32_t> operator()(const Q& /*query*/, std::span<const int32_t> actions) const {
    if (actions.empty()) return {};
    if (tok_->decode(actions.last(1)).find('=') == std::string::npos) return {};
    const std::string out = calculator_output(tok_->decode(actions));
    if (out.empty()) return {};
    return tok_->encode(out);
  }

  template <class Q>
  ToolFunction<Q> function() const {
    const Calculator copy = *this;
    return [copy](const Q& q, std::span<const int32_t> a) { return copy(q, a); };
  }

 private:
  const Tok* tok_;
};

}  // namespace gfnlm::arithmetic
