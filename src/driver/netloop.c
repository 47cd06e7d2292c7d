/* SPDX-License-Identifier: MIT */
/*
 * The network thread of a threaded driver: the UDP work (driver/net.c) in a thread of its own,
 * so that sockets are served as datagrams arrive and not when the conductor next wakes.
 *
 * Sleeping (NSI_IDLE_SLEEP, the default): after a cycle with no work the thread raises
 * net_sleeping in the CnC header, runs one more cycle (so an offer committed before the flag
 * was visible is not missed: the publisher fences between its commit and its read of the
 * flag, the thread between its store of the flag and that cycle), then waits in ppoll() on its
 * sockets and its wake socket until a datagram comes, a publisher wakes it, or a sender's or
 * receiver's next timer is due. While an image holds enough unacknowledged data that its
 * subscribers' progress (in shared memory, which wakes nobody) could call for a status
 * message (a quarter of the window), that progress is looked at again after 20 us, doubling
 * to 1 ms.
 *
 * Lending (sleeping mode, embedded driver): while the thread sleeps, the application's own
 * threads run network cycles in their calls (nsi_driver_lend()): an offer after a pause sends
 * its message before it returns, a poll that finds nothing reads the sockets. The hot path of
 * a request and its answer then has no thread wake-up in it (each costs 10 to 30 us on these
 * machines). Only one cycle runs at a time (the duty lock, tried, never waited for), and a
 * cycle that leaves a timer due sooner than the thread's own wake-up wakes it. For a
 * millisecond after a lent cycle the thread sleeps on its wake socket and timers only, not
 * on the data sockets: the datagrams are the application's to read, and a thread woken for
 * each one it then finds gone would take the CPU from the threads doing the work.
 *
 * Spinning (NSI_IDLE_SPIN): cycles back to back, never sleeping.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "driver/conductor.h"
#include "driver/net.h"
#include "driver/netloop.h"
#include "util/atomic.h"

#define NETLOOP_FDS	 (1 + 2 * NSI_NETLOOP_SOCKETS)
#define WATCH_FIRST_NS	 20000LL
#define WATCH_LAST_NS	 1000000LL
#define NO_WAKE_SLEEP_NS 1000000LL /* without a wake socket, never sleep longer */
#define MAX_SLEEP_NS	 1000000000LL
#define LEND_HOLD_NS	 1000000LL /* application threads lent a cycle this recently */

int
nsi_idle_parse(const char *s)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, "sleep") == 0)
		return NSI_IDLE_SLEEP;
	return strcmp(s, "spin") == 0 ? NSI_IDLE_SPIN : -EINVAL;
}

int
nsi_netloop_wake_open(struct nsi_driver *d)
{
	d->wake_fd = -1;
	d->wake_name[0] = '\0';
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	char name[NSI_CNC_WAKE_NAME];
	snprintf(name, sizeof(name), NSI_CNC_WAKE_PREFIX "%lld-%08x", (long long)d->pid,
		 d->instance);
	struct sockaddr_un a;
	socklen_t len = nsi_cnc_wake_addr(name, &a);
	if (bind(fd, (struct sockaddr *)&a, len) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	d->wake_fd = fd;
	memcpy(d->wake_name, name, sizeof(name));
	return 0;
}

void
nsi_netloop_wake_close(struct nsi_driver *d)
{
	if (d->wake_fd >= 0)
		close(d->wake_fd);
	d->wake_fd = -1;
}

void
nsi_netloop_wake(struct nsi_driver *d)
{
	if (d->wake_fd < 0)
		return;
	struct sockaddr_un a;
	socklen_t len = nsi_cnc_wake_addr(d->wake_name, &a);
	char b = 0;
	/* Full (EAGAIN): wake-ups are already waiting, one is as good as many. */
	(void)sendto(d->wake_fd, &b, 1, MSG_DONTWAIT, (struct sockaddr *)&a, len);
}

static void
drain_wakes(int fd)
{
	char b[16];
	for (int i = 0; i < 64; i++)
		if (recv(fd, b, sizeof(b), MSG_DONTWAIT) < 0)
			break;
}

void
nsi_netloop_duty_lock(struct nsi_driver *d)
{
	__atomic_add_fetch(&d->conductor_waiting, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&d->duty);
	__atomic_sub_fetch(&d->conductor_waiting, 1, __ATOMIC_SEQ_CST);
}

static void
let_conductor_in(struct nsi_driver *d)
{
	for (int i = 0; i < 1000 && __atomic_load_n(&d->conductor_waiting, __ATOMIC_SEQ_CST) != 0;
	     i++)
		sched_yield();
}

int
nsi_driver_lend(struct nsi_driver *d)
{
	/* The conductor waits for the duty: it goes first (the thread would let it in too). */
	if (__atomic_load_n(&d->conductor_waiting, __ATOMIC_SEQ_CST) != 0 ||
	    pthread_mutex_trylock(&d->duty) != 0)
		return -EAGAIN;
	if (!d->net_thread_on ||
	    __atomic_load_n(&d->cnc.hdr->net_sleeping, __ATOMIC_SEQ_CST) == 0) {
		pthread_mutex_unlock(&d->duty);
		return -EAGAIN;
	}
	int64_t now = nsi_drv_now(d);
	int work = nsi_net_do_work(d, now);
	nsi_drv_flush_notices(d);
	if (work > 0)
		d->net_lent++;
	__atomic_store_n(&d->lent_ns, now, __ATOMIC_RELAXED);
	/*
	 * A timer the cycle left due sooner than the sleeping thread plans to look: wake it.
	 * Not subscribers' progress: the thread sleeps at most LEND_HOLD_NS now, and a
	 * subscriber of this process that catches up lends, and that cycle sends the status
	 * message. (Waking it for that gave 1 KiB streams a second receiving thread, 0.70 ->
	 * 0.95 M msg/s, and took 32-byte streams from 11 to 6.9 M msg/s on two cores.)
	 */
	bool watching = false;
	int64_t due = nsi_net_next_due(d, now, &watching);
	bool wake = due < d->net_wake_ns;
	pthread_mutex_unlock(&d->duty);
	if (wake)
		nsi_netloop_wake(d);
	return work;
}

static void *
net_main(void *arg)
{
	struct nsi_driver *d = arg;
	uint32_t *sleeping = &d->cnc.hdr->net_sleeping;
	struct pollfd fds[NETLOOP_FDS];
	bool armed = false;
	int64_t watch_ns = WATCH_FIRST_NS;
	pthread_mutex_lock(&d->duty);
	d->busy_cycles = d->idle == NSI_IDLE_SPIN;
	while (!__atomic_load_n(&d->net_stop, __ATOMIC_ACQUIRE)) {
		int64_t now = nsi_drv_now(d);
		int work = nsi_net_do_work(d, now);
		nsi_drv_flush_notices(d);
		if (work > 0 || d->idle == NSI_IDLE_SPIN) {
			if (armed) {
				nsi_store_release_u32(sleeping, 0);
				armed = false;
			}
			if (work > 0)
				watch_ns = WATCH_FIRST_NS;
			pthread_mutex_unlock(&d->duty);
			let_conductor_in(d);
			pthread_mutex_lock(&d->duty);
			continue;
		}
		if (!armed) {
			/* Tell publishers, then look once more (see the top of this file). */
			__atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
			armed = true;
			continue;
		}
		int64_t lent = __atomic_load_n(&d->lent_ns, __ATOMIC_RELAXED);
		bool lending = d->wake_fd >= 0 && now - lent < LEND_HOLD_NS;
		bool watching = false;
		int64_t due = nsi_net_next_due(d, now, &watching);
		int64_t wait = due - now;
		if (watching && !lending && wait > watch_ns) {
			wait = watch_ns;
			watch_ns = watch_ns * 2 > WATCH_LAST_NS ? WATCH_LAST_NS : watch_ns * 2;
		}
		if (d->wake_fd < 0 && wait > NO_WAKE_SLEEP_NS)
			wait = NO_WAKE_SLEEP_NS;
		if (wait > MAX_SLEEP_NS)
			wait = MAX_SLEEP_NS;
		if (lending && wait > lent + LEND_HOLD_NS - now)
			wait = lent + LEND_HOLD_NS - now;
		int n = 0;
		if (d->wake_fd >= 0)
			fds[n++] = (struct pollfd){ .fd = d->wake_fd, .events = POLLIN };
		if (!lending)
			n += nsi_net_fds(d, fds + n, NETLOOP_FDS - n);
		d->net_wake_ns = now + wait;
		pthread_mutex_unlock(&d->duty);
		if (wait > 0) {
			struct timespec ts = { .tv_sec = wait / 1000000000,
					       .tv_nsec = wait % 1000000000 };
			(void)ppoll(fds, (nfds_t)n, &ts, NULL);
		}
		if (d->wake_fd >= 0 && (fds[0].revents & POLLIN))
			drain_wakes(d->wake_fd);
		let_conductor_in(d);
		pthread_mutex_lock(&d->duty);
		nsi_store_release_u32(sleeping, 0);
		armed = false;
	}
	nsi_store_release_u32(sleeping, 0);
	d->busy_cycles = true;
	pthread_mutex_unlock(&d->duty);
	return NULL;
}

int
nsi_netloop_start(struct nsi_driver *d)
{
	d->net_stop = false;
	if (pthread_create(&d->net_thread, NULL, net_main, d) != 0)
		return -EAGAIN;
	d->net_thread_on = true;
	return 0;
}

void
nsi_netloop_stop(struct nsi_driver *d)
{
	if (!d->net_thread_on)
		return;
	__atomic_store_n(&d->net_stop, true, __ATOMIC_RELEASE);
	nsi_netloop_wake(d);
	pthread_join(d->net_thread, NULL);
	d->net_thread_on = false;
}
