# Finds FAISS (Debian's libfaiss-dev 1.7: a static libfaiss.a that needs BLAS, LAPACK and OpenMP).
# Prefers FAISS' own CMake config when it is installed and usable; otherwise (some Debian builds
# ship none) links the library that find_library finds. Defines the imported target faiss.
find_package(OpenMP QUIET COMPONENTS CXX)
if(OpenMP_CXX_FOUND)
  find_package(faiss CONFIG QUIET)
endif()
if(TARGET faiss)
  set(Faiss_FOUND TRUE)
  return()
endif()
find_path(Faiss_INCLUDE_DIR faiss/IndexHNSW.h)
find_library(Faiss_LIBRARY faiss)
find_package(BLAS QUIET)
find_package(LAPACK QUIET)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Faiss
  REQUIRED_VARS Faiss_LIBRARY Faiss_INCLUDE_DIR OpenMP_CXX_FOUND BLAS_FOUND LAPACK_FOUND
  REASON_FAILURE_MESSAGE "install libfaiss-dev (scripts/setup.sh does)")
if(Faiss_FOUND AND NOT TARGET faiss)
  add_library(faiss UNKNOWN IMPORTED)
  set_target_properties(faiss PROPERTIES IMPORTED_LOCATION "${Faiss_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Faiss_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "OpenMP::OpenMP_CXX;${LAPACK_LIBRARIES};${BLAS_LIBRARIES}")
endif()
mark_as_advanced(Faiss_INCLUDE_DIR Faiss_LIBRARY)
