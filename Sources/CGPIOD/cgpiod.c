// libgpiod 1.6 shim: see include/CGPIOD.h.
#include "CGPIOD.h"

#include <errno.h>
#include <gpiod.h>
#include <time.h>

struct gpiod_chip *cgpiod_chip_open(const char *description) {
    if (description == NULL || description[0] == '\0') {
        errno = EINVAL;
        return NULL;
    }
    return gpiod_chip_open_lookup(description);
}

void cgpiod_chip_close(struct gpiod_chip *chip) {
    if (chip) gpiod_chip_close(chip);
}

const char *cgpiod_chip_name(struct gpiod_chip *chip) { return gpiod_chip_name(chip); }
const char *cgpiod_chip_label(struct gpiod_chip *chip) { return gpiod_chip_label(chip); }
unsigned int cgpiod_chip_num_lines(struct gpiod_chip *chip) { return gpiod_chip_num_lines(chip); }

struct gpiod_line *cgpiod_request_output(struct gpiod_chip *chip, unsigned int offset, const char *consumer,
                                         int active_low, int initial_value) {
    struct gpiod_line *line = gpiod_chip_get_line(chip, offset);
    if (line == NULL) return NULL;
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_output_flags(line, consumer, flags, initial_value ? 1 : 0) != 0) return NULL;
    return line;
}

int cgpiod_set_value(struct gpiod_line *line, int value) { return gpiod_line_set_value(line, value ? 1 : 0); }

struct gpiod_line *cgpiod_request_edges(struct gpiod_chip *chip, unsigned int offset, const char *consumer, int bias) {
    struct gpiod_line *line = gpiod_chip_get_line(chip, offset);
    if (line == NULL) return NULL;
    int flags = 0;
    switch (bias) {
    case CGPIOD_BIAS_PULL_UP: flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP; break;
    case CGPIOD_BIAS_PULL_DOWN: flags = GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN; break;
    case CGPIOD_BIAS_DISABLE: flags = GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE; break;
    default: break;
    }
    if (gpiod_line_request_both_edges_events_flags(line, consumer, flags) != 0) return NULL;
    return line;
}

int cgpiod_wait_edge(struct gpiod_line *line, int64_t timeout_ns, int64_t *timestamp_ns, int *rising) {
    if (timeout_ns < 0) timeout_ns = 0;
    struct timespec timeout = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
    int rc = gpiod_line_event_wait(line, &timeout);
    if (rc <= 0) return rc;
    struct gpiod_line_event event;
    if (gpiod_line_event_read(line, &event) != 0) return -1;
    *timestamp_ns = (int64_t)event.ts.tv_sec * 1000000000 + event.ts.tv_nsec;
    *rising = event.event_type == GPIOD_LINE_EVENT_RISING_EDGE;
    return 1;
}

void cgpiod_line_release(struct gpiod_line *line) {
    if (line) gpiod_line_release(line);
}

const char *cgpiod_version(void) { return gpiod_version_string(); }
