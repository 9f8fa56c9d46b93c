gfnlm_add_test(test_baselines
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ppo_math.cpp
  LABELS baselines)
