gfnlm_add_test(test_latent SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_em.cpp LABELS latent)
