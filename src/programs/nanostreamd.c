/* SPDX-License-Identifier: MIT */
/*
 * nanostreamd: the media driver as a daemon of its own (in the foreground), for deployments
 * where the driver must outlive the applications. Clients find it the way they find an
 * embedded driver: through the directory's cnc.dat.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#include "client/client.h"
#include "driver/driver.h"
#include "ipc/defaults.h"
#include "log/logfile.h"
#include "util/cpu.h"

#define STR_(x) #x
#define STR(x)	STR_(x) /* a default of ipc/defaults.h as the text users type */

enum exit_code {
	EXIT_STOPPED = 0, /* stopped by SIGINT or SIGTERM */
	EXIT_RUNTIME = 1, /* failed while running, or could not start for another reason */
	EXIT_USAGE = 2,	  /* bad flags or environment */
	EXIT_IN_USE = 3,  /* another driver runs in the directory */
	EXIT_BAD_DIR = 4, /* the directory cannot be used (owner, mode, not a directory) */
};

static struct nsi_driver *driver;
static bool stop;

static void
on_signal(int sig)
{
	(void)sig;
	__atomic_store_n(&stop, true, __ATOMIC_RELEASE);
	if (driver != NULL)
		nsi_driver_wake(driver); /* an atomic add and a futex wake: signal-safe */
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: nanostreamd [options]\n"
		"Runs the nanostream media driver in the foreground until SIGINT or SIGTERM.\n"
		"\n"
		"  -d, --dir DIR               driver directory (default: $NANOSTREAM_DIR, else\n"
		"                              /dev/shm/nanostream-USER); created 0700 if missing\n"
		"      --term-length BYTES     default term length of publications\n"
		"                              (%d; 64k..1g, a power of two; suffixes k, m, g)\n"
		"      --mtu BYTES             default frame size (%d)\n"
		"      --heartbeat-ms N        heartbeat and idle wake-up interval (%d)\n"
		"      --client-timeout-ms N   a client silent this long is gone (%d)\n"
		"      --driver-timeout-ms N   clients give up on a driver silent this long (%d)\n"
		"      --unblock-timeout-ms N  pad over a frame reserved and never committed "
		"after\n"
		"                              this long (its publisher died) (%d)\n"
		"      --command-timeout-ms N  skip a command a client left unfinished this long\n"
		"                              (it died while writing it) (%d heartbeats)\n"
		"      --counters N            counters in cnc.dat (%d)\n"
		"      --huge auto|huge|normal huge pages for log files (auto)\n"
		"      --idle sleep|spin       how the network thread waits for work: sleep (on "
		"its\n"
		"                              sockets; an idle stream costs no CPU) or spin "
		"(lowest\n"
		"                              latency, one core always busy) (sleep)\n"
		"  -h, --help                  this text\n"
		"\n"
		"Each option can also come from the environment (the flag wins):\n"
		"NANOSTREAM_DIR, NANOSTREAM_TERM_LENGTH, NANOSTREAM_MTU, NANOSTREAM_HEARTBEAT_MS,\n"
		"NANOSTREAM_CLIENT_TIMEOUT_MS, NANOSTREAM_DRIVER_TIMEOUT_MS,\n"
		"NANOSTREAM_UNBLOCK_TIMEOUT_MS, NANOSTREAM_COMMAND_TIMEOUT_MS,\n"
		"NANOSTREAM_COUNTERS, NANOSTREAM_HUGE, NANOSTREAM_IDLE.\n"
		"\n"
		"Exit status: 0 stopped by a signal; 1 failed; 2 usage; 3 another driver runs in\n"
		"the directory; 4 the directory cannot be used.\n",
		NSI_DEFAULT_TERM_LENGTH, NSI_DEFAULT_MTU, NSI_DEFAULT_HEARTBEAT_MS,
		NSI_DEFAULT_CLIENT_TIMEOUT_MS, NSI_DEFAULT_DRIVER_TIMEOUT_MS,
		NSI_DEFAULT_UNBLOCK_TIMEOUT_MS, NSI_DEFAULT_COMMAND_TIMEOUT_BEATS,
		NSI_DEFAULT_COUNTERS);
}

/* A count with an optional k/m/g suffix (powers of 1024). */
static bool
parse_count(const char *s, int64_t max, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v < 0)
		return false;
	int shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'm' || *end == 'M')
		shift = 20, end++;
	else if (*end == 'g' || *end == 'G')
		shift = 30, end++;
	if (*end != '\0' || v > (max >> shift))
		return false;
	*out = (int64_t)v << shift;
	return true;
}

/* What the driver that holds @dir looks like, for the message that refuses a second one. */
static const char *
other_driver(const char *dir, int64_t timeout_ns)
{
	static char text[160];
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, NSI_CNC_FILE);
	struct nsi_cnc c;
	if (nsi_cnc_open_readonly(&c, path) != 0)
		return "it holds the directory's lock";
	int64_t age = nsi_sub_sat_i64(ns_clock_ns(), nsi_cnc_heartbeat(&c));
	long long pid = (long long)c.hdr->pid;
	nsi_cnc_close(&c);
	if (age > timeout_ns)
		snprintf(text, sizeof(text),
			 "pid %lld holds it, but its heartbeat is %.1f s old: it is hung or "
			 "stopped; end it to start another",
			 pid, (double)age / 1e9);
	else
		snprintf(text, sizeof(text), "pid %lld, heartbeat %.0f ms ago", pid,
			 (double)age / 1e6);
	return text;
}

struct setting {
	const char *flag, *env;
	const char *value;
};

enum {
	S_DIR,
	S_TERM,
	S_MTU,
	S_HEARTBEAT,
	S_CLIENT_TIMEOUT,
	S_DRIVER_TIMEOUT,
	S_UNBLOCK,
	S_COMMAND_TIMEOUT,
	S_COUNTERS,
	S_HUGE,
	S_IDLE,
	S_COUNT
};

int
main(int argc, char **argv)
{
	struct setting set[S_COUNT] = {
		[S_DIR] = { "--dir", "NANOSTREAM_DIR", NULL },
		[S_TERM] = { "--term-length", "NANOSTREAM_TERM_LENGTH",
			     STR(NSI_DEFAULT_TERM_LENGTH) },
		[S_MTU] = { "--mtu", "NANOSTREAM_MTU", STR(NSI_DEFAULT_MTU) },
		[S_HEARTBEAT] = { "--heartbeat-ms", "NANOSTREAM_HEARTBEAT_MS",
				  STR(NSI_DEFAULT_HEARTBEAT_MS) },
		[S_CLIENT_TIMEOUT] = { "--client-timeout-ms", "NANOSTREAM_CLIENT_TIMEOUT_MS",
				       STR(NSI_DEFAULT_CLIENT_TIMEOUT_MS) },
		[S_DRIVER_TIMEOUT] = { "--driver-timeout-ms", "NANOSTREAM_DRIVER_TIMEOUT_MS",
				       STR(NSI_DEFAULT_DRIVER_TIMEOUT_MS) },
		[S_UNBLOCK] = { "--unblock-timeout-ms", "NANOSTREAM_UNBLOCK_TIMEOUT_MS",
				STR(NSI_DEFAULT_UNBLOCK_TIMEOUT_MS) },
		[S_COMMAND_TIMEOUT] = { "--command-timeout-ms", "NANOSTREAM_COMMAND_TIMEOUT_MS",
					NULL },
		[S_COUNTERS] = { "--counters", "NANOSTREAM_COUNTERS", STR(NSI_DEFAULT_COUNTERS) },
		[S_HUGE] = { "--huge", "NANOSTREAM_HUGE", "auto" },
		[S_IDLE] = { "--idle", "NANOSTREAM_IDLE", "sleep" },
	};
	for (int i = 0; i < S_COUNT; i++) {
		const char *e = getenv(set[i].env);
		if (e != NULL && e[0] != '\0')
			set[i].value = e;
	}
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "term-length", required_argument, NULL, S_TERM + 256 },
		{ "mtu", required_argument, NULL, S_MTU + 256 },
		{ "heartbeat-ms", required_argument, NULL, S_HEARTBEAT + 256 },
		{ "client-timeout-ms", required_argument, NULL, S_CLIENT_TIMEOUT + 256 },
		{ "driver-timeout-ms", required_argument, NULL, S_DRIVER_TIMEOUT + 256 },
		{ "unblock-timeout-ms", required_argument, NULL, S_UNBLOCK + 256 },
		{ "command-timeout-ms", required_argument, NULL, S_COMMAND_TIMEOUT + 256 },
		{ "counters", required_argument, NULL, S_COUNTERS + 256 },
		{ "huge", required_argument, NULL, S_HUGE + 256 },
		{ "idle", required_argument, NULL, S_IDLE + 256 },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == 'd')
			set[S_DIR].value = optarg;
		else if (opt >= 256 && opt < 256 + S_COUNT)
			set[opt - 256].value = optarg;
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nanostreamd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	int64_t v[S_COUNT] = { 0 };
	static const int64_t max[S_COUNT] = {
		[S_TERM] = 1LL << 30,	       [S_MTU] = 65504,
		[S_HEARTBEAT] = 60000,	       [S_CLIENT_TIMEOUT] = 3600000,
		[S_DRIVER_TIMEOUT] = 3600000,  [S_UNBLOCK] = 3600000,
		[S_COMMAND_TIMEOUT] = 3600000, [S_COUNTERS] = 1 << 20,
	};
	for (int i = S_TERM; i <= S_COUNTERS; i++) {
		if (set[i].value == NULL)
			continue; /* no default of its own: derived below */
		if (!parse_count(set[i].value, max[i], &v[i]) || v[i] == 0) {
			fprintf(stderr, "nanostreamd: %s \"%s\": a number from 1 to %lld\n",
				set[i].flag, set[i].value, (long long)max[i]);
			return EXIT_USAGE;
		}
	}
	struct nsi_log_params lp = { .term_length = (int32_t)v[S_TERM], .mtu = (int32_t)v[S_MTU] };
	if (nsi_log_bytes(lp.term_length) == 0) {
		fprintf(stderr, "nanostreamd: --term-length %s: a power of two from 64k to 1g\n",
			set[S_TERM].value);
		return EXIT_USAGE;
	}
	if (nsi_log_params_check(&lp) != 0) {
		fprintf(stderr,
			"nanostreamd: --mtu %s: 64 to %d, a multiple of 32 (at most term-length / "
			"8 for --term-length %s)\n",
			set[S_MTU].value, (int)nsi_log_mtu_limit(lp.term_length),
			set[S_TERM].value);
		return EXIT_USAGE;
	}
	int huge;
	if (strcmp(set[S_HUGE].value, "auto") == 0)
		huge = NSI_SHM_HUGE_WANTED;
	else if (strcmp(set[S_HUGE].value, "huge") == 0)
		huge = NSI_SHM_HUGE_ONLY;
	else if (strcmp(set[S_HUGE].value, "normal") == 0)
		huge = NSI_SHM_NORMAL;
	else {
		fprintf(stderr, "nanostreamd: --huge \"%s\": auto, huge or normal\n",
			set[S_HUGE].value);
		return EXIT_USAGE;
	}
	int idle = nsi_idle_parse(set[S_IDLE].value);
	if (idle < 0) {
		fprintf(stderr, "nanostreamd: --idle \"%s\": sleep or spin\n", set[S_IDLE].value);
		return EXIT_USAGE;
	}
	char dir[PATH_MAX - 64];
	if (set[S_DIR].value != NULL) {
		if (strlen(set[S_DIR].value) >= sizeof(dir)) {
			fprintf(stderr, "nanostreamd: --dir: too long\n");
			return EXIT_USAGE;
		}
		snprintf(dir, sizeof(dir), "%s", set[S_DIR].value);
	} else if (nsi_default_dir(dir, sizeof(dir)) != 0) {
		fprintf(stderr, "nanostreamd: $NANOSTREAM_DIR is too long\n");
		return EXIT_USAGE;
	}

	struct nsi_driver_opts o = {
		.dir = dir,
		.heartbeat_ns = v[S_HEARTBEAT] * 1000000,
		.client_liveness_ns = v[S_CLIENT_TIMEOUT] * 1000000,
		.driver_timeout_ns = v[S_DRIVER_TIMEOUT] * 1000000,
		.unblock_timeout_ns = v[S_UNBLOCK] * 1000000,
		.command_timeout_ns = v[S_COMMAND_TIMEOUT] * 1000000, /* 0: 10 heartbeats */
		.term_length = (int32_t)v[S_TERM],
		.mtu = (int32_t)v[S_MTU],
		.counters = (int32_t)v[S_COUNTERS],
		.mem_huge = huge,
		.prefault = true,
		.idle = idle,
	};
	int rc = nsi_driver_create(&driver, &o);
	if (rc == -EADDRINUSE || rc == -EAGAIN) {
		fprintf(stderr, "nanostreamd: another driver runs in %s (%s)\n", dir,
			rc == -EAGAIN ? "it is starting" : other_driver(dir, o.driver_timeout_ns));
		return EXIT_IN_USE;
	}
	if (rc == -EPROTONOSUPPORT) {
		fprintf(stderr,
			"nanostreamd: %s belongs to a driver of another major version; stop it or "
			"use another directory\n",
			dir);
		return EXIT_IN_USE;
	}
	if (rc == -EPERM || rc == -ENOTDIR || rc == -ELOOP) {
		fprintf(stderr,
			"nanostreamd: cannot use %s: %s (it must be a directory of this user with "
			"no access for others, not a symbolic link)\n",
			dir, strerror(-rc));
		return EXIT_BAD_DIR;
	}
	if (rc != 0) {
		fprintf(stderr, "nanostreamd: cannot start in %s: %s\n", dir, strerror(-rc));
		return EXIT_RUNTIME;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "nanostreamd %s: driving %s (pid %d); stop with SIGINT or SIGTERM\n",
		ns_version(), dir, (int)getpid());
	nsi_driver_run(driver, &stop);
	bool failed = nsi_driver_failed(driver);
	nsi_driver_destroy(driver);
	driver = NULL;
	if (failed) {
		fprintf(stderr,
			"nanostreamd: %s/%s was truncated by another process: stopped; its clients "
			"get NS_EDRIVER_TIMEOUT, and the directory is free for a new driver\n",
			dir, NSI_CNC_FILE);
		return EXIT_RUNTIME;
	}
	fprintf(stderr, "nanostreamd: stopped; %s is free\n", dir);
	return EXIT_STOPPED;
}
