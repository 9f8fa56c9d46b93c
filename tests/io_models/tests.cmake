find_package(nlohmann_json REQUIRED)

gfnlm_add_test(test_io_models
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gpt2_safetensors.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_lora_peft.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_llama_safetensors.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_bad_weights.cpp
  LABELS io_models)
target_link_libraries(test_io_models PRIVATE nlohmann_json::nlohmann_json)
