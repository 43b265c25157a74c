// C face of libpng for GemmaEdge (decode for vision, encode for charts).
#ifndef CPNG_H
#define CPNG_H
#include <stddef.h>
#include <stdint.h>
#endif
