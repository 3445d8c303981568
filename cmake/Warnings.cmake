# Compiler warnings for every target (STYLE.md 6).
add_compile_options(
    -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wvla
    -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wundef)
add_compile_definitions(_GNU_SOURCE OPENSSL_API_COMPAT=30000 OPENSSL_NO_DEPRECATED)
if(CERTO_WERROR)
    add_compile_options(-Werror)
endif()
