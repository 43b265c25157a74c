// Persistent worker pool: see include/CKThreadPool.h.
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

struct ck_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done_cond;
    _Atomic uint64_t generation;  // bumped once per region
    _Atomic int next_task;        // next task index to hand out
    _Atomic int pending;          // workers still inside the current region
    _Atomic int stop;
    _Atomic int sleepers;         // workers parked on `wake`
    ck_task_fn fn;
    void *ctx;
    int count;
};

typedef struct {
    ck_pool *pool;
    int cpu;
} ck_worker_arg;

static void run_tasks(ck_pool *p) {
    for (;;) {
        int i = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_relaxed);
        if (i >= p->count) break;
        p->fn(p->ctx, i, p->count);
    }
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
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
            if (++spins < CK_SPIN_ITERATIONS) {
                CK_PAUSE();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
            spins = 0;
        }
        seen = g;
        run_tasks(p);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mutex);
            pthread_cond_signal(&p->done_cond);
            pthread_mutex_unlock(&p->mutex);
        }
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
    if (p->threads == 1 || count == 1) {
        for (int i = 0; i < count; i++) fn(ctx, i, count);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->count = count;
    atomic_store_explicit(&p->next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1);  // seq_cst: ordered before the sleepers check
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    run_tasks(p);
    // Wait for the workers to leave the region: spin, then park.
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < CK_SPIN_ITERATIONS) { CK_PAUSE(); continue; }
        pthread_mutex_lock(&p->mutex);
        while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done_cond, &p->mutex);
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
