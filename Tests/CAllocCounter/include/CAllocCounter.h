// Counts heap allocations of the whole process while enabled, by interposing malloc and its
// relatives (the test binary's definitions take precedence over libc's). Test-only.
#ifndef CALLOC_COUNTER_H
#define CALLOC_COUNTER_H
#ifdef __cplusplus
extern "C" {
#endif
void alloc_counter_start(void);
// Stops counting and returns how many allocations happened since start.
long alloc_counter_stop(void);
#ifdef __cplusplus
}
#endif
#endif
