// Persistent worker pool: see include/CKThreadPool.h.
//
// A region is published as one 64-bit word, (generation, task count, next task index), so a
// worker claims a task with a single compare-and-swap that also proves the task belongs to the
// region it read `fn` and `ctx` for. The caller waits for the region's tasks to be *done*, not for
// every worker to show up: on a board where another process holds a core, a worker that is not
// running simply takes no task, instead of costing the caller a scheduler time slice per region.
#define _GNU_SOURCE
#include "CKThreadPool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define CK_PAUSE() __asm__ __volatile__("yield")
#else
#define CK_PAUSE() ((void)0)
#endif

// Spins before parking: long enough to cover the gap between two regions of one step.
enum { CK_SPIN_ITERATIONS = 20000 };

// The region word: generation in the top 24 bits, task count and next index in 20 bits each.
#define CK_INDEX_BITS 20
#define CK_INDEX_MASK ((1ull << CK_INDEX_BITS) - 1)
#define CK_COUNT_SHIFT CK_INDEX_BITS
#define CK_GEN_SHIFT (2 * CK_INDEX_BITS)

static inline unsigned word_index(uint64_t w) { return (unsigned)(w & CK_INDEX_MASK); }
static inline unsigned word_count(uint64_t w) { return (unsigned)((w >> CK_COUNT_SHIFT) & CK_INDEX_MASK); }

struct ck_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done_cond;
    _Atomic uint64_t region;      // (generation, count, next index)
    _Atomic unsigned done;        // tasks of the current region finished
    _Atomic int stop;
    _Atomic int sleepers;         // workers parked on `wake`
    uint64_t generation;          // the caller's copy
    ck_task_fn fn;
    void *ctx;
};

typedef struct {
    ck_pool *pool;
    int cpu;
    int thread;  // this worker's index, 1 ..< threads
} ck_worker_arg;

// Claims and runs tasks of the published region until none is left. Returns whether it ran any.
static int run_tasks(ck_pool *p, int thread) {
    int ran = 0;
    uint64_t w = atomic_load_explicit(&p->region, memory_order_acquire);
    for (;;) {
        unsigned count = word_count(w);
        if (word_index(w) >= count) return ran;
        if (!atomic_compare_exchange_weak_explicit(&p->region, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;  // `w` now holds the current word
        // The claimed index belongs to the region whose fn and ctx were written before its word
        // was published, and the caller cannot publish another until this task is done.
        p->fn(p->ctx, (int)word_index(w), thread);
        ran = 1;
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == count) {
            pthread_mutex_lock(&p->mutex);
            pthread_cond_signal(&p->done_cond);
            pthread_mutex_unlock(&p->mutex);
        }
        w = atomic_load_explicit(&p->region, memory_order_acquire);
    }
}

static int has_work(ck_pool *p) {
    uint64_t w = atomic_load_explicit(&p->region, memory_order_acquire);
    return word_index(w) < word_count(w);
}

// The parking check: sequentially consistent, so that either the caller sees this worker in
// `sleepers` or this worker sees the caller's new region (a plain acquire load may be reordered
// before the preceding increment on ARM).
static int has_work_sc(ck_pool *p) {
    uint64_t w = atomic_load(&p->region);
    return word_index(w) < word_count(w);
}

static void *worker_main(void *arg) {
    ck_worker_arg a = *(ck_worker_arg *)arg;
    free(arg);
    ck_pool *p = a.pool;
#if defined(__linux__)
    if (a.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(a.cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
#endif
    for (;;) {
        int spins = 0;
        while (!has_work(p)) {
            if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
            if (++spins < CK_SPIN_ITERATIONS) {
                CK_PAUSE();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (!has_work_sc(p) && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
            spins = 0;
        }
        run_tasks(p, a.thread);
    }
}

ck_pool *ck_pool_create(int threads, const int *cpus) {
    if (threads < 1) threads = 1;
    ck_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done_cond, NULL);
    p->workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!p->workers) { free(p); return NULL; }
    for (int i = 1; i < threads; i++) {
        ck_worker_arg *a = malloc(sizeof *a);
        if (!a) { p->threads = i; ck_pool_destroy(p); return NULL; }
        a->pool = p;
        a->cpu = cpus ? cpus[i] : -1;
        a->thread = i;
        if (pthread_create(&p->workers[i], NULL, worker_main, a) != 0) {
            free(a);
            p->threads = i;
            ck_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

int ck_pool_threads(const ck_pool *p) { return p->threads; }

void ck_pool_run(ck_pool *p, ck_task_fn fn, void *ctx, int count) {
    if (count <= 0) return;
    if (p->threads == 1 || count == 1 || (uint64_t)count > CK_INDEX_MASK) {
        for (int i = 0; i < count; i++) fn(ctx, i, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    p->generation++;
    uint64_t w = (p->generation << CK_GEN_SHIFT) | ((uint64_t)count << CK_COUNT_SHIFT);
    atomic_store(&p->region, w);  // seq_cst: publishes fn, ctx and done, ordered before the sleepers check
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    run_tasks(p, 0);
    // Tasks other threads claimed may still be running: spin, then park.
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < (unsigned)count) {
        if (++spins < CK_SPIN_ITERATIONS) { CK_PAUSE(); continue; }
        pthread_mutex_lock(&p->mutex);
        while (atomic_load(&p->done) < (unsigned)count) pthread_cond_wait(&p->done_cond, &p->mutex);
        pthread_mutex_unlock(&p->mutex);
    }
}

void ck_pool_destroy(ck_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mutex);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->threads; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done_cond);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}
