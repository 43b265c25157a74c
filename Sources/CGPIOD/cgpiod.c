// libgpiod loaded at run time, 1.6 or 2.x: see include/CGPIOD.h.
#define _GNU_SOURCE
#include "CGPIOD.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// --- The two APIs, as far as this shim uses them ------------------------------------------
// libgpiod 1.6 (include/gpiod.h of libgpiod-dev 1.6.3): flags and the event record.
enum { V1_FLAG_ACTIVE_LOW = 1 << 2, V1_FLAG_BIAS_DISABLE = 1 << 3, V1_FLAG_BIAS_PULL_DOWN = 1 << 4,
       V1_FLAG_BIAS_PULL_UP = 1 << 5, V1_EVENT_RISING_EDGE = 1 };
struct v1_line_event { struct timespec ts; int event_type; };
// libgpiod 2.x (include/gpiod.h of libgpiod-dev 2.2): enum values.
enum { V2_DIRECTION_INPUT = 2, V2_DIRECTION_OUTPUT = 3, V2_EDGE_BOTH = 4, V2_BIAS_AS_IS = 1,
       V2_BIAS_DISABLED = 3, V2_BIAS_PULL_UP = 4, V2_BIAS_PULL_DOWN = 5, V2_VALUE_INACTIVE = 0,
       V2_VALUE_ACTIVE = 1, V2_EVENT_RISING_EDGE = 1 };

struct v1_api {
    void *(*chip_open_lookup)(const char *);
    void (*chip_close)(void *);
    const char *(*chip_name)(void *);
    const char *(*chip_label)(void *);
    unsigned int (*chip_num_lines)(void *);
    void *(*chip_get_line)(void *, unsigned int);
    int (*line_request_output_flags)(void *, const char *, int, int);
    int (*line_set_value)(void *, int);
    int (*line_request_both_edges_events_flags)(void *, const char *, int);
    int (*line_event_wait)(void *, const struct timespec *);
    int (*line_event_read)(void *, struct v1_line_event *);
    void (*line_release)(void *);
    const char *(*version_string)(void);
};

struct v2_api {
    void *(*chip_open)(const char *);
    void (*chip_close)(void *);
    void *(*chip_get_info)(void *);
    void (*chip_info_free)(void *);
    const char *(*chip_info_get_name)(void *);
    const char *(*chip_info_get_label)(void *);
    size_t (*chip_info_get_num_lines)(void *);
    void *(*line_settings_new)(void);
    void (*line_settings_free)(void *);
    int (*line_settings_set_direction)(void *, int);
    int (*line_settings_set_edge_detection)(void *, int);
    int (*line_settings_set_bias)(void *, int);
    void (*line_settings_set_active_low)(void *, bool);
    int (*line_settings_set_output_value)(void *, int);
    void *(*line_config_new)(void);
    void (*line_config_free)(void *);
    int (*line_config_add_line_settings)(void *, const unsigned int *, size_t, void *);
    void *(*request_config_new)(void);
    void (*request_config_free)(void *);
    void (*request_config_set_consumer)(void *, const char *);
    void *(*chip_request_lines)(void *, void *, void *);
    void (*line_request_release)(void *);
    int (*line_request_set_value)(void *, unsigned int, int);
    int (*line_request_wait_edge_events)(void *, int64_t);
    int (*line_request_read_edge_events)(void *, void *, size_t);
    void *(*edge_event_buffer_new)(size_t);
    void (*edge_event_buffer_free)(void *);
    void *(*edge_event_buffer_get_event)(void *, unsigned long);
    int (*edge_event_get_event_type)(void *);
    uint64_t (*edge_event_get_timestamp_ns)(void *);
    const char *(*api_version)(void);
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int api;  // 0 none, 1 or 2
static bool tried;
static struct v1_api v1;
static struct v2_api v2;
static char load_error[512];

#define RESOLVE(table, field, prefix)                                                        \
    do {                                                                                     \
        *(void **)&table.field = lookup(prefix #field);                                      \
        if (table.field == NULL) {                                                           \
            snprintf(load_error, sizeof load_error, "%s has no %s%s", origin, prefix, #field); \
            return 0;                                                                        \
        }                                                                                    \
    } while (0)

static int resolve_v1(void *(*lookup)(const char *), const char *origin) {
    RESOLVE(v1, chip_open_lookup, "gpiod_");
    RESOLVE(v1, chip_close, "gpiod_");
    RESOLVE(v1, chip_name, "gpiod_");
    RESOLVE(v1, chip_label, "gpiod_");
    RESOLVE(v1, chip_num_lines, "gpiod_");
    RESOLVE(v1, chip_get_line, "gpiod_");
    RESOLVE(v1, line_request_output_flags, "gpiod_");
    RESOLVE(v1, line_set_value, "gpiod_");
    RESOLVE(v1, line_request_both_edges_events_flags, "gpiod_");
    RESOLVE(v1, line_event_wait, "gpiod_");
    RESOLVE(v1, line_event_read, "gpiod_");
    RESOLVE(v1, line_release, "gpiod_");
    RESOLVE(v1, version_string, "gpiod_");
    return 1;
}

static int resolve_v2(void *(*lookup)(const char *), const char *origin) {
    RESOLVE(v2, chip_open, "gpiod_");
    RESOLVE(v2, chip_close, "gpiod_");
    RESOLVE(v2, chip_get_info, "gpiod_");
    RESOLVE(v2, chip_info_free, "gpiod_");
    RESOLVE(v2, chip_info_get_name, "gpiod_");
    RESOLVE(v2, chip_info_get_label, "gpiod_");
    RESOLVE(v2, chip_info_get_num_lines, "gpiod_");
    RESOLVE(v2, line_settings_new, "gpiod_");
    RESOLVE(v2, line_settings_free, "gpiod_");
    RESOLVE(v2, line_settings_set_direction, "gpiod_");
    RESOLVE(v2, line_settings_set_edge_detection, "gpiod_");
    RESOLVE(v2, line_settings_set_bias, "gpiod_");
    RESOLVE(v2, line_settings_set_active_low, "gpiod_");
    RESOLVE(v2, line_settings_set_output_value, "gpiod_");
    RESOLVE(v2, line_config_new, "gpiod_");
    RESOLVE(v2, line_config_free, "gpiod_");
    RESOLVE(v2, line_config_add_line_settings, "gpiod_");
    RESOLVE(v2, request_config_new, "gpiod_");
    RESOLVE(v2, request_config_free, "gpiod_");
    RESOLVE(v2, request_config_set_consumer, "gpiod_");
    RESOLVE(v2, chip_request_lines, "gpiod_");
    RESOLVE(v2, line_request_release, "gpiod_");
    RESOLVE(v2, line_request_set_value, "gpiod_");
    RESOLVE(v2, line_request_wait_edge_events, "gpiod_");
    RESOLVE(v2, line_request_read_edge_events, "gpiod_");
    RESOLVE(v2, edge_event_buffer_new, "gpiod_");
    RESOLVE(v2, edge_event_buffer_free, "gpiod_");
    RESOLVE(v2, edge_event_buffer_get_event, "gpiod_");
    RESOLVE(v2, edge_event_get_event_type, "gpiod_");
    RESOLVE(v2, edge_event_get_timestamp_ns, "gpiod_");
    RESOLVE(v2, api_version, "gpiod_");
    return 1;
}

// 2.x has gpiod_api_version, 1.6 gpiod_version_string; then every function of that API.
static int resolve(void *(*lookup)(const char *), const char *origin) {
    if (lookup("gpiod_api_version")) return resolve_v2(lookup, origin) ? 2 : 0;
    if (lookup("gpiod_version_string")) return resolve_v1(lookup, origin) ? 1 : 0;
    snprintf(load_error, sizeof load_error, "%s is neither libgpiod 1.6 nor 2.x", origin);
    return 0;
}

static void *dl_handle;
static void *dl_lookup(const char *name) { return dlsym(dl_handle, name); }

int cgpiod_load_with(void *(*lookup)(const char *name), const char *origin) {
    pthread_mutex_lock(&load_lock);
    if (dl_handle) dlclose(dl_handle);
    dl_handle = NULL;
    load_error[0] = '\0';
    api = 0;
    tried = lookup != NULL;
    if (lookup) api = resolve(lookup, origin ? origin : "the given functions");
    int result = api;
    pthread_mutex_unlock(&load_lock);
    return result;
}

int cgpiod_load(void) {
    pthread_mutex_lock(&load_lock);
    if (!tried) {
        tried = true;
        const char *forced = getenv("GEMMA_EDGE_LIBGPIOD");
        const char *candidates[] = { "libgpiod.so.3", "libgpiod.so.2" };
        const char **names = candidates;
        size_t count = 2;
        if (forced && forced[0]) { names = &forced; count = 1; }
        char tried_names[256] = "";
        for (size_t i = 0; i < count && api == 0; i++) {
            dl_handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
            if (dl_handle == NULL) {
                size_t used = strlen(tried_names);
                snprintf(tried_names + used, sizeof tried_names - used, "%s%s", used ? ", " : "", names[i]);
                continue;
            }
            api = resolve(dl_lookup, names[i]);
            if (api == 0) { dlclose(dl_handle); dl_handle = NULL; }
        }
        if (api == 0 && load_error[0] == '\0') {
            snprintf(load_error, sizeof load_error,
                     "libgpiod is not installed (tried %s; install libgpiod3 on Debian 13 / Raspberry Pi OS "
                     "trixie or libgpiod2 on Debian 12)", tried_names);
        }
    }
    int result = api;
    pthread_mutex_unlock(&load_lock);
    return result;
}

const char *cgpiod_load_error(void) { return load_error; }

const char *cgpiod_version(void) {
    if (api == 1) return v1.version_string();
    if (api == 2) return v2.api_version();
    return "";
}

// --- Chips ----------------------------------------------------------------------------------
struct cgpiod_chip {
    int api;
    void *chip;
    char name[64];
    char label[64];
    unsigned int lines;
};

struct cgpiod_line {
    int api;
    void *handle;        // 1.6: struct gpiod_line; 2.x: struct gpiod_line_request
    void *events;        // 2.x: an edge event buffer of one
    unsigned int offset;
};

static void copy(char *dst, size_t size, const char *src) { snprintf(dst, size, "%s", src ? src : ""); }

static bool all_digits(const char *s) {
    for (; *s; s++) if (!isdigit((unsigned char)*s)) return false;
    return true;
}

// 2.x opens by path only: "gpiochipN" and "N" name /dev/gpiochipN; anything else is a label,
// looked up over the chips in /dev (1.6's gpiod_chip_open_lookup did the same).
static void *v2_open_lookup(const char *description) {
    char path[300];
    if (description[0] == '/') return v2.chip_open(description);
    if (all_digits(description)) {
        snprintf(path, sizeof path, "/dev/gpiochip%s", description);
        return v2.chip_open(path);
    }
    if (strncmp(description, "gpiochip", 8) == 0) {
        snprintf(path, sizeof path, "/dev/%s", description);
        void *chip = v2.chip_open(path);
        if (chip || errno != ENOENT) return chip;
    }
    DIR *dev = opendir("/dev");
    if (dev == NULL) return NULL;
    struct dirent *entry;
    void *found = NULL;
    while (found == NULL && (entry = readdir(dev)) != NULL) {
        if (strncmp(entry->d_name, "gpiochip", 8) != 0) continue;
        snprintf(path, sizeof path, "/dev/%s", entry->d_name);
        void *chip = v2.chip_open(path);
        if (chip == NULL) continue;
        void *info = v2.chip_get_info(chip);
        if (info && strcmp(v2.chip_info_get_label(info) ? v2.chip_info_get_label(info) : "", description) == 0) found = chip;
        if (info) v2.chip_info_free(info);
        if (found == NULL) v2.chip_close(chip);
    }
    closedir(dev);
    if (found == NULL) errno = ENOENT;
    return found;
}

struct cgpiod_chip *cgpiod_chip_open(const char *description) {
    if (description == NULL || description[0] == '\0') {
        errno = EINVAL;
        return NULL;
    }
    if (cgpiod_load() == 0) {
        errno = ENOSYS;
        return NULL;
    }
    struct cgpiod_chip *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->api = api;
    if (api == 1) {
        c->chip = v1.chip_open_lookup(description);
        if (c->chip) {
            copy(c->name, sizeof c->name, v1.chip_name(c->chip));
            copy(c->label, sizeof c->label, v1.chip_label(c->chip));
            c->lines = v1.chip_num_lines(c->chip);
        }
    } else {
        c->chip = v2_open_lookup(description);
        if (c->chip) {
            void *info = v2.chip_get_info(c->chip);
            if (info == NULL) {
                int e = errno;
                v2.chip_close(c->chip);
                free(c);
                errno = e;
                return NULL;
            }
            copy(c->name, sizeof c->name, v2.chip_info_get_name(info));
            copy(c->label, sizeof c->label, v2.chip_info_get_label(info));
            c->lines = (unsigned int)v2.chip_info_get_num_lines(info);
            v2.chip_info_free(info);
        }
    }
    if (c->chip == NULL) {
        int e = errno;
        free(c);
        errno = e ? e : ENOENT;
        return NULL;
    }
    return c;
}

void cgpiod_chip_close(struct cgpiod_chip *chip) {
    if (chip == NULL) return;
    if (chip->api == 1) v1.chip_close(chip->chip); else v2.chip_close(chip->chip);
    free(chip);
}

const char *cgpiod_chip_name(struct cgpiod_chip *chip) { return chip->name; }
const char *cgpiod_chip_label(struct cgpiod_chip *chip) { return chip->label; }
unsigned int cgpiod_chip_num_lines(struct cgpiod_chip *chip) { return chip->lines; }

// --- Lines ----------------------------------------------------------------------------------
static struct cgpiod_line *new_line(struct cgpiod_chip *chip, unsigned int offset) {
    if (offset >= chip->lines) {
        errno = EINVAL;
        return NULL;
    }
    struct cgpiod_line *l = calloc(1, sizeof *l);
    if (l) {
        l->api = chip->api;
        l->offset = offset;
    }
    return l;
}

static struct cgpiod_line *fail_line(struct cgpiod_line *l) {
    int e = errno;
    free(l);
    errno = e;
    return NULL;
}

// 2.x: one line with the given settings, requested as `consumer`.
static void *v2_request(struct cgpiod_chip *chip, unsigned int offset, const char *consumer, void *settings) {
    void *request = NULL;
    void *config = v2.line_config_new();
    void *rc = v2.request_config_new();
    if (config && rc && v2.line_config_add_line_settings(config, &offset, 1, settings) == 0) {
        v2.request_config_set_consumer(rc, consumer);
        request = v2.chip_request_lines(chip->chip, rc, config);
    } else if (errno == 0) {
        errno = ENOMEM;
    }
    int e = errno;
    if (rc) v2.request_config_free(rc);
    if (config) v2.line_config_free(config);
    v2.line_settings_free(settings);
    errno = e;
    return request;
}

struct cgpiod_line *cgpiod_request_output(struct cgpiod_chip *chip, unsigned int offset, const char *consumer,
                                          int active_low, int initial_value) {
    struct cgpiod_line *l = new_line(chip, offset);
    if (l == NULL) return NULL;
    if (chip->api == 1) {
        l->handle = v1.chip_get_line(chip->chip, offset);
        if (l->handle == NULL) return fail_line(l);
        int flags = active_low ? V1_FLAG_ACTIVE_LOW : 0;
        if (v1.line_request_output_flags(l->handle, consumer, flags, initial_value ? 1 : 0) != 0) return fail_line(l);
        return l;
    }
    void *settings = v2.line_settings_new();
    if (settings == NULL) return fail_line(l);
    v2.line_settings_set_direction(settings, V2_DIRECTION_OUTPUT);
    v2.line_settings_set_active_low(settings, active_low != 0);
    v2.line_settings_set_output_value(settings, initial_value ? V2_VALUE_ACTIVE : V2_VALUE_INACTIVE);
    l->handle = v2_request(chip, offset, consumer, settings);
    return l->handle ? l : fail_line(l);
}

int cgpiod_set_value(struct cgpiod_line *line, int value) {
    if (line->api == 1) return line->handle ? v1.line_set_value(line->handle, value ? 1 : 0) : -1;
    return v2.line_request_set_value(line->handle, line->offset, value ? V2_VALUE_ACTIVE : V2_VALUE_INACTIVE);
}

struct cgpiod_line *cgpiod_request_edges(struct cgpiod_chip *chip, unsigned int offset, const char *consumer, int bias) {
    struct cgpiod_line *l = new_line(chip, offset);
    if (l == NULL) return NULL;
    if (chip->api == 1) {
        l->handle = v1.chip_get_line(chip->chip, offset);
        if (l->handle == NULL) return fail_line(l);
        int flags = 0;
        switch (bias) {
        case CGPIOD_BIAS_PULL_UP: flags = V1_FLAG_BIAS_PULL_UP; break;
        case CGPIOD_BIAS_PULL_DOWN: flags = V1_FLAG_BIAS_PULL_DOWN; break;
        case CGPIOD_BIAS_DISABLE: flags = V1_FLAG_BIAS_DISABLE; break;
        default: break;
        }
        if (v1.line_request_both_edges_events_flags(l->handle, consumer, flags) != 0) return fail_line(l);
        return l;
    }
    l->events = v2.edge_event_buffer_new(1);
    void *settings = l->events ? v2.line_settings_new() : NULL;
    if (settings == NULL) {
        if (l->events) v2.edge_event_buffer_free(l->events);
        return fail_line(l);
    }
    int v2bias = V2_BIAS_AS_IS;
    switch (bias) {
    case CGPIOD_BIAS_PULL_UP: v2bias = V2_BIAS_PULL_UP; break;
    case CGPIOD_BIAS_PULL_DOWN: v2bias = V2_BIAS_PULL_DOWN; break;
    case CGPIOD_BIAS_DISABLE: v2bias = V2_BIAS_DISABLED; break;
    default: break;
    }
    v2.line_settings_set_direction(settings, V2_DIRECTION_INPUT);
    v2.line_settings_set_edge_detection(settings, V2_EDGE_BOTH);
    v2.line_settings_set_bias(settings, v2bias);
    l->handle = v2_request(chip, offset, consumer, settings);
    if (l->handle == NULL) {
        int e = errno;
        v2.edge_event_buffer_free(l->events);
        errno = e;
        return fail_line(l);
    }
    return l;
}

int cgpiod_wait_edge(struct cgpiod_line *line, int64_t timeout_ns, int64_t *timestamp_ns, int *rising) {
    if (timeout_ns < 0) timeout_ns = 0;
    if (line->api == 1) {
        struct timespec timeout = { .tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000 };
        int rc = v1.line_event_wait(line->handle, &timeout);
        if (rc <= 0) return rc;
        struct v1_line_event event;
        if (v1.line_event_read(line->handle, &event) != 0) return -1;
        *timestamp_ns = (int64_t)event.ts.tv_sec * 1000000000 + event.ts.tv_nsec;
        *rising = event.event_type == V1_EVENT_RISING_EDGE;
        return 1;
    }
    int rc = v2.line_request_wait_edge_events(line->handle, timeout_ns);
    if (rc <= 0) return rc;
    int n = v2.line_request_read_edge_events(line->handle, line->events, 1);
    if (n < 0) return -1;
    if (n == 0) return 0;
    void *event = v2.edge_event_buffer_get_event(line->events, 0);
    if (event == NULL) return -1;
    *timestamp_ns = (int64_t)v2.edge_event_get_timestamp_ns(event);
    *rising = v2.edge_event_get_event_type(event) == V2_EVENT_RISING_EDGE;
    return 1;
}

void cgpiod_line_release(struct cgpiod_line *line) {
    if (line == NULL) return;
    if (line->api == 1) {
        v1.line_release(line->handle);
    } else {
        v2.line_request_release(line->handle);
        if (line->events) v2.edge_event_buffer_free(line->events);
    }
    free(line);
}
