/* SPDX-License-Identifier: MIT */
#ifndef NS_TESTS_PROC_H
#define NS_TESTS_PROC_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

/* Helpers for the tests that run other processes (tests/ipc). */

/*
 * Every child started here is remembered until its exit is collected, so a test that fails
 * half way (cmocka leaves the function at the failed assertion) does not leave daemons running,
 * or stopped, behind it: its teardown calls tu_reap_all().
 */
#define TU_KIDS 64
static pid_t tu_kids[TU_KIDS];

static inline void
tu_remember(pid_t pid)
{
	for (int i = 0; i < TU_KIDS; i++)
		if (tu_kids[i] == 0) {
			tu_kids[i] = pid;
			return;
		}
}

static inline void
tu_forget(pid_t pid)
{
	for (int i = 0; i < TU_KIDS; i++)
		if (tu_kids[i] == pid)
			tu_kids[i] = 0;
}

/* End every remembered child that is still there (a stopped one too) and collect it. */
static inline void
tu_reap_all(void)
{
	for (int i = 0; i < TU_KIDS; i++) {
		if (tu_kids[i] <= 0)
			continue;
		kill(tu_kids[i], SIGKILL);
		kill(tu_kids[i], SIGCONT);
		waitpid(tu_kids[i], NULL, 0);
		tu_kids[i] = 0;
	}
}

/*
 * Run @path with @args (NULL-terminated; argv[0] is @path) in a child process. Its stdout goes
 * to @out_fd and its stderr to @err_fd, each /dev/null when -1. Returns the pid, or -1.
 */
static inline pid_t
tu_run(const char *path, const char *const *args, int out_fd, int err_fd)
{
	pid_t pid = fork();
	if (pid == 0) {
		const char *argv[24] = { path };
		int n = 1;
		for (; args[n - 1] != NULL && n < 23; n++)
			argv[n] = args[n - 1];
		argv[n] = NULL;
		int null = open("/dev/null", O_WRONLY);
		dup2(out_fd >= 0 ? out_fd : null, 1);
		dup2(err_fd >= 0 ? err_fd : null, 2);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	if (pid > 0)
		tu_remember(pid);
	return pid;
}

/* As tu_run(), with stdout into a pipe whose read end is returned in *out. */
static inline pid_t
tu_run_piped(const char *path, const char *const *args, int *out, int err_fd)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = tu_run(path, args, fds[1], err_fd);
	close(fds[1]);
	*out = fds[0];
	return pid;
}

/* Wait for @pid: its exit status, 128 + the signal that killed it, or -1. */
static inline int
tu_exit_of(pid_t pid)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	tu_forget(pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Read one line (up to @len - 1 bytes, with its newline) from another process's pipe; fails the
 * test if the process ended first.
 */
static inline void
tu_read_line(int fd, char *line, size_t len)
{
	size_t used = 0;
	while (used + 1 < len) {
		ssize_t r = read(fd, line + used, 1);
		if (r != 1)
			fail_msg("a child process ended early (read %zd, errno %d)", r, errno);
		if (line[used++] == '\n')
			break;
	}
	line[used] = '\0';
}

/* This program's own path (to run itself as a child). Returns 0, or -1. */
static inline int
tu_self_path(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Connect to the driver of @dir, which another process runs or is starting: waits up to 10 s
 * for it to come up (a readiness poll on another process, not a way to order threads).
 * Returns ns_client_create()'s result.
 */
static inline int
tu_connect(const char *dir, ns_client **c)
{
	struct ns_client_opts o = NS_CLIENT_OPTS_INIT;
	o.dir = dir;
	o.flags = NS_CLIENT_NO_EMBEDDED;
	int64_t deadline = ns_clock_ns() + 10LL * 1000 * 1000 * 1000;
	int rc;
	while ((rc = ns_client_create(c, &o)) == -ECONNREFUSED && ns_clock_ns() < deadline)
		usleep(1000);
	return rc;
}

#endif /* NS_TESTS_PROC_H */
