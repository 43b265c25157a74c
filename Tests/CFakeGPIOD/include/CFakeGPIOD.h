// A fake libgpiod for the tests: one chip (/dev/gpiochip0, label "fake-pinctrl", 8 lines) behind
// the 1.6 or the 2.x API, handed to CGPIOD with cgpiod_load_with(cfake_gpiod_lookup_vN, ...), so the
// real shim and LibgpiodChip run against it. It records what was requested and plays queued edges.
#ifndef CFAKEGPIOD_H
#define CFAKEGPIOD_H
#include <stdint.h>

/// Symbol lookups: the 1.6 names (gpiod_chip_open_lookup, ...) or the 2.x names (gpiod_api_version, ...).
void *cfake_gpiod_lookup_v1(const char *name);
void *cfake_gpiod_lookup_v2(const char *name);

/// Forgets every request and queued edge.
void cfake_gpiod_reset(void);
/// Line state: requested (1/0), logical output value, active-low flag, the raw bias the library
/// received (1.6: request flag bits; 2.x: enum gpiod_line_bias), direction (1 output, 2 edges).
int cfake_gpiod_requested(unsigned int offset);
int cfake_gpiod_value(unsigned int offset);
int cfake_gpiod_active_low(unsigned int offset);
int cfake_gpiod_bias(unsigned int offset);
int cfake_gpiod_direction(unsigned int offset);
const char *cfake_gpiod_consumer(unsigned int offset);
/// Queues an edge for an input line.
void cfake_gpiod_push_edge(unsigned int offset, int64_t timestamp_ns, int rising);
/// Library objects (chips, requests, configs, buffers) not yet freed.
int cfake_gpiod_live_objects(void);

#endif
