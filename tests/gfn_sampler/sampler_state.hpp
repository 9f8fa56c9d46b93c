#pragma once
// Everything a Sampler::load may change, as bytes: the step, the policy's and the objective's
// parameters and the replay buffer. Two samplers in the same state give the same string (the
// checkpoint tests and tests/fuzz/fuzz_sampler_checkpoint.cpp compare before and after a load).
#include <ios>
#include <sstream>
#include <string>

namespace gfnlm::test {

template <class S>
std::string state_of(S& sampler) {
  std::ostringstream os;
  os << sampler.step() << '|';
  for (const auto& p : sampler.policy().parameters())
    os.write(reinterpret_cast<const char*>(p.value), std::streamsize(p.size * sizeof(float)));
  for (const auto& p : sampler.objective().parameters())
    os.write(reinterpret_cast<const char*>(p.value), std::streamsize(p.size * sizeof(float)));
  sampler.buffer().save(os);
  return os.str();
}

}  // namespace gfnlm::test
