gfnlm_add_test(test_lm_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_policy.cpp LABELS policies)
gfnlm_add_test(test_lm_policy_kl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_policy_kl.cpp LABELS policies slow)
