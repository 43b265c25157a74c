// The SIGBUS guard of mapped files. A file mapped read-only can still shrink under the process
// (truncated in place by a copy or an editor); touching a page past its new end raises SIGBUS,
// which would kill the process with no word of why. Registered mappings turn that into one line
// on stderr and exit status CI_EXIT_MAPPED_FILE_CHANGED (a supervisor restarts the process, which
// then reads the new file or refuses it). Everything the handler touches is async-signal-safe:
// fixed slots read with atomic loads, write(2) and _exit(2).
#define _GNU_SOURCE
#include "CIntegrity.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

enum { SLOTS = 64, PATH_BYTES = 512 };

struct guarded {
    int used;  // 1 while base/size/path describe a live mapping (atomic)
    uintptr_t base;
    size_t size;
    char path[PATH_BYTES];
};

static struct guarded slots[SLOTS];
static struct sigaction previous;
static int installed;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void put(const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void on_sigbus(int sig, siginfo_t *info, void *context) {
    uintptr_t at = (uintptr_t)info->si_addr;
    for (int i = 0; i < SLOTS; i++) {
        if (!__atomic_load_n(&slots[i].used, __ATOMIC_ACQUIRE)) continue;
        if (at - slots[i].base < slots[i].size) {
            put("gemma-edge: ");
            put(slots[i].path);
            put(" changed while it was in use (truncated or rewritten in place), so its data can no longer be "
                "read. Update a model by writing the new file beside it and renaming it over the old one; "
                "a running process keeps reading the old file until it restarts.\n");
            _exit(CI_EXIT_MAPPED_FILE_CHANGED);
        }
    }
    // Not a guarded mapping: whatever handled SIGBUS before us does.
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, info, context);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    // The default action: reset and re-raise (delivered when the handler returns).
    signal(sig, SIG_DFL);
    raise(sig);
}

int32_t ci_guard_add(const void *base, size_t size, const char *path) {
    pthread_mutex_lock(&lock);
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &previous) == 0) installed = 1;
    }
    int32_t found = -1;
    for (int32_t i = 0; installed && i < SLOTS; i++) {
        if (__atomic_load_n(&slots[i].used, __ATOMIC_ACQUIRE)) continue;
        slots[i].base = (uintptr_t)base;
        slots[i].size = size;
        strncpy(slots[i].path, path ? path : "a mapped file", PATH_BYTES - 1);
        slots[i].path[PATH_BYTES - 1] = 0;
        __atomic_store_n(&slots[i].used, 1, __ATOMIC_RELEASE);
        found = i;
        break;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

void ci_guard_remove(int32_t slot) {
    if (slot < 0 || slot >= SLOTS) return;
    pthread_mutex_lock(&lock);
    __atomic_store_n(&slots[slot].used, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
}
