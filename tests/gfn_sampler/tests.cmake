gfnlm_add_test(test_gfn_sampler
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler_kl.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_features.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_sampler_resume.cpp
  LABELS gfn_sampler)
