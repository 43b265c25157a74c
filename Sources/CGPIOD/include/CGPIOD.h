// C face of libgpiod 1.6 for the status LED and the button.
//
// Thin wrappers over the system library (Debian 12: libgpiod2 / libgpiod-dev 1.6): every call
// returns NULL or -1 and leaves errno set on failure, so the Swift side can say exactly why a
// chip or line could not be used. Chips and lines are opaque here.
#ifndef CGPIOD_H
#define CGPIOD_H
#include <stdint.h>

struct gpiod_chip;
struct gpiod_line;

/// Opens a chip by name ("gpiochip0"), path ("/dev/gpiochip0"), number ("0") or label.
/// NULL with errno set (ENOENT when there is no such chip).
struct gpiod_chip *cgpiod_chip_open(const char *description);
void cgpiod_chip_close(struct gpiod_chip *chip);
/// The chip's name ("gpiochip0") and label ("pinctrl-bcm2711").
const char *cgpiod_chip_name(struct gpiod_chip *chip);
const char *cgpiod_chip_label(struct gpiod_chip *chip);
unsigned int cgpiod_chip_num_lines(struct gpiod_chip *chip);

/// Requests line `offset` as an output with an initial value; NULL with errno on failure
/// (EINVAL for an offset past the chip's lines, EBUSY when another consumer holds it).
struct gpiod_line *cgpiod_request_output(struct gpiod_chip *chip, unsigned int offset, const char *consumer,
                                         int active_low, int initial_value);
/// Sets an output line; 0 or -1 with errno.
int cgpiod_set_value(struct gpiod_line *line, int value);

/// Bias for an input line.
enum cgpiod_bias { CGPIOD_BIAS_AS_IS = 0, CGPIOD_BIAS_PULL_UP = 1, CGPIOD_BIAS_PULL_DOWN = 2, CGPIOD_BIAS_DISABLE = 3 };

/// Requests line `offset` for rising and falling edge events; NULL with errno. Bias flags need
/// Linux 5.5 or later (EINVAL before).
struct gpiod_line *cgpiod_request_edges(struct gpiod_chip *chip, unsigned int offset, const char *consumer, int bias);
/// Waits up to `timeout_ns` for an edge: 1 with `*timestamp_ns` (the kernel's event time) and
/// `*rising` filled, 0 on timeout, -1 with errno on error.
int cgpiod_wait_edge(struct gpiod_line *line, int64_t timeout_ns, int64_t *timestamp_ns, int *rising);

/// Gives a line back.
void cgpiod_line_release(struct gpiod_line *line);
/// The library's version string ("1.6.3").
const char *cgpiod_version(void);

#endif
