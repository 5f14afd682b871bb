/*
 * qfarm-exec SPECFILE: the last step before a task runs, executed by setpriv AFTER it switched to
 * the task's user (this program never runs as root for someone else). It applies what the user
 * controls only now that the kernel checks the user's own rights:
 *   - enters the working directory (so `-wd /root/secret` fails with EACCES, as it should);
 *   - sets the job's umask;
 *   - replaces the whole environment with the task's (LD_PRELOAD and friends of a job can no
 *     longer reach the root half, which ran with the agent's minimal environment);
 *   - execs the task's argv (no PATH search: argv[0] is absolute).
 *
 * SPECFILE (written by the agent into the task's private TMPDIR, owned by the user) holds
 * NUL-terminated fields:  "qfarm-exec/1" cwd umask-octal envc env... argc argv...
 * On success the file is removed before exec. On failure the reason replaces the file's
 * content ("qfarm-exec: <step> <path>: <error>"), where the agent reads it through the
 * descriptor it kept, and the exit status is 121.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SETUP_FAILED 121
#define MAX_SPEC (64 * 1024 * 1024)
#define MAX_ITEMS 1000000

static int spec_fd = -1;

static void fail(const char *fmt, ...) {
  char message[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof message) n = sizeof message - 1;
  if (spec_fd >= 0 && ftruncate(spec_fd, 0) == 0 && lseek(spec_fd, 0, SEEK_SET) == 0) {
    ssize_t ignored = write(spec_fd, message, (size_t)n);
    (void)ignored;
  }
  /* Also on stderr: someone running the helper by hand sees why. */
  fprintf(stderr, "%s\n", message);
  _exit(SETUP_FAILED);
}

static char *read_all(int fd, size_t *size) {
  struct stat st;
  if (fstat(fd, &st) != 0) fail("qfarm-exec: cannot stat the task specification: %s", strerror(errno));
  if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > MAX_SPEC) fail("qfarm-exec: the task specification is not a regular file of a sane size");
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) fail("qfarm-exec: out of memory reading the task specification");
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail("qfarm-exec: cannot read the task specification: %s", r == 0 ? "short file" : strerror(errno));
    got += (size_t)r;
  }
  buf[got] = '\0';
  *size = got;
  return buf;
}

/* The next NUL-terminated field, or failure when the specification ends early. */
static char *next_field(char **cursor, char *end) {
  char *field = *cursor;
  char *nul = memchr(field, '\0', (size_t)(end - field));
  if (field >= end || !nul) fail("qfarm-exec: the task specification is truncated");
  *cursor = nul + 1;
  return field;
}

static long count_field(char **cursor, char *end) {
  char *text = next_field(cursor, end);
  char *stop;
  errno = 0;
  long n = strtol(text, &stop, 10);
  if (errno || *stop || n < 0 || n > MAX_ITEMS) fail("qfarm-exec: bad count \"%s\" in the task specification", text);
  return n;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: qfarm-exec SPECFILE (started by the qfarm agent, not by hand)\n");
    return 2;
  }
  spec_fd = open(argv[1], O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (spec_fd < 0) fail("qfarm-exec: cannot open the task specification %s: %s", argv[1], strerror(errno));
  size_t size;
  char *spec = read_all(spec_fd, &size);
  char *cursor = spec, *end = spec + size;

  if (strcmp(next_field(&cursor, end), "qfarm-exec/1") != 0) fail("qfarm-exec: unknown task specification version");
  char *cwd = next_field(&cursor, end);
  char *umask_text = next_field(&cursor, end);
  char *stop;
  long mask = strtol(umask_text, &stop, 8);
  if (*stop || mask < 0 || mask > 0777) fail("qfarm-exec: bad umask \"%s\"", umask_text);

  long envc = count_field(&cursor, end);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!envp) fail("qfarm-exec: out of memory");
  for (long i = 0; i < envc; i++) envp[i] = next_field(&cursor, end);

  long targc = count_field(&cursor, end);
  if (targc < 1) fail("qfarm-exec: the task specification has no command");
  char **targv = calloc((size_t)targc + 1, sizeof *targv);
  if (!targv) fail("qfarm-exec: out of memory");
  for (long i = 0; i < targc; i++) targv[i] = next_field(&cursor, end);
  if (targv[0][0] != '/') fail("qfarm-exec: the command %s is not an absolute path", targv[0]);

  /* As the user: the kernel decides whether this user may enter the directory. */
  if (chdir(cwd) != 0) fail("qfarm-exec: cannot enter working directory %s: %s", cwd, strerror(errno));
  umask((mode_t)mask);

  /* Removed before the task starts: the environment is the user's own, but no file should linger. */
  if (unlink(argv[1]) != 0 && errno != ENOENT) fail("qfarm-exec: cannot remove the task specification %s: %s", argv[1], strerror(errno));
  execve(targv[0], targv, envp);
  int err = errno;
  /* The specification file is gone; recreate nothing, report through the descriptor we hold. */
  fail("qfarm-exec: cannot execute %s: %s", targv[0], strerror(err));
  return SETUP_FAILED;
}
