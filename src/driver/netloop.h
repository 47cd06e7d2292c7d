/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_NETLOOP_H
#define NSI_DRIVER_NETLOOP_H

#include "driver/conductor.h"

/* Sockets one network thread waits on: every publication's and every endpoint's. */
#define NSI_NETLOOP_SOCKETS 512

/*
 * The wake socket: an AF_UNIX datagram socket with an abstract name (no file), written into
 * the CnC header so that publishers in any process can wake a sleeping network thread.
 * Returns 0 or -errno (the driver then runs without: its network thread sleeps at most 1 ms).
 */
int nsi_netloop_wake_open(struct nsi_driver *d);
void nsi_netloop_wake_close(struct nsi_driver *d);
/* Wake the network thread (sockets opened, stop): harmless when it is not asleep. */
void nsi_netloop_wake(struct nsi_driver *d);

/* Start the network thread (the caller holds d->duty) or stop it (the caller must not). */
int nsi_netloop_start(struct nsi_driver *d);
void nsi_netloop_stop(struct nsi_driver *d);

/* The conductor's way into d->duty: announced, so the network thread lets it in. */
void nsi_netloop_duty_lock(struct nsi_driver *d);

#endif /* NSI_DRIVER_NETLOOP_H */
