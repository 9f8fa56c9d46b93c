gfnlm_add_test(test_baselines
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ppo_math.cpp ${CMAKE_CURRENT_LIST_DIR}/test_ppo_trainer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_grpo.cpp ${CMAKE_CURRENT_LIST_DIR}/test_star.cpp
  LABELS baselines)
gfnlm_add_test(test_decoders SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_decoders.cpp LABELS baselines)
