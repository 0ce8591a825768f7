#include "facelens/version.h"

namespace facelens {
const char* version() { return FACELENS_VERSION_STRING; }
}  // namespace facelens
