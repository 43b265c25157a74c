// libpng shim: see include/CPNG.h.
#include "CPNG.h"
