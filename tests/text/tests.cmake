find_package(nlohmann_json REQUIRED)

# The real GPT-2 vocabulary (../shared/models/gpt2_vocab beside the checkout) is found at run
# time; this only records a folder detected at configure time. The test skips with a message
# where it is absent.
find_path(GFNLM_GPT2_VOCAB_DIR encoder.json
  PATHS ${PROJECT_SOURCE_DIR}/../shared/models/gpt2_vocab NO_DEFAULT_PATH)

gfnlm_add_test(test_text
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_char_tokenizer.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_gpt2_bpe.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_hf_tokenizer.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_llama2c_tokenizer.cpp
  LABELS text)
target_link_libraries(test_text PRIVATE nlohmann_json::nlohmann_json)
if(GFNLM_GPT2_VOCAB_DIR)
  target_compile_definitions(test_text PRIVATE GFNLM_GPT2_VOCAB_DIR="${GFNLM_GPT2_VOCAB_DIR}")
endif()
