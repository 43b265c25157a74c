// C face of libgpiod for the status LED and the button.
//
// The library is loaded at run time (dlopen), not linked: Debian 12 ships libgpiod 1.6
// (libgpiod.so.2) and Debian 13 / Raspberry Pi OS trixie libgpiod 2.x (libgpiod.so.3), whose APIs
// differ; this shim speaks whichever it finds, and a board without either only loses GPIO.
// Every call returns NULL or -1 and leaves errno set on failure, so the Swift side can say
// exactly why a chip or line could not be used. Chips and lines are opaque here.
#ifndef CGPIOD_H
#define CGPIOD_H
#include <stdint.h>

struct cgpiod_chip;
struct cgpiod_line;

/// Loads libgpiod once per process: `$GEMMA_EDGE_LIBGPIOD` (a path) when set, else
/// libgpiod.so.3 (2.x), else libgpiod.so.2 (1.6). Returns the API major version (1 or 2), or 0
/// with `cgpiod_load_error()` saying what was tried and what is missing.
int cgpiod_load(void);
const char *cgpiod_load_error(void);

/// Resolves libgpiod's functions through `lookup` instead of dlopen (tests: a fake library in
/// the process). Returns the API version found (1 or 2) or 0. NULL forgets what was loaded, so
/// the next cgpiod_load() starts over. Only while no chip is open.
int cgpiod_load_with(void *(*lookup)(const char *name), const char *origin);

/// Opens a chip by name ("gpiochip0"), path ("/dev/gpiochip0"), number ("0") or label.
/// NULL with errno set (ENOENT when there is no such chip; ENOSYS when libgpiod is not loaded).
struct cgpiod_chip *cgpiod_chip_open(const char *description);
void cgpiod_chip_close(struct cgpiod_chip *chip);
/// The chip's name ("gpiochip0") and label ("pinctrl-bcm2711").
const char *cgpiod_chip_name(struct cgpiod_chip *chip);
const char *cgpiod_chip_label(struct cgpiod_chip *chip);
unsigned int cgpiod_chip_num_lines(struct cgpiod_chip *chip);

/// Requests line `offset` as an output with an initial value; NULL with errno on failure
/// (EINVAL for an offset past the chip's lines, EBUSY when another consumer holds it).
struct cgpiod_line *cgpiod_request_output(struct cgpiod_chip *chip, unsigned int offset, const char *consumer,
                                          int active_low, int initial_value);
/// Sets an output line; 0 or -1 with errno.
int cgpiod_set_value(struct cgpiod_line *line, int value);

/// Bias for an input line.
enum cgpiod_bias { CGPIOD_BIAS_AS_IS = 0, CGPIOD_BIAS_PULL_UP = 1, CGPIOD_BIAS_PULL_DOWN = 2, CGPIOD_BIAS_DISABLE = 3 };

/// Requests line `offset` for rising and falling edge events; NULL with errno. Bias flags need
/// Linux 5.5 or later (EINVAL before).
struct cgpiod_line *cgpiod_request_edges(struct cgpiod_chip *chip, unsigned int offset, const char *consumer, int bias);
/// Waits up to `timeout_ns` for an edge: 1 with `*timestamp_ns` (the kernel's event time) and
/// `*rising` filled, 0 on timeout, -1 with errno on error.
int cgpiod_wait_edge(struct cgpiod_line *line, int64_t timeout_ns, int64_t *timestamp_ns, int *rising);

/// Gives a line back.
void cgpiod_line_release(struct cgpiod_line *line);
/// The loaded library's version ("1.6.3", "2.2.1"); "" when none is loaded.
const char *cgpiod_version(void);

#endif
