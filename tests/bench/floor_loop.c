/* The floor for tests/bench/footprint.sh: the least a 1 s /proc poller can
 * cost. Every second it preads /proc/loadavg, /proc/meminfo, /proc/stat and
 * /proc/vmstat from offset 0 into one static buffer, descriptors kept open,
 * and parses nothing; given mount points, it also preads
 * /proc/self/mountinfo and calls statfs(2) on each, the least a filesystem
 * watcher can do. Usage: floor_loop [MAX_SECONDS [MOUNT...]] (default 3600);
 * it ends then or on SIGTERM. Compiled by footprint.sh with `cc -O2`. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

static char buf[64 * 1024];

int main(int argc, char** argv) {
  const char* files[] = {"/proc/loadavg", "/proc/meminfo", "/proc/stat", "/proc/vmstat", "/proc/self/mountinfo"};
  int fds[5];
  long max_seconds = argc > 1 ? strtol(argv[1], NULL, 10) : 3600;
  const int nfiles = argc > 2 ? 5 : 4; /* mountinfo only with mounts to watch */
  for (int i = 0; i < nfiles; ++i) {
    fds[i] = open(files[i], O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) {
      perror(files[i]);
      return 1;
    }
  }
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (long n = 0; n < max_seconds; ++n) {
    for (int i = 0; i < nfiles; ++i) {
      /* Read to EOF: procfs file sizes lie, and a short read is normal. */
      off_t off = 0;
      ssize_t r;
      while ((r = pread(fds[i], buf, sizeof buf, off)) > 0) off += r;
    }
    for (int m = 2; m < argc; ++m) {
      struct statfs st;
      if (statfs(argv[m], &st) != 0) perror(argv[m]);
    }
    next.tv_sec += 1;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
    }
  }
  return 0;
}
