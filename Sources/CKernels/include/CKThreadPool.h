// A pool of persistent worker threads for the parallel regions of a forward pass.
//
// A decode step has over a hundred short parallel regions, so waking workers must cost far less
// than a thread start or a Dispatch hop: workers spin briefly on an atomic generation counter and
// only then park on a condition variable. ck_pool_run allocates nothing.
#ifndef CK_THREAD_POOL_H
#define CK_THREAD_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_pool ck_pool;

// The work of one region: task `index`, run on the thread numbered `thread` (0 is the caller of
// ck_pool_run, workers are 1 ..< threads), so a task can use per-thread scratch. `ctx` is the caller's.
typedef void (*ck_task_fn)(void *ctx, int index, int thread);

// Creates a pool that runs regions on `threads` threads in total (the caller's thread included,
// so threads - 1 workers are started). Optional `cpus` (length threads) pins thread i to cpu[i]
// (worker i+1 gets cpus[i+1]; the caller is not moved); pass NULL for no pinning.
// Returns NULL when a thread cannot be started.
ck_pool *ck_pool_create(int threads, const int *cpus);

// Runs fn(ctx, i, thread) for i in [0, count) across the pool and returns when all are done.
// Tasks are handed out dynamically; count may exceed the thread count.
void ck_pool_run(ck_pool *pool, ck_task_fn fn, void *ctx, int count);

int ck_pool_threads(const ck_pool *pool);

// Stops and joins the workers.
void ck_pool_destroy(ck_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
