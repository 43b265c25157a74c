// C face of libgpiod 1.6 for the status LED and button.
#ifndef CGPIOD_H
#define CGPIOD_H
#include <stdint.h>
#endif
