# Issue 18, a new user's first hour: what the Sampler says when something is off, the first task
# of docs/concepts.md (built, run and checked against the page) and the measurements behind its
# advice on objectives and buffer settings.
gfnlm_add_test(test_gfn_sampler_checks SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler_checks.cpp
  LABELS gfn_sampler)

# The model is too small to gain from threads; on a loaded machine they only add waits.
add_executable(test_gfn_choosing ${CMAKE_CURRENT_LIST_DIR}/test_choosing_objective.cpp)
target_link_libraries(test_gfn_choosing PRIVATE gfnlm_catch_main)
catch_discover_tests(test_gfn_choosing PROPERTIES LABELS gfn_sampler ENVIRONMENT OMP_NUM_THREADS=1)

add_executable(test_first_task ${CMAKE_CURRENT_LIST_DIR}/test_first_task.cpp)
target_link_libraries(test_first_task PRIVATE gfnlm_programs)
# With a llama2.c tokenizer file at hand, the program also loads it.
set(first_task_args)
if(EXISTS ${PROJECT_SOURCE_DIR}/../shared/models/aidreams260K/tok512.bin)
  set(first_task_args ${PROJECT_SOURCE_DIR}/../shared/models/aidreams260K/tok512.bin)
endif()
add_test(NAME gfn_sampler.first_task COMMAND test_first_task ${first_task_args})
set_tests_properties(gfn_sampler.first_task PROPERTIES ENVIRONMENT OMP_NUM_THREADS=1)
add_test(NAME gfn_sampler.first_task_matches_page
  COMMAND ${CMAKE_COMMAND} -DPAGE=${PROJECT_SOURCE_DIR}/docs/concepts.md
          -DROOT=${PROJECT_SOURCE_DIR} -DCODE=${CMAKE_CURRENT_LIST_DIR}/test_first_task.cpp
          -DOUT=${CMAKE_CURRENT_BINARY_DIR}/first_task_from_page.cpp
          -P ${CMAKE_CURRENT_LIST_DIR}/check_docs_example.cmake)

# A reward of the wrong signature is a compile error that lists the accepted ones: the program
# builds with a right reward (test_reward_signature) and fails with the message with a wrong one.
add_executable(test_reward_signature ${CMAKE_CURRENT_LIST_DIR}/wrong_reward.cpp)
target_link_libraries(test_reward_signature PRIVATE gfnlm_programs)
add_executable(wrong_reward_signature EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/wrong_reward.cpp)
target_link_libraries(wrong_reward_signature PRIVATE gfnlm_programs)
target_compile_definitions(wrong_reward_signature PRIVATE GFNLM_WRONG_REWARD)
add_test(NAME gfn_sampler.reward_signature COMMAND test_reward_signature)
add_test(NAME gfn_sampler.wrong_reward_signature_is_a_readable_error
  COMMAND ${CMAKE_COMMAND} -DBINARY_DIR=${PROJECT_BINARY_DIR} -DTARGET=wrong_reward_signature
          "-DEXPECT=gfnlm::Sampler: the reward has none of the four accepted signatures|r.prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<Q>> rows)"
          -P ${CMAKE_CURRENT_LIST_DIR}/check_compile_error.cmake)
set_tests_properties(gfn_sampler.first_task gfn_sampler.first_task_matches_page
  gfn_sampler.reward_signature gfn_sampler.wrong_reward_signature_is_a_readable_error
  PROPERTIES LABELS gfn_sampler)
