/*
 * vtpu-thread.h - the mutex and condition variable the engine (and the
 * host driver platform) use: thin wrappers over POSIX threads.
 *
 * Why not GMutex/GCond: on Linux, GLib (2.74, Debian 12) implements them
 * with raw futex system calls, which ThreadSanitizer does not intercept,
 * so it sees no synchronisation at all and reports every access they
 * guard as a data race; real races would drown in false ones.  pthread
 * mutexes and condition variables are what TSan understands, and cost
 * the same.  GThread stays: it is pthread_create/pthread_join underneath.
 *
 * Deadlines are absolute times on g_get_monotonic_time()'s clock
 * (CLOCK_MONOTONIC, microseconds), as with g_cond_wait_until().  A
 * failing pthread call is a bug in the engine, never something a guest
 * or a program can cause: like GLib, abort with a message.
 */
#ifndef VTPU_THREAD_H
#define VTPU_THREAD_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct vtpu_mutex {
    pthread_mutex_t m;
} vtpu_mutex;

typedef struct vtpu_cond {
    pthread_cond_t c;
} vtpu_cond;

static inline void vtpu_thread_check(int rc, const char *what)
{
    if (__builtin_expect(rc != 0, 0)) {
        fprintf(stderr, "vtpu: %s failed: %s\n", what, strerror(rc));
        abort();
    }
}

static inline void vtpu_mutex_init(vtpu_mutex *mu)
{
    vtpu_thread_check(pthread_mutex_init(&mu->m, NULL), "pthread_mutex_init");
}

static inline void vtpu_mutex_clear(vtpu_mutex *mu)
{
    vtpu_thread_check(pthread_mutex_destroy(&mu->m), "pthread_mutex_destroy");
}

static inline void vtpu_mutex_lock(vtpu_mutex *mu)
{
    vtpu_thread_check(pthread_mutex_lock(&mu->m), "pthread_mutex_lock");
}

static inline void vtpu_mutex_unlock(vtpu_mutex *mu)
{
    vtpu_thread_check(pthread_mutex_unlock(&mu->m), "pthread_mutex_unlock");
}

/* Timed waits measure CLOCK_MONOTONIC, so a wall-clock step cannot
 * stretch or cut them. */
static inline void vtpu_cond_init(vtpu_cond *cv)
{
    pthread_condattr_t a;

    vtpu_thread_check(pthread_condattr_init(&a), "pthread_condattr_init");
    vtpu_thread_check(pthread_condattr_setclock(&a, CLOCK_MONOTONIC),
                      "pthread_condattr_setclock");
    vtpu_thread_check(pthread_cond_init(&cv->c, &a), "pthread_cond_init");
    pthread_condattr_destroy(&a);
}

static inline void vtpu_cond_clear(vtpu_cond *cv)
{
    vtpu_thread_check(pthread_cond_destroy(&cv->c), "pthread_cond_destroy");
}

static inline void vtpu_cond_signal(vtpu_cond *cv)
{
    vtpu_thread_check(pthread_cond_signal(&cv->c), "pthread_cond_signal");
}

static inline void vtpu_cond_broadcast(vtpu_cond *cv)
{
    vtpu_thread_check(pthread_cond_broadcast(&cv->c), "pthread_cond_broadcast");
}

/* Sleep until signalled (or spuriously woken: callers loop on their
 * predicate).  `mu` is held on entry and on return. */
static inline void vtpu_cond_wait(vtpu_cond *cv, vtpu_mutex *mu)
{
    vtpu_thread_check(pthread_cond_wait(&cv->c, &mu->m), "pthread_cond_wait");
}

/* The same with a deadline `end_us` (g_get_monotonic_time() units):
 * false once it has passed. */
static inline bool vtpu_cond_wait_until(vtpu_cond *cv, vtpu_mutex *mu,
                                        int64_t end_us)
{
    struct timespec ts;

    if (end_us < 0)
        end_us = 0;
    ts.tv_sec = (time_t)(end_us / 1000000);
    ts.tv_nsec = (long)(end_us % 1000000) * 1000;
    int rc = pthread_cond_timedwait(&cv->c, &mu->m, &ts);
    if (rc == ETIMEDOUT)
        return false;
    vtpu_thread_check(rc, "pthread_cond_timedwait");
    return true;
}

#endif /* VTPU_THREAD_H */
