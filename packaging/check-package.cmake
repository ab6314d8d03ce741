# CPACK_PRE_BUILD_SCRIPTS: runs inside cpack, after the staging install. The daemon compiled
# into the package must default to the packaged runtimes directory.
set(want "${CPACK_PACKAGING_INSTALL_PREFIX}/share/capsule/runtimes")
if(NOT CPACK_CAPSULE_RUNTIMES_DIR STREQUAL want)
  message(FATAL_ERROR
    "capsule-engine: capsuled was built with CAPSULE_DEFAULT_RUNTIMES_DIR="
    "${CPACK_CAPSULE_RUNTIMES_DIR}; a package needs ${want}. "
    "Use packaging/build-deb.sh, or configure with -DCMAKE_INSTALL_PREFIX=/usr "
    "-DCAPSULE_DEFAULT_RUNTIMES_DIR=${want}.")
endif()
