/* SPDX-License-Identifier: MIT */
#ifndef NSI_DRIVER_DRIVER_H
#define NSI_DRIVER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/cnc.h"
#include "ipc/embedded.h"

/*
 * The media driver's conductor: owns the CnC file and the log files of a directory, serves
 * the clients' commands, links publications to subscriptions (a position counter per link,
 * listed in the log's metadata, from which publishers compute their limit), and keeps the
 * heartbeat that tells clients it is alive. One thread calls nsi_driver_do_work(); it either
 * runs in a thread of its own (nsi_driver_run: sleeps on the CnC doorbell when idle) or is
 * called from the application's own calls (no-thread mode).
 */

/* Clients heard from and not closed. */
int nsi_driver_client_count(const struct nsi_driver *d);

/* The driver's view of its CnC file (for tests and the embedded client). */
struct nsi_cnc *nsi_driver_cnc(struct nsi_driver *d);

#endif /* NSI_DRIVER_DRIVER_H */
