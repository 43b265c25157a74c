// See include/CFakeGPIOD.h. Signatures follow libgpiod 1.6.3 and 2.2 (gpiod.h of each).
#include "CFakeGPIOD.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LINES = 8, QUEUE = 16 };
struct fake_line {
    int requested, value, active_low, bias, direction;
    char consumer[32];
    int64_t ts[QUEUE];
    int rising[QUEUE];
    int head, count;
};
static struct fake_line lines[LINES];
static int live;
static int chip_marker;

void cfake_gpiod_reset(void) { memset(lines, 0, sizeof lines); }
int cfake_gpiod_requested(unsigned int o) { return o < LINES ? lines[o].requested : -1; }
int cfake_gpiod_value(unsigned int o) { return o < LINES ? lines[o].value : -1; }
int cfake_gpiod_active_low(unsigned int o) { return o < LINES ? lines[o].active_low : -1; }
int cfake_gpiod_bias(unsigned int o) { return o < LINES ? lines[o].bias : -1; }
int cfake_gpiod_direction(unsigned int o) { return o < LINES ? lines[o].direction : -1; }
const char *cfake_gpiod_consumer(unsigned int o) { return o < LINES ? lines[o].consumer : ""; }
int cfake_gpiod_live_objects(void) { return live; }

void cfake_gpiod_push_edge(unsigned int o, int64_t ts, int rising) {
    if (o >= LINES || lines[o].count == QUEUE) return;
    struct fake_line *l = &lines[o];
    int i = (l->head + l->count++) % QUEUE;
    l->ts[i] = ts;
    l->rising[i] = rising;
}

static bool pop(unsigned int o, int64_t *ts, int *rising) {
    struct fake_line *l = &lines[o];
    if (l->count == 0) return false;
    *ts = l->ts[l->head];
    *rising = l->rising[l->head];
    l->head = (l->head + 1) % QUEUE;
    l->count--;
    return true;
}

static int claim(unsigned int o, const char *consumer, int direction) {
    if (o >= LINES) { errno = EINVAL; return -1; }
    if (lines[o].requested) { errno = EBUSY; return -1; }
    lines[o].requested = 1;
    lines[o].direction = direction;
    strncpy(lines[o].consumer, consumer ? consumer : "", sizeof lines[o].consumer - 1);
    return 0;
}

static bool is_chip0(const char *s) {
    return strcmp(s, "/dev/gpiochip0") == 0 || strcmp(s, "gpiochip0") == 0 || strcmp(s, "0") == 0
        || strcmp(s, "fake-pinctrl") == 0;
}

// --- 1.6 ------------------------------------------------------------------------------------
struct v1_line { unsigned int offset; };
static struct v1_line v1_lines[LINES];
struct v1_event { struct timespec ts; int event_type; };

static void *v1_chip_open_lookup(const char *d) {
    if (!is_chip0(d)) { errno = ENOENT; return NULL; }
    live++;
    return &chip_marker;
}
static void v1_chip_close(void *c) { (void)c; live--; }
static const char *v1_chip_name(void *c) { (void)c; return "gpiochip0"; }
static const char *v1_chip_label(void *c) { (void)c; return "fake-pinctrl"; }
static unsigned int v1_chip_num_lines(void *c) { (void)c; return LINES; }
static void *v1_chip_get_line(void *c, unsigned int o) {
    (void)c;
    if (o >= LINES) { errno = EINVAL; return NULL; }
    v1_lines[o].offset = o;
    return &v1_lines[o];
}
static int v1_line_request_output_flags(void *l, const char *consumer, int flags, int value) {
    unsigned int o = ((struct v1_line *)l)->offset;
    if (claim(o, consumer, 1) != 0) return -1;
    lines[o].active_low = (flags & (1 << 2)) != 0;
    lines[o].value = value;
    return 0;
}
static int v1_line_set_value(void *l, int value) { lines[((struct v1_line *)l)->offset].value = value; return 0; }
static int v1_line_request_both_edges_events_flags(void *l, const char *consumer, int flags) {
    unsigned int o = ((struct v1_line *)l)->offset;
    if (claim(o, consumer, 2) != 0) return -1;
    lines[o].bias = flags & ((1 << 3) | (1 << 4) | (1 << 5));
    return 0;
}
static int v1_line_event_wait(void *l, const struct timespec *t) {
    (void)t;
    return lines[((struct v1_line *)l)->offset].count > 0 ? 1 : 0;
}
static int v1_line_event_read(void *l, struct v1_event *e) {
    int64_t ts; int rising;
    if (!pop(((struct v1_line *)l)->offset, &ts, &rising)) { errno = EAGAIN; return -1; }
    e->ts.tv_sec = ts / 1000000000;
    e->ts.tv_nsec = ts % 1000000000;
    e->event_type = rising ? 1 : 2;
    return 0;
}
static void v1_line_release(void *l) { lines[((struct v1_line *)l)->offset].requested = 0; }
static const char *v1_version_string(void) { return "1.6.3-fake"; }

// --- 2.x ------------------------------------------------------------------------------------
struct v2_settings { int direction, edge, bias, active_low, value; };
struct v2_config { unsigned int offset; int has; struct v2_settings s; };
struct v2_reqcfg { char consumer[32]; };
struct v2_request { unsigned int offset; };
struct v2_event { int type; uint64_t ts; };
struct v2_buffer { struct v2_event event; };

static void *track(size_t n) { void *p = calloc(1, n); if (p) live++; return p; }
static void untrack(void *p) { if (p) { free(p); live--; } }

static void *v2_chip_open(const char *path) {
    if (strcmp(path, "/dev/gpiochip0") != 0) { errno = ENOENT; return NULL; }
    live++;
    return &chip_marker;
}
static void v2_chip_close(void *c) { (void)c; live--; }
static int info_marker;
static void *v2_chip_get_info(void *c) { (void)c; live++; return &info_marker; }
static void v2_chip_info_free(void *i) { (void)i; live--; }
static const char *v2_chip_info_get_name(void *i) { (void)i; return "gpiochip0"; }
static const char *v2_chip_info_get_label(void *i) { (void)i; return "fake-pinctrl"; }
static size_t v2_chip_info_get_num_lines(void *i) { (void)i; return LINES; }
static void *v2_line_settings_new(void) {
    struct v2_settings *s = track(sizeof *s);
    if (s) { s->direction = 1; s->edge = 1; s->bias = 1; }
    return s;
}
static void v2_line_settings_free(void *s) { untrack(s); }
static int v2_line_settings_set_direction(void *s, int d) { ((struct v2_settings *)s)->direction = d; return 0; }
static int v2_line_settings_set_edge_detection(void *s, int e) { ((struct v2_settings *)s)->edge = e; return 0; }
static int v2_line_settings_set_bias(void *s, int b) { ((struct v2_settings *)s)->bias = b; return 0; }
static void v2_line_settings_set_active_low(void *s, bool a) { ((struct v2_settings *)s)->active_low = a; }
static int v2_line_settings_set_output_value(void *s, int v) { ((struct v2_settings *)s)->value = v; return 0; }
static void *v2_line_config_new(void) { return track(sizeof(struct v2_config)); }
static void v2_line_config_free(void *c) { untrack(c); }
static int v2_line_config_add_line_settings(void *c, const unsigned int *offsets, size_t n, void *s) {
    struct v2_config *cfg = c;
    if (n != 1) { errno = EINVAL; return -1; }
    cfg->offset = offsets[0];
    cfg->s = *(struct v2_settings *)s;
    cfg->has = 1;
    return 0;
}
static void *v2_request_config_new(void) { return track(sizeof(struct v2_reqcfg)); }
static void v2_request_config_free(void *r) { untrack(r); }
static void v2_request_config_set_consumer(void *r, const char *c) {
    strncpy(((struct v2_reqcfg *)r)->consumer, c ? c : "", sizeof((struct v2_reqcfg *)r)->consumer - 1);
}
static void *v2_chip_request_lines(void *chip, void *rc, void *c) {
    (void)chip;
    struct v2_config *cfg = c;
    if (!cfg->has) { errno = EINVAL; return NULL; }
    unsigned int o = cfg->offset;
    // 2.x directions: 2 input, 3 output; the fake records 1 output, 2 edges as for 1.6.
    if (claim(o, rc ? ((struct v2_reqcfg *)rc)->consumer : "", cfg->s.direction == 3 ? 1 : 2) != 0) return NULL;
    lines[o].active_low = cfg->s.active_low;
    lines[o].value = cfg->s.value;
    lines[o].bias = cfg->s.edge == 4 ? cfg->s.bias : 0;
    if (cfg->s.direction == 2 && cfg->s.edge != 4) lines[o].direction = 0;  // input without edges: a bug
    struct v2_request *r = track(sizeof *r);
    if (r) r->offset = o;
    return r;
}
static void v2_line_request_release(void *r) {
    lines[((struct v2_request *)r)->offset].requested = 0;
    untrack(r);
}
static int v2_line_request_set_value(void *r, unsigned int o, int v) {
    if (o != ((struct v2_request *)r)->offset) { errno = EINVAL; return -1; }
    lines[o].value = v;
    return 0;
}
static int v2_line_request_wait_edge_events(void *r, int64_t t) {
    (void)t;
    return lines[((struct v2_request *)r)->offset].count > 0 ? 1 : 0;
}
static int v2_line_request_read_edge_events(void *r, void *b, size_t max) {
    int64_t ts; int rising;
    if (max < 1) return 0;
    if (!pop(((struct v2_request *)r)->offset, &ts, &rising)) return 0;
    ((struct v2_buffer *)b)->event.type = rising ? 1 : 2;
    ((struct v2_buffer *)b)->event.ts = (uint64_t)ts;
    return 1;
}
static void *v2_edge_event_buffer_new(size_t n) { (void)n; return track(sizeof(struct v2_buffer)); }
static void v2_edge_event_buffer_free(void *b) { untrack(b); }
static void *v2_edge_event_buffer_get_event(void *b, unsigned long i) { return i == 0 ? &((struct v2_buffer *)b)->event : NULL; }
static int v2_edge_event_get_event_type(void *e) { return ((struct v2_event *)e)->type; }
static uint64_t v2_edge_event_get_timestamp_ns(void *e) { return ((struct v2_event *)e)->ts; }
static const char *v2_api_version(void) { return "2.2.1-fake"; }

struct entry { const char *name; void *fn; };
#define E(prefix, name) { "gpiod_" #name, (void *)prefix##_##name }
static const struct entry v1_table[] = {
    E(v1, chip_open_lookup), E(v1, chip_close), E(v1, chip_name), E(v1, chip_label), E(v1, chip_num_lines),
    E(v1, chip_get_line), E(v1, line_request_output_flags), E(v1, line_set_value),
    E(v1, line_request_both_edges_events_flags), E(v1, line_event_wait), E(v1, line_event_read),
    E(v1, line_release), E(v1, version_string),
};
static const struct entry v2_table[] = {
    E(v2, chip_open), E(v2, chip_close), E(v2, chip_get_info), E(v2, chip_info_free), E(v2, chip_info_get_name),
    E(v2, chip_info_get_label), E(v2, chip_info_get_num_lines), E(v2, line_settings_new), E(v2, line_settings_free),
    E(v2, line_settings_set_direction), E(v2, line_settings_set_edge_detection), E(v2, line_settings_set_bias),
    E(v2, line_settings_set_active_low), E(v2, line_settings_set_output_value), E(v2, line_config_new),
    E(v2, line_config_free), E(v2, line_config_add_line_settings), E(v2, request_config_new),
    E(v2, request_config_free), E(v2, request_config_set_consumer), E(v2, chip_request_lines),
    E(v2, line_request_release), E(v2, line_request_set_value), E(v2, line_request_wait_edge_events),
    E(v2, line_request_read_edge_events), E(v2, edge_event_buffer_new), E(v2, edge_event_buffer_free),
    E(v2, edge_event_buffer_get_event), E(v2, edge_event_get_event_type), E(v2, edge_event_get_timestamp_ns),
    E(v2, api_version),
};

static void *find(const struct entry *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) if (strcmp(t[i].name, name) == 0) return t[i].fn;
    return NULL;
}
void *cfake_gpiod_lookup_v1(const char *name) { return find(v1_table, sizeof v1_table / sizeof *v1_table, name); }
void *cfake_gpiod_lookup_v2(const char *name) { return find(v2_table, sizeof v2_table / sizeof *v2_table, name); }
