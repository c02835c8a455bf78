# Every dependency comes from a Debian package installed by scripts/install-deps.sh.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp>=2.5)

# PKCS#11 header from p11-kit (header only: we never link libp11-kit).
pkg_check_modules(P11KIT REQUIRED p11-kit-1)
add_library(kc_pkcs11_headers INTERFACE)
target_include_directories(kc_pkcs11_headers SYSTEM INTERFACE ${P11KIT_INCLUDE_DIRS})
target_link_libraries(kc_pkcs11_headers INTERFACE ${CMAKE_DL_LIBS})

# mbedTLS 2.28 ships neither pkg-config nor a CMake package in Debian 12.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h REQUIRED)
find_library(MBEDTLS_LIB mbedtls REQUIRED)
find_library(MBEDX509_LIB mbedx509 REQUIRED)
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
add_library(kc_mbedtls INTERFACE)
target_include_directories(kc_mbedtls SYSTEM INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(kc_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})

find_package(cJSON 1.7 CONFIG REQUIRED)          # target: cjson
find_package(SQLite3 REQUIRED)                    # target: SQLite::SQLite3
find_package(nanopb 0.4 CONFIG REQUIRED)          # target: nanopb::protobuf-nanopb-static
# Run the generator by its own shebang (/usr/bin/python3): a non-system python3
# earlier in PATH lacks the google.protobuf module.
find_program(NANOPB_GENERATOR nanopb_generator.py PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
find_program(PROTOC protoc REQUIRED)
find_package(GTest 1.12 CONFIG REQUIRED)
# Boost.Beast/Asio 1.74 (libboost-dev), header-only: the HTTP server's request parser
# (broker/http). Target Boost::headers; no Boost library is linked.
find_package(Boost 1.74 CONFIG REQUIRED)

set(KEYCELL_PKCS11_MODULE "/usr/lib/softhsm/libsofthsm2.so" CACHE FILEPATH
    "Default PKCS#11 module (SoftHSM2)")
