// Replay buffer (SPEC section 4): hand-worked dedup, eviction and sampling cases.
#include <gfnlm/gfn/edit_distance.hpp>
#include <gfnlm/gfn/replay_buffer.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using gfnlm::ReplayBuffer;
using gfnlm::ReplayBufferConfig;
using Seq = std::vector<int32_t>;

namespace {

// Index of a sampled item inside items(key).
std::size_t index_of(const ReplayBuffer& buffer, uint64_t key, const gfnlm::ReplayItem* item) {
  return static_cast<std::size_t>(item - buffer.items(key).data());
}

const gfnlm::ReplayItem* find(const ReplayBuffer& buffer, uint64_t key, const Seq& actions) {
  for (const auto& item : buffer.items(key))
    if (item.actions == actions) return &item;
  return nullptr;
}

// Draws n samples and checks each item's frequency against p_i = w_i / sum w within 3 standard
// errors sqrt(p_i (1 - p_i) / n).
void check_frequencies(const ReplayBuffer& buffer, uint64_t key, double temperature, int n,
                       const std::vector<double>& weights_by_index) {
  gfnlm::Rng rng(12345);
  const auto draws = buffer.sample(key, n, rng, temperature);
  REQUIRE(draws.size() == static_cast<std::size_t>(n));
  std::vector<int> counts(buffer.size(key), 0);
  for (const auto* item : draws) counts[index_of(buffer, key, item)]++;
  double total = 0;
  for (double w : weights_by_index) total += w;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double p = weights_by_index[i] / total;
    const double se = std::sqrt(p * (1 - p) / n);
    const double freq = counts[i] / double(n);
    INFO("item " << i << " T=" << temperature << " p=" << p << " freq=" << freq << " se=" << se);
    CHECK(std::abs(freq - p) < 3 * se);
  }
}

}  // namespace

TEST_CASE("edit_distance is token Levenshtein", "[gfn_buffer]") {
  // "kitten" -> "sitting": 2 substitutions + 1 insertion.
  const Seq kitten{11, 9, 20, 20, 5, 14}, sitting{19, 9, 20, 20, 9, 14, 7};
  CHECK(gfnlm::edit_distance(kitten, sitting) == 3);
  CHECK(gfnlm::edit_distance(sitting, kitten) == 3);
  CHECK(gfnlm::edit_distance(Seq{}, Seq{1, 2, 3}) == 3);
  CHECK(gfnlm::edit_distance(Seq{1, 2, 3}, Seq{1, 2, 3}) == 0);
  CHECK(gfnlm::edit_distance(Seq{1, 2, 3}, Seq{3, 2, 1}) == 2);
  CHECK(gfnlm::edit_distance(Seq{1, 2, 3, 4}, Seq{2, 3, 4}) == 1);
}

TEST_CASE("exact duplicates are skipped whatever their reward", "[gfn_buffer]") {
  ReplayBuffer buffer;
  REQUIRE(buffer.add(1, Seq{1, 2, 3}, 1.0));
  CHECK_FALSE(buffer.add(1, Seq{1, 2, 3}, 5.0));
  CHECK_FALSE(buffer.add(1, Seq{1, 2, 3}, -5.0));
  REQUIRE(buffer.size(1) == 1);
  CHECK(buffer.items(1)[0].log_r == 1.0);
  // The same sequence under another query key is a different item.
  CHECK(buffer.add(2, Seq{1, 2, 3}, 0.0));
  CHECK(buffer.total_size() == 2);
  // The empty sequence (STOP at once) is a trajectory like any other.
  CHECK(buffer.add(3, Seq{}, 0.0));
  CHECK_FALSE(buffer.add(3, Seq{}, 1.0));
}

TEST_CASE("a near duplicate replaces the old one only if better", "[gfn_buffer]") {
  ReplayBuffer buffer;  // tolerance 0.25
  REQUIRE(buffer.add(0, Seq{1, 2, 3, 4}, 1.0));
  // distance 1 < 0.25 x 8 = 2: near duplicate, worse -> skipped; equal -> skipped.
  CHECK_FALSE(buffer.add(0, Seq{1, 2, 3, 5}, 0.5));
  CHECK_FALSE(buffer.add(0, Seq{1, 2, 3, 5}, 1.0));
  REQUIRE(buffer.size(0) == 1);
  CHECK(buffer.items(0)[0].actions == Seq{1, 2, 3, 4});
  // better -> replaces it.
  CHECK(buffer.add(0, Seq{1, 2, 3, 5}, 2.0));
  REQUIRE(buffer.size(0) == 1);
  CHECK(buffer.items(0)[0].actions == Seq{1, 2, 3, 5});
  CHECK(buffer.items(0)[0].log_r == 2.0);
  // distance 4 >= 2: far, added.
  CHECK(buffer.add(0, Seq{5, 6, 7, 8}, -1.0));
  CHECK(buffer.size(0) == 2);
  // The threshold is strict: {9, 9} vs {9, 8} has distance 1 = 0.25 x 4, so not a near duplicate.
  ReplayBuffer strict;
  REQUIRE(strict.add(0, Seq{9, 9}, 1.0));
  CHECK(strict.add(0, Seq{9, 8}, 0.0));
  CHECK(strict.size(0) == 2);
  // Tolerance 0 turns near-duplicate detection off.
  ReplayBuffer off(ReplayBufferConfig{.capacity = 50, .near_duplicate_tolerance = 0.0});
  REQUIRE(off.add(0, Seq{1, 2, 3, 4}, 1.0));
  CHECK(off.add(0, Seq{1, 2, 3, 5}, 0.0));
  CHECK(off.size(0) == 2);
}

TEST_CASE("a near duplicate of several items must beat all of them", "[gfn_buffer]") {
  // Length 8 each: near means distance < 0.25 x 16 = 4. A and B differ in 4 places (not near);
  // C is 2 away from each.
  const Seq a{1, 2, 3, 4, 5, 6, 7, 8}, b{1, 2, 3, 4, 15, 16, 17, 18}, c{1, 2, 3, 4, 5, 6, 17, 18};
  ReplayBuffer buffer;
  REQUIRE(buffer.add(0, a, 1.0));
  REQUIRE(buffer.add(0, b, 2.0));
  REQUIRE(buffer.add(0, Seq{40, 41, 42, 43, 44, 45, 46, 47}, 0.0));  // unrelated, stays
  CHECK_FALSE(buffer.add(0, c, 1.5));  // B (2.0) is a near duplicate at least as good
  CHECK(buffer.size(0) == 3);
  CHECK(buffer.add(0, c, 3.0));  // beats A and B: takes A's place, B is removed
  REQUIRE(buffer.size(0) == 2);
  CHECK(buffer.items(0)[0].actions == c);
  CHECK(find(buffer, 0, a) == nullptr);
  CHECK(find(buffer, 0, b) == nullptr);
  CHECK(find(buffer, 0, Seq{40, 41, 42, 43, 44, 45, 46, 47}) != nullptr);
}

TEST_CASE("a full buffer evicts its worst item only for a better one", "[gfn_buffer]") {
  ReplayBuffer buffer(ReplayBufferConfig{.capacity = 3});
  // Far-apart sequences (no shared tokens, same length 2: distance 2 >= 0.25 x 4).
  REQUIRE(buffer.add(5, Seq{10, 10}, 1.0));
  REQUIRE(buffer.add(5, Seq{20, 20}, 3.0));
  REQUIRE(buffer.add(5, Seq{30, 30}, 2.0));
  CHECK_FALSE(buffer.add(5, Seq{40, 40}, 0.5));  // worse than the worst (1.0)
  CHECK_FALSE(buffer.add(5, Seq{50, 50}, 1.0));  // ties do not evict
  REQUIRE(buffer.size(5) == 3);
  CHECK(buffer.add(5, Seq{60, 60}, 4.0));
  REQUIRE(buffer.size(5) == 3);
  CHECK(find(buffer, 5, Seq{10, 10}) == nullptr);  // 1.0 evicted
  CHECK(find(buffer, 5, Seq{20, 20}) != nullptr);
  CHECK(find(buffer, 5, Seq{30, 30}) != nullptr);
  CHECK(find(buffer, 5, Seq{60, 60}) != nullptr);
  CHECK(buffer.add(5, Seq{70, 70}, 2.5));  // evicts 2.0
  CHECK(find(buffer, 5, Seq{30, 30}) == nullptr);
  // An evicted sequence is no longer a duplicate: it may come back if good enough.
  CHECK(buffer.add(5, Seq{30, 30}, 2.8));
  CHECK(find(buffer, 5, Seq{70, 70}) == nullptr);
}

TEST_CASE("capacity holds per query key", "[gfn_buffer]") {
  ReplayBuffer buffer(ReplayBufferConfig{.capacity = 2});
  for (int i = 0; i < 5; ++i) buffer.add(7, Seq{100 + i, 100 + i, 100 + i}, double(i));
  for (int i = 0; i < 3; ++i) buffer.add(9, Seq{200 + i, 200 + i, 200 + i}, double(-i));
  CHECK(buffer.size(7) == 2);
  CHECK(buffer.size(9) == 2);
  CHECK(buffer.total_size() == 4);
  CHECK(buffer.empty(8));
  CHECK(buffer.keys() == std::vector<uint64_t>{7, 9});
  // The top two of each key survive.
  CHECK(find(buffer, 7, Seq{104, 104, 104}) != nullptr);
  CHECK(find(buffer, 7, Seq{103, 103, 103}) != nullptr);
  CHECK(find(buffer, 9, Seq{200, 200, 200}) != nullptr);
  CHECK(find(buffer, 9, Seq{201, 201, 201}) != nullptr);
}

TEST_CASE("non-finite rewards: NaN and +inf throw, -inf is never stored", "[gfn_buffer]") {
  ReplayBuffer buffer;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  try {
    buffer.add(424242, Seq{1}, nan);
    FAIL("NaN accepted");
  } catch (const gfnlm::Error& e) {
    CHECK(std::string(e.what()).find("424242") != std::string::npos);
    CHECK(std::string(e.what()).find("NaN") != std::string::npos);
  }
  CHECK_THROWS_AS(buffer.add(1, Seq{1}, inf), gfnlm::Error);
  CHECK_FALSE(buffer.add(1, Seq{1}, -inf));
  CHECK(buffer.empty(1));
  CHECK(buffer.keys().empty());
  CHECK_THROWS_AS(ReplayBuffer(ReplayBufferConfig{.capacity = 0}), gfnlm::Error);
  CHECK_THROWS_AS(ReplayBuffer(ReplayBufferConfig{.capacity = 5, .near_duplicate_tolerance = -1}),
                  gfnlm::Error);
}

TEST_CASE("sampling frequencies follow exp(log R / T)", "[gfn_buffer]") {
  ReplayBuffer buffer;
  // Rewards 1 : 2 : 3 : 4 (log R shifted by 10 to show that only differences matter).
  const std::vector<double> reward{1, 2, 3, 4};
  for (int i = 0; i < 4; ++i)
    REQUIRE(buffer.add(3, Seq{i * 10, i * 10, i * 10}, 10 + std::log(reward[i])));
  // Weights in storage order (items() is storage order; look each up by its reward).
  auto weights = [&](double temperature) {
    std::vector<double> w;
    for (const auto& item : buffer.items(3)) w.push_back(std::exp((item.log_r - 10) / temperature));
    return w;
  };
  // 200,000 draws: the standard error of a frequency near 0.25 is about 0.001, so 3 SE = 0.003.
  const int n = 200000;
  check_frequencies(buffer, 3, 1.0, n, weights(1.0));  // p = 0.1, 0.2, 0.3, 0.4
  check_frequencies(buffer, 3, 2.0, n, weights(2.0));  // p ~ sqrt(1..4): flatter
  check_frequencies(buffer, 3, 0.5, n, weights(0.5));  // p ~ (1..4)^2: sharper
  // The tempered proportions really differ: the best item's share drops from 0.4 at T = 1 to
  // 2 / (1 + 1.414 + 1.732 + 2) = 0.325 at T = 2 and rises to 16/30 = 0.533 at T = 0.5, each gap
  // many standard errors wide, so a sampler that ignored T would fail the checks above.
  CHECK(weights(2.0)[3] / (weights(2.0)[0] + weights(2.0)[1] + weights(2.0)[2] + weights(2.0)[3]) ==
        Approx(0.3254).epsilon(1e-3));

  gfnlm::Rng rng(1);
  CHECK(buffer.sample(3, 0, rng).empty());
  CHECK_THROWS_AS(buffer.sample(99, 1, rng), gfnlm::Error);
  CHECK_THROWS_AS(buffer.sample(3, 1, rng, 0.0), gfnlm::Error);
  CHECK_THROWS_AS(buffer.sample(3, -1, rng), gfnlm::Error);
}

TEST_CASE("an item far below the best is (almost) never replayed", "[gfn_buffer]") {
  ReplayBuffer buffer;
  REQUIRE(buffer.add(0, Seq{1, 1}, 0.0));
  REQUIRE(buffer.add(0, Seq{2, 2}, -800.0));  // exp(-800) underflows to 0
  gfnlm::Rng rng(7);
  for (const auto* item : buffer.sample(0, 1000, rng)) CHECK(item->log_r == 0.0);
}

TEST_CASE("save and load round-trip, and a truncated stream is a clear error", "[gfn_buffer]") {
  ReplayBuffer buffer(ReplayBufferConfig{.capacity = 4, .near_duplicate_tolerance = 0.3});
  gfnlm::Rng fill(3);
  for (int i = 0; i < 30; ++i) {
    Seq s;
    for (int t = 0; t < 1 + int(fill.below(6)); ++t) s.push_back(int32_t(fill.below(5)));
    buffer.add(fill.below(3) * 1000003ULL, s, fill.normal() * 3);
  }
  REQUIRE(buffer.total_size() > 4);
  std::stringstream first;
  buffer.save(first);
  const std::string bytes = first.str();

  ReplayBuffer loaded;  // a different config: load restores the saved one
  std::istringstream in(bytes);
  loaded.load(in);
  CHECK(loaded.config().capacity == 4);
  CHECK(loaded.config().near_duplicate_tolerance == 0.3);
  REQUIRE(loaded.keys() == buffer.keys());
  for (uint64_t key : buffer.keys()) {
    REQUIRE(loaded.size(key) == buffer.size(key));
    for (std::size_t i = 0; i < buffer.size(key); ++i) {
      CHECK(loaded.items(key)[i].actions == buffer.items(key)[i].actions);
      CHECK(loaded.items(key)[i].log_r == buffer.items(key)[i].log_r);
    }
    // Same storage order: the same generator draws the same items.
    gfnlm::Rng r1(9), r2(9);
    const auto s1 = buffer.sample(key, 50, r1, 0.7), s2 = loaded.sample(key, 50, r2, 0.7);
    for (int i = 0; i < 50; ++i)
      CHECK(index_of(buffer, key, s1[i]) == index_of(loaded, key, s2[i]));
  }
  std::stringstream second;
  loaded.save(second);
  CHECK(second.str() == bytes);

  // Every proper prefix of the stream fails with a gfnlm::Error and leaves the buffer unchanged.
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    ReplayBuffer target;
    REQUIRE(target.add(77, Seq{1, 2}, 0.0));
    std::istringstream truncated(bytes.substr(0, cut));
    INFO("cut at " << cut << " of " << bytes.size());
    CHECK_THROWS_AS(target.load(truncated), gfnlm::Error);
    CHECK(target.size(77) == 1);
    CHECK(target.total_size() == 1);
  }
  std::istringstream truncated(bytes.substr(0, bytes.size() - 3));
  CHECK_THROWS_WITH(ReplayBuffer().load(truncated),
                    Catch::Contains("truncated") && Catch::Contains("replay_buffer.actions"));
  std::istringstream foreign(std::string(64, 'x'));
  CHECK_THROWS_AS(ReplayBuffer().load(foreign), gfnlm::Error);
}
