/* SPDX-License-Identifier: MIT */
/*
 * ns-stat: a running media driver's counters and error log, read from its command-and-control
 * file by another process (read-only mapping: it cannot disturb the driver).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nanostream/nanostream.h>

#include "client/client.h"
#include "ipc/cnc.h"
#include "ipc/lossreport.h"
#include "mem/shmfile.h"
#include "driver/driver.h"
#include "util/atomic.h"
#include "util/cpu.h"

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: ns-stat [-d DIR] [--errors | --loss] [--watch [--count N]]\n"
		"Prints the counters of the media driver of a directory (default: "
		"$NANOSTREAM_DIR,\n"
		"else /dev/shm/nanostream-USER).\n"
		"\n"
		"  -d, --dir DIR   the driver directory\n"
		"  -e, --errors    print the driver's error log instead\n"
		"  -l, --loss      print the loss report instead: per network stream that lost\n"
		"                  datagrams, the gaps seen, the bytes missing, when first and\n"
		"                  last, session, stream, channel and source\n"
		"  -w, --watch     print again every second (until interrupted)\n"
		"  -n, --count N   with --watch: stop after N prints\n"
		"  -h, --help      this text\n"
		"\n"
		"Exit status: 0; 1 no driver's file there, or one that cannot be read; 2 usage.\n");
}

static void
print_counter(void *ctx, const struct ns_counter *c)
{
	(void)ctx;
	printf("%5d  %-8s %20lld  %s\n", (int)c->id, c->type_name, (long long)c->value, c->label);
}

static void
print_error(void *ctx, const struct ns_error_record *e)
{
	int64_t now = *(const int64_t *)ctx;
	printf("%8d x  first %.3f s ago, last %.3f s ago: %s\n", (int)e->count,
	       (double)(now - e->first_ns) / 1e9, (double)(now - e->last_ns) / 1e9, e->text);
}

static void
format_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "?");
}

/* The loss report (loss.dat): read once, every record bounded (ipc/lossreport.h). */
static int
print_loss(const char *dir)
{
	static struct nsi_loss_record rec[NSI_LOSS_RECORDS];
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%.*s/%s", PATH_MAX - 16, dir, NSI_LOSS_FILE);
	void *mem = NULL;
	size_t len = 0;
	int rc = nsi_shm_open_mode(path, false, &mem, &len);
	if (rc != 0) {
		printf("no loss report: %s: %s\n", path, strerror(-rc));
		return rc == -ENOENT ? 0 : 1;
	}
	int n = nsi_loss_read(mem, len, rec, NSI_LOSS_RECORDS);
	munmap(mem, len);
	if (n < 0) {
		printf("loss report: %s is not one\n", path);
		return 1;
	}
	if (n == 0) {
		printf("no loss observed\n");
		return 0;
	}
	printf("%12s %14s  %-19s  %-19s %11s %6s  %s  %s\n", "gaps", "bytes", "first seen",
	       "last seen", "session", "stream", "channel", "source");
	for (int i = 0; i < n; i++) {
		char first[32], last[32];
		format_ms(rec[i].first_ms, first, sizeof(first));
		format_ms(rec[i].last_ms, last, sizeof(last));
		printf("%12lld %14lld  %-19s  %-19s %11d %6d  %s  %s\n",
		       (long long)rec[i].observations, (long long)rec[i].bytes, first, last,
		       (int)rec[i].session_id, (int)rec[i].stream_id, rec[i].channel,
		       rec[i].source);
	}
	printf("\nA gap is counted once, when its receiver first NAKs it; bytes: what was missing\n"
	       "then (the sender usually sent it again: udp retransmitted bytes in the "
	       "counters).\n");
	return 0;
}

static int
print_once(const ns_stat *st, const char *dir, bool errors, bool loss)
{
	struct ns_driver_info d = NS_DRIVER_INFO_INIT;
	int rc = ns_stat_driver(st, &d);
	if (rc != 0) {
		printf("driver %s: %s\n", dir, ns_errmsg());
		return 1;
	}
	time_t started = (time_t)(d.start_time_ms / 1000);
	char when[64] = "?";
	struct tm tm;
	if (localtime_r(&started, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	static const char *const states[] = { "running", "hung", "gone" };
	printf("driver %s: pid %lld (%s), started %s, heartbeat %.1f ms ago, cnc version %d.%d\n",
	       dir, (long long)d.pid, states[d.state], when, (double)d.heartbeat_age_ns / 1e6,
	       (int)(d.cnc_version >> 16), (int)(d.cnc_version & 0xffff));
	if (loss)
		return print_loss(dir);
	if (errors) {
		int64_t now = ns_clock_ns();
		int n = ns_stat_errors(st, print_error, &now);
		if (n < 0) {
			printf("error log: %s\n", ns_errmsg());
			return 1;
		}
		if (n == 0)
			printf("no errors\n");
		return 0;
	}
	printf("%5s  %-8s %20s  %s\n", "id", "type", "value", "label");
	if (ns_stat_counters(st, print_counter, NULL) < 0) {
		printf("counters: %s\n", ns_errmsg());
		return 1;
	}
	/* The copies and the live values differ in age: say so, with the age, under the table. */
	char age[64] = "";
	if (d.counters_age_ns >= 0)
		snprintf(age, sizeof(age), ", the last %.1f ms ago",
			 (double)d.counters_age_ns / 1e6);
	printf("\n"
	       "pub-pos (a log's tail), pub-lim (how far its publishers may go), over the\n"
	       "network snd-pos, snd-lim (a sender's position and flow control limit) and\n"
	       "rcv-hwm, rcv-pos (an image's highest position announced, and the position before\n"
	       "which everything arrived), snd-rcv, snd-rcv-ms (each receiver a publication\n"
	       "knows: its last status message's position, and ms since), snd-dst (a multi-\n"
	       "destination publication's destinations), and the system totals are\n"
	       "copies the driver refreshes every heartbeat%s;\n"
	       "sub-pos is live (its subscriber writes it as it reads), so it may be ahead of its\n"
	       "log's pub-pos and\n"
	       "of \"messages delivered\" by what moved since. Ids in labels: \"publication 3\" "
	       "is\n"
	       "the driver's number for a log; \"subscription 4 (client 2)\" the number client 2\n"
	       "gave its subscription when it added it (the error log, ns-stat --errors, names\n"
	       "them the same way).\n",
	       age);
	return 0;
}

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "errors", no_argument, NULL, 'e' },
		{ "loss", no_argument, NULL, 'l' },
		{ "watch", no_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_opt = NULL;
	bool errors = false, watch = false, loss = false;
	long count = -1;
	int opt;
	while ((opt = getopt_long(argc, argv, "d:elwn:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir_opt = optarg;
			break;
		case 'e':
			errors = true;
			break;
		case 'l':
			loss = true;
			break;
		case 'w':
			watch = true;
			break;
		case 'n': {
			char *end;
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || count < 1) {
				fprintf(stderr, "ns-stat: --count \"%s\": a number >= 1\n", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (count > 0 && !watch) || (errors && loss)) {
		usage(stderr);
		return 2;
	}
	char dir[PATH_MAX - 64], path[PATH_MAX];
	if (dir_opt != NULL)
		snprintf(dir, sizeof(dir), "%s", dir_opt);
	else if (nsi_default_dir(dir, sizeof(dir)) != 0)
		return 2;
	snprintf(path, sizeof(path), "%s/%s", dir, NSI_CNC_FILE);
	ns_stat *st = NULL;
	int rc = ns_stat_open(&st, dir);
	if (rc == -ENOENT) {
		struct stat sb;
		if (stat(dir, &sb) != 0)
			fprintf(stderr,
				"ns-stat: no driver has run in %s: the directory does not exist\n",
				dir);
		else
			fprintf(stderr,
				"ns-stat: no driver runs in %s: it has no %s (a driver that stops "
				"cleanly removes it; none has started since)\n",
				dir, NSI_CNC_FILE);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "ns-stat: %s\n", ns_errmsg());
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int status = 0;
	for (long i = 0; !interrupted; i++) {
		status = print_once(st, dir, errors, loss);
		fflush(stdout);
		if (!watch || status != 0 || (count > 0 && i + 1 >= count))
			break;
		struct timespec ts = { 1, 0 };
		nanosleep(&ts, NULL);
		printf("\n");
	}
	ns_stat_close(st);
	return status;
}
