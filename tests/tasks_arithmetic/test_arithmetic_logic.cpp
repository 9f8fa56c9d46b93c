// Pure task logic of the arithmetic task (SPEC section 5): formats, data, calculator, extraction,
// vote, corpus.
#include <gfnlm/tasks/arithmetic.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <sstream>

using namespace gfnlm;
using namespace gfnlm::arithmetic;

namespace {
Problem paper_example() {
  return Problem{{6, 0, 4, 8}, {'-', '-', '-'}};
}
const std::filesystem::path kDataDir = std::filesystem::path(GFNLM_SHARED_DIR) / "data/arithmetic";
}  // namespace

TEST_CASE("formats match SPEC section 5 and the paper's files") {
  const Problem p = paper_example();
  CHECK(p.answer() == -6);
  CHECK(question_text(p) == "Question: 6 - 0 - 4 - 8 = ? Answer:");
  CHECK(rationale_actions_text(p) == " 6 - 0 =, 6 - 4 =, 2 - 8 =");
  CHECK(rationale_full_text(p) == " 6 - 0 = 6, 6 - 4 = 2, 2 - 8 = -6");
  CHECK(answer_text(p.answer()) == ". The answer is -6.");
  CHECK(worked_example_text(p) ==
        "Question: 6 - 0 - 4 - 8 = ? Answer: 6 - 0 = 6, 6 - 4 = 2, 2 - 8 = -6. The answer is -6.");
  // The calculator turns the action text into the full text.
  CHECK(with_calculator(rationale_actions_text(p)) == rationale_full_text(p));
  const Problem q{{5, 9, 3, 8}, {'+', '-', '+'}};
  CHECK(q.answer() == 19);
  CHECK(rationale_actions_text(q) == " 5 + 9 =, 14 - 3 =, 11 + 8 =");
}

TEST_CASE("parse_question inverts question_text and rejects malformed text") {
  Rng rng(3);
  for (int i = 0; i < 200; ++i) {
    const Problem p = random_problem(2 + static_cast<int>(rng.below(5)), rng);
    const auto back = parse_question(question_text(p));
    REQUIRE(back.has_value());
    CHECK(*back == p);
  }
  for (const char* bad :
       {"Question: 6 - = ? Answer:", "Question: 6 = ? Answer:", "Question: 6 * 2 = ? Answer:",
        "Question: 12 + 2 = ? Answer:", "6 - 0 = ? Answer:", "Question: 6 - 0 = ?", ""})
    CHECK_FALSE(parse_question(bad).has_value());
}

TEST_CASE("random problems: one-digit operands, + and -, both operators occur") {
  Rng rng(1);
  std::set<char> ops;
  std::set<int> digits;
  for (int i = 0; i < 300; ++i) {
    const Problem p = random_problem(5, rng);
    REQUIRE(p.operands.size() == 5);
    REQUIRE(p.ops.size() == 4);
    for (int d : p.operands) {
      digits.insert(d);
      CHECK((d >= 0 && d <= 9));
    }
    ops.insert(p.ops.begin(), p.ops.end());
  }
  CHECK(ops == std::set<char>{'+', '-'});
  CHECK(digits.size() == 10);
  CHECK_THROWS_AS(random_problem(1, rng), Error);
}

TEST_CASE("the paper's data files load and agree with their answers") {
  if (!std::filesystem::exists(kDataDir / "train_qa_1000.json")) {
    WARN("paper data absent at " << kDataDir.string() << "; generated sets only");
    return;
  }
  const Dataset d = load_or_generate_dataset(kDataDir, 0);
  CHECK(d.source.find("paper") != std::string::npos);
  CHECK(d.worked.size() == 50);
  CHECK(d.train_qa.size() == 1000);
  CHECK(d.test3.size() == 500);
  CHECK(d.test4.size() == 500);
  CHECK(d.test5.size() == 500);
  CHECK(d.worked[0].problem == paper_example());
  for (const auto& it : d.test5) CHECK(it.problem.num_operands() == 5);
  for (const auto& it : d.train_qa) {
    CHECK(it.problem.num_operands() >= 3);
    CHECK(it.problem.num_operands() <= 4);
  }
}

TEST_CASE("read_items rejects wrong answers and malformed JSON with the file named") {
  const auto dir = std::filesystem::temp_directory_path() / "gfnlm_arith_json";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const auto good = write("good.json",
                          R"([{"str_query": "Question: 6 - 0 - 4 - 8 = ? Answer:", "num_sol": -6,
      "str_rationale": "6 - 0 =, 6 - 4 =, 2 - 8 =", "str_sol": ". The answer is -6."}])");
  const auto items = read_items(good);
  REQUIRE(items.size() == 1);
  CHECK(items[0].answer == -6);
  const auto wrong =
      write("wrong.json", R"([{"str_query": "Question: 6 - 0 = ? Answer:", "num_sol": 5}])");
  CHECK_THROWS_WITH(read_items(wrong),
                    Catch::Contains("wrong.json") && Catch::Contains("num_sol 5"));
  const auto bad_rationale = write(
      "rat.json",
      R"([{"str_query": "Question: 6 - 0 = ? Answer:", "num_sol": 6, "str_rationale": "6 + 0 ="}])");
  CHECK_THROWS_WITH(read_items(bad_rationale), Catch::Contains("str_rationale"));
  const auto broken = write("broken.json", R"([{"str_query": "Question: 6 - 0 = ? Answer:",)");
  CHECK_THROWS_WITH(read_items(broken), Catch::Contains("broken.json"));
  CHECK_THROWS_AS(read_items(dir / "missing.json"), Error);
}

TEST_CASE("generated data sets are reproducible, sized like the paper's, 5 operands held out") {
  const Dataset a = generate_dataset(7), b = generate_dataset(7), c = generate_dataset(8);
  CHECK(a.worked.size() == 50);
  CHECK(a.train_qa.size() == 1000);
  CHECK(a.test3.size() == 500);
  CHECK(a.test5.size() == 500);
  CHECK(a.train_qa[17].problem == b.train_qa[17].problem);
  bool differs = false;
  for (std::size_t i = 0; i < 20; ++i) differs |= !(a.test4[i].problem == c.test4[i].problem);
  CHECK(differs);
  std::set<std::string> train;
  for (const auto& it : a.train_qa) train.insert(question_text(it.problem));
  for (const auto& it : a.worked) train.insert(question_text(it.problem));
  for (const auto& it : a.test5) {
    CHECK(it.problem.num_operands() == 5);
    CHECK(train.count(question_text(it.problem)) == 0);
    CHECK(it.answer == it.problem.answer());
  }
  // Absent directory: generated.
  const Dataset g = load_or_generate_dataset("/nonexistent/dir", 7);
  CHECK(g.source.find("generated") != std::string::npos);
  CHECK(g.test3[3].problem == a.test3[3].problem);
}

TEST_CASE("calculator evaluates the current step, and nothing for bad steps") {
  CHECK(evaluate_step("6 - 4") == 2);
  CHECK(evaluate_step(" -6 + 7 ") == 1);
  CHECK(evaluate_step("12 - -3") == 15);
  CHECK(evaluate_step("14-3") == 11);
  for (const char* bad : {"", " ", "6", "6 -", "- 4", "6 * 2", "6 - 4 - 1", "6 - 4 = 2", "a - 1",
                          "6 - 1234567890", "6 -- 4"})
    CHECK_FALSE(evaluate_step(bad).has_value());

  CHECK(calculator_output(" 6 - 0 =") == " 6");
  CHECK(calculator_output(" 6 - 0 =, 6 - 4 =") == " 2");
  CHECK(calculator_output(" 6 - 0 =, 2 - 8 =") == " -6");
  CHECK(calculator_output(" 6 - 0") == "");          // no "=" yet
  CHECK(calculator_output("=") == "");               // "=" with nothing to evaluate
  CHECK(calculator_output(" 6 - 0 =, =") == "");     // empty step
  CHECK(calculator_output(" 6 - 0 = - 4 =") == "");  // two "=" in one step
  CHECK(calculator_output(" 6 * 0 =") == "");
  CHECK(with_calculator(" 6 - 0 =, =, 6 - 4 =") == " 6 - 0 = 6, =, 6 - 4 = 2");
}

TEST_CASE("ArithmeticTokenizer: numbers and words are single tokens; texts round-trip") {
  const ArithmeticTokenizer tok = make_tokenizer();
  const Problem p{{6, 0, 4, 8}, {'-', '-', '-'}};
  const std::string line = worked_example_text(p);
  const auto ids = tok.encode(line);
  CHECK(tok.decode(ids) == line);
  // Question: 6 - 0 - 4 - 8 = ? Answer: | 6 - 0 = 6 , 6 - 4 = 2 , 2 - 8 = -6 | . The answer is -6 .
  CHECK(ids.size() == 1 + 7 + 3 + 3 * 5 + 2 + 4);
  CHECK(tok.encode(" -6").size() == 1);
  CHECK(tok.encode(" - 6").size() == 2);  // operator, then operand
  CHECK(tok.encode(" The answer is").size() == 1);
  CHECK(tok.token_text(tok.encode(" 99")[0]) == " 99");
  // Beyond the single-token range, digits continue the number.
  const auto big = tok.encode(" -150");
  CHECK(big.size() == 2);
  CHECK(tok.decode(big) == " -150");
  CHECK(tok.token_id(".") >= 0);
  CHECK(tok.token_id("x") == -1);
  CHECK_THROWS_WITH(tok.encode("Question: x"), Catch::Contains("no token matches at byte 9"));
  CHECK_THROWS(tok.decode(std::vector<int32_t>{tok.vocab_size()}));
}

TEST_CASE("Calculator as a token Tool: output only right after a valid '='") {
  const ArithmeticTokenizer tok = make_tokenizer();
  const Calculator<ArithmeticTokenizer> calc(tok);
  const LmQuery q;
  const auto actions = tok.encode(" 16 - 9 =");
  for (std::size_t t = 1; t < actions.size(); ++t)
    CHECK(calc(q, std::span(actions).first(t)).empty());
  CHECK(tok.decode(calc(q, actions)) == " 7");
  CHECK(calc(q, tok.encode(" =")).empty());
  CHECK(calc(q, std::span<const int32_t>()).empty());
  // replay_tool gives the inserts a rollout records.
  const auto z = rationale_actions(paper_example(), tok);
  const auto inserts = replay_tool(calc.function<LmQuery>(), q, z);
  REQUIRE(inserts.size() == 3);
  CHECK(inserts[0].after_action == 4);  // " 6 - 0 =" is 4 words
  CHECK(tok.decode(inserts[0].tokens) == " 6");
  CHECK(tok.decode(inserts[2].tokens) == " -6");
}

TEST_CASE("answer extraction and majority vote") {
  CHECK(extract_answer(" 6 - 0 = 6, 6 - 4 = 2, 2 - 8 = -6") == -6);
  CHECK(extract_answer(" 6 - 0 = 6, 6 - 4 =") == std::nullopt);  // last step had no result
  CHECK(extract_answer(" 6 - 0") == std::nullopt);
  CHECK(extract_answer(" 6 - 0 = 16") == 16);
  CHECK(extract_final_answer("... = 2. The answer is -13.") == -13);
  CHECK(extract_final_answer("no answer") == std::nullopt);
  CHECK(vote({2, std::nullopt, 3, 3, std::nullopt, std::nullopt}) == 3);
  CHECK(vote({4, 5}) == 4);  // tie: first seen
  CHECK(vote({std::nullopt}) == std::nullopt);
}

TEST_CASE("task reward: 1 iff the last calculator result is the answer") {
  CHECK(task_reward(" 6 - 0 =, 6 - 4 =, 2 - 8 =", -6) == 1.0);
  CHECK(task_reward(" 6 - 0 =, 6 - 4 =", -6) == 0.0);
  CHECK(task_reward(" 6 - 0 =, 6 - 4 =, 2 - 8", -6) == 0.0);
  CHECK(task_reward("", 0) == 0.0);
}

TEST_CASE("corpus: every line's stated answer is its last result; careful lines are right") {
  CorpusConfig c;
  Rng rng(5);
  int careful_lines = 0, sloppy_wrong = 0, lines = 0;
  for (int d = 0; d < 300; ++d) {
    std::stringstream doc(corpus_document(c, rng));
    std::string line;
    std::vector<std::string> doc_lines;
    while (std::getline(doc, line)) doc_lines.push_back(line);
    bool all_right = true;
    for (const auto& l : doc_lines) {
      ++lines;
      const auto dot = l.rfind(". The answer is");
      REQUIRE(dot != std::string::npos);
      const auto q_end = l.find("Answer:") + 7;
      const auto problem = parse_question(l.substr(0, q_end));
      REQUIRE(problem.has_value());
      const std::string z = l.substr(q_end, dot - q_end);
      // The results in the text are the calculator's, and the answer copies the last one.
      std::string actions;
      for (std::size_t i = 0; i < z.size(); ++i) {
        actions += z[i];
        if (z[i] == '=') {
          const auto out = calculator_output(actions);
          REQUIRE(z.compare(i + 1, out.size(), out) == 0);
          i += out.size();
        }
      }
      CHECK(extract_final_answer(l) == extract_answer(z));
      all_right = all_right && extract_final_answer(l) == problem->answer();
      if (problem->num_operands() == 2) CHECK(extract_final_answer(l) == problem->answer());
      CHECK(problem->num_operands() <= c.max_operands);
    }
    if (all_right)
      careful_lines += static_cast<int>(doc_lines.size());
    else
      ++sloppy_wrong;
  }
  CHECK(careful_lines > 0);
  CHECK(sloppy_wrong > 100);  // most documents are sloppy
  const std::string text = make_corpus(c, 5000, 1);
  CHECK(text.size() >= 5000);
  CHECK(text == make_corpus(c, 5000, 1));
  CHECK(text.find("\n\n") != std::string::npos);
  // The tokenizer covers every character of the corpus.
  const ArithmeticTokenizer tok = make_tokenizer();
  CHECK(tok.decode(tok.encode(text)) == text);
}
