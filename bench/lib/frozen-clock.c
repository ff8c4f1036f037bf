/*
 * LD_PRELOAD shim for bench/trigger-callgrind.ts: the wall clock (gettimeofday, clock_gettime of
 * CLOCK_REALTIME) stands still at its first reading, so clock_timestamp() returns the same instant for
 * the whole run. Capture wakes the relay at most once per 100 ms bucket of that clock per session; a
 * statement takes ~50× longer under callgrind than natively, so with a moving clock the wake path
 * would run every few statements instead of once per hundreds, and the count would move with the load.
 * Monotonic clocks are left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/time.h>
#include <time.h>

static struct timespec frozen;
static int have_frozen;

static int real_clock_gettime(clockid_t id, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  return real(id, ts);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
  if (id != CLOCK_REALTIME) return real_clock_gettime(id, ts);
  if (!have_frozen) {
    real_clock_gettime(CLOCK_REALTIME, &frozen);
    have_frozen = 1;
  }
  *ts = frozen;
  return 0;
}

int gettimeofday(struct timeval *tv, void *tz) {
  struct timespec ts;
  (void)tz;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (tv) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return 0;
}
