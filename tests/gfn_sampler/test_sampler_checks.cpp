// What a new user sees when something is off (issue 18): a query with zero reward everywhere, a
// reward too large for the float loss, and the progress line a Sampler prints on its own.
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/objectives/vargrad.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

using namespace gfnlm;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Tokens 0, 1 and STOP = 2; words of up to 3 tokens.
SamplerConfig small_config() {
  SamplerConfig config;
  config.trajectories_per_query = 8;
  config.max_len = 3;
  config.seed = 5;
  config.quiet = true;
  return config;
}

// Collects the Sampler's messages.
struct Captured {
  std::vector<std::string> lines;
  auto sink() {
    return [this](const std::string& line) { lines.push_back(line); };
  }
};

}  // namespace

TEST_CASE("A query whose rows all have zero reward: one warning per key, finite log Z",
          "[gfn_sampler]") {
  TabularPolicy policy(2, 3, 2, 3);
  // Query 1 never has a reward; query 0 does.
  auto reward = [](const int& q, std::span<const int32_t> z) {
    return q == 1 ? -kInf : -0.5 * double(z.size());
  };
  Sampler sampler(policy, reward, small_config());
  Captured out;
  sampler.set_message_sink(out.sink());
  const std::vector<int> both{0, 1}, only_zero{1};
  for (int step = 0; step < 3; ++step) {
    const auto m = sampler.train_step(both);
    CHECK(std::isfinite(m.log_z));
    CHECK(std::isfinite(m.log_z_spread));
  }
  // Alone, the zero-reward query's log Z is the floor's: log R = -100 less log q.
  const auto m = sampler.train_step(only_zero);
  CHECK(std::isfinite(m.log_z));
  CHECK(m.log_z > -100);
  CHECK(m.log_z < -90);
  CHECK(std::isfinite(m.log_z_spread));
  CHECK(m.mean_log_r == -kInf);
  REQUIRE(out.lines.size() == 1);  // once per key, however many steps
  CHECK(out.lines[0] ==
        "gfnlm: warning: all 8 rows of query 1 (key 1) have log R = -inf (zero reward) at step 0; "
        "the loss and log Z read them as the objective's log_reward_floor = -100. Check the "
        "reward, or seed the buffer with known-good sequences (Sampler::seed_buffer). Shown once "
        "per query key.");
}

TEST_CASE("The zero-reward warning names the objective's own floor", "[gfn_sampler]") {
  TabularPolicy policy(1, 3, 2, 3);
  auto reward = [](const int&, std::span<const int32_t>) { return -kInf; };
  Sampler sampler(policy, reward, small_config(), TrajectoryBalance({.log_reward_floor = -12}));
  Captured out;
  sampler.set_message_sink(out.sink());
  const std::vector<int> queries{0};
  const auto m = sampler.train_step(queries);
  // TB's log Z estimate reads the same clamped rewards as its loss.
  CHECK(m.log_z > -12);
  CHECK(m.log_z < -8);
  REQUIRE(out.lines.size() == 1);
  CHECK_THAT(out.lines[0], Catch::Matchers::Contains("log_reward_floor = -12."));
  // VarGradTB too (it once had no config(), and the Sampler read the default floor).
  Sampler vargrad(policy, reward, small_config(), VarGradTB({.log_reward_floor = -12}));
  Captured vout;
  vargrad.set_message_sink(vout.sink());
  const auto mv = vargrad.train_step(queries);
  CHECK(mv.log_z > -12);
  REQUIRE(vout.lines.size() == 1);
  CHECK_THAT(vout.lines[0], Catch::Matchers::Contains("log_reward_floor = -12."));
}

TEST_CASE("A finite log R below the floor is used as it is, with one warning", "[gfn_sampler]") {
  TabularPolicy policy(1, 3, 2, 3);
  // -40 nats a token: words of 3 tokens fall below the floor -100 once tempered by T_R = 1.
  auto reward = [](const int&, std::span<const int32_t> z) { return -40.0 * double(z.size()); };
  Sampler sampler(policy, reward, small_config());
  Captured out;
  sampler.set_message_sink(out.sink());
  const std::vector<int> queries{0};
  for (int step = 0; step < 4; ++step) sampler.train_step(queries);
  REQUIRE(out.lines.size() == 1);
  CHECK_THAT(out.lines[0], Catch::Matchers::Contains("finite tempered log R = -120") &&
                               Catch::Matchers::Contains("log_reward_floor = -100"));
}

TEST_CASE("A finite reward that overflows float after tempering is an error saying so",
          "[gfn_sampler]") {
  TabularPolicy policy(1, 3, 2, 3);
  // 1e300 is a finite double; divided by T_R = 0.5 and read as float it is inf.
  auto reward = [](const int&, std::span<const int32_t> z) { return z.size() == 2 ? 1e300 : 0.0; };
  SamplerConfig config = small_config();
  config.reward_temperature = {0.5, 0.5, 0};
  config.exploration = {.p_on_policy = 0, .p_tempered = 0, .p_replay = 1};  // only seeded rows
  Sampler sampler(policy, reward, config);
  REQUIRE(sampler.seed_buffer(0, {{0, 1}}) == 1);  // untempered, double: accepted
  const std::vector<int> queries{0};
  CHECK_THROWS_WITH(
      sampler.train_step(queries),
      "reward returned log R = 1e+300 for query 0 at prefix length 2 of tokens [0, 1]: it is "
      "finite, but divided by the reward temperature T_R = 0.5 it is 2e+300, which overflows "
      "float (largest finite 3.4028235e+38) after tempering; the loss reads tempered log R as "
      "float, so rescale the reward");
}

TEST_CASE("A finite reward too large for float precision is an error from the objective",
          "[gfn_sampler]") {
  TabularPolicy policy(1, 3, 2, 3);
  // 2^31 / T_R = 2^30 fits a float, but its rounding step there is 128 nats.
  auto reward = [](const int&, std::span<const int32_t> z) {
    return z.size() == 2 ? 2147483648.0 : 0.0;
  };
  SamplerConfig config = small_config();
  config.reward_temperature = {2.0, 2.0, 0};
  config.exploration = {.p_on_policy = 0, .p_tempered = 0, .p_replay = 1};
  Sampler sampler(policy, reward, config);
  REQUIRE(sampler.seed_buffer(0, {{0, 1}}) == 1);
  const std::vector<int> queries{0};
  CHECK_THROWS_WITH(sampler.train_step(queries),
                    "ModifiedSubTB: log_r[0][2] = 1073741824 is finite but too large for the "
                    "batch's float: above 8388608 its rounding step is >= 1 nat, so the balance "
                    "residuals lose log q entirely; rescale the reward (or raise the reward "
                    "temperature)");
}

TEST_CASE("The objectives name an infinite log R in a float batch for what it may be",
          "[gfn_sampler]") {
  BasicTrajectoryBatch<float> batch;
  batch.resize(1, 1);
  batch.length[0] = 1;
  batch.actions(0, 0) = 0;
  batch.log_pf(0, 0) = -1;
  batch.log_stop(0, 1) = -1;
  batch.log_r(0, 1) = std::numeric_limits<float>::infinity();
  BasicTrajectoryGrad<float> grad;
  TrajectoryBalance tb;
  CHECK_THROWS_WITH(tb(batch, grad),
                    "TrajectoryBalance: log_r[0][1] is inf: a NaN or +inf reward, or a finite "
                    "one too large for the batch's float (largest finite 3.4028235e+38)");
  batch.log_r(0, 1) = 8e6f;  // below 2^23: fine
  CHECK(std::isfinite(tb(batch, grad)));
}

TEST_CASE("Without a callback the Sampler prints a progress line every progress_every steps",
          "[gfn_sampler]") {
  TabularPolicy policy(1, 3, 2, 3);
  auto reward = [](const int&, std::span<const int32_t> z) { return -0.5 * double(z.size()); };
  const std::vector<int> queries{0};
  SamplerConfig config = small_config();
  config.quiet = false;
  config.progress_every = 2;
  {
    Sampler sampler(policy, reward, config);
    Captured out;
    sampler.set_message_sink(out.sink());
    for (int step = 0; step < 5; ++step) sampler.train_step(queries);
    // After the first step, then steps 2 and 4.
    REQUIRE(out.lines.size() == 3);
    const std::string number = R"(-?[0-9.e+-]+)";
    const std::regex line("gfnlm: step ([0-9]+)  loss " + number + "  mean log R " + number +
                          "  log Z " + number + " \\(spread " + number +
                          "\\)  T_R 1  [0-9]+ "
                          "samples/s  buffer [0-9]+(.*)");
    std::smatch match;
    REQUIRE(std::regex_match(out.lines[0], match, line));
    CHECK(match[1] == "1");
    CHECK(match[2] ==
          "  (a line every 2 steps: SamplerConfig.progress_every; quiet = true or "
          "set_progress_callback() replace it)");
    REQUIRE(std::regex_match(out.lines[1], match, line));
    CHECK(match[1] == "2");
    CHECK(match[2] == "");
    REQUIRE(std::regex_match(out.lines[2], match, line));
    CHECK(match[1] == "4");
  }
  SECTION("a callback replaces the line") {
    Sampler sampler(policy, reward, config);
    Captured out;
    sampler.set_message_sink(out.sink());
    int calls = 0;
    sampler.set_progress_callback([&](const StepMetrics&) { ++calls; });
    for (int step = 0; step < 5; ++step) sampler.train_step(queries);
    CHECK(calls == 5);
    CHECK(out.lines.empty());
  }
  SECTION("quiet or progress_every = 0 turn it off") {
    for (const bool quiet : {true, false}) {
      SamplerConfig off = config;
      off.quiet = quiet;
      off.progress_every = quiet ? 2 : 0;
      Sampler sampler(policy, reward, off);
      Captured out;
      sampler.set_message_sink(out.sink());
      for (int step = 0; step < 5; ++step) sampler.train_step(queries);
      CHECK(out.lines.empty());
    }
  }
  SECTION("a negative progress_every is a config error") {
    SamplerConfig bad = config;
    bad.progress_every = -1;
    CHECK_THROWS_WITH(bad.validate(),
                      "SamplerConfig.progress_every = -1 must be >= 0 (steps between progress "
                      "lines; 0 or quiet = true: none)");
    CHECK_THROWS_WITH(Sampler(policy, reward, bad), Catch::Matchers::Contains("progress_every"));
  }
}
