#pragma once
// The objectives' log R for a zero reward, in the story tasks (docs/concepts.md, "Rewards"): their
// log R is a log-likelihood of a sentence or two, -20 to -400 nats, so the default floor (-100)
// would sit above real rewards and rank a zero reward over them. No story reward is zero on a
// state any objective term reads; the floor only has to stay below every real one.
namespace gfnlm::stories {
inline constexpr double kStoriesLogRewardFloor = -1e5;
}  // namespace gfnlm::stories
