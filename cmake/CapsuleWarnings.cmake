set(CAPSULE_WARNINGS
    -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wformat-nonliteral -Wswitch-enum -Wpointer-arith -Wvla -Wcast-align -Wundef
    -Werror=implicit-function-declaration -Werror=incompatible-pointer-types
    -Werror=return-type -Werror=int-conversion -Wno-missing-field-initializers)
if(CAPSULE_WERROR)
  list(APPEND CAPSULE_WARNINGS -Werror)
endif()
add_compile_options(${CAPSULE_WARNINGS})
add_compile_definitions(_GNU_SOURCE)
if(CMAKE_BUILD_TYPE STREQUAL "Release" OR CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
  if(NOT CAPSULE_SANITIZE)
    add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-strong
                        -fstack-clash-protection)
    add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
  endif()
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
endif()
