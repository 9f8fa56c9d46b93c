gfnlm_add_test(test_lm_likelihood SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_likelihood.cpp LABELS rewards)
