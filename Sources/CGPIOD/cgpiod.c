// libgpiod 1.6 shim: see include/CGPIOD.h.
#include "CGPIOD.h"
