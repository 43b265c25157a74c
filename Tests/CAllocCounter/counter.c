#define _GNU_SOURCE
#include "CAllocCounter.h"
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic int counting;
static _Atomic long allocations;

static _Thread_local int in_trace;
static int trace = -1;

// With ALLOC_COUNTER_TRACE set, prints a backtrace of every counted allocation to stderr, to find
// where a hot path allocates.
static void note(void) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed) || in_trace) return;
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    if (trace < 0) trace = getenv("ALLOC_COUNTER_TRACE") != NULL;
    if (trace) {
        in_trace = 1;
        void *frames[24];
        int n = backtrace(frames, 24);
        write(2, "--- allocation\n", 15);
        backtrace_symbols_fd(frames, n, 2);
        in_trace = 0;
    }
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { note(); return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    note();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void alloc_counter_start(void) {
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
}

long alloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}
