/* SPDX-License-Identifier: MIT */
#ifndef NSI_IPC_DEFAULTS_H
#define NSI_IPC_DEFAULTS_H

/*
 * The defaults a user meets, in one table: the embedded driver (src/client), the driver
 * (src/driver), nanostreamd (its flags, its --help and, through tests/abi/defaults.py, its
 * manual page) and docs/ipc.md take them from here. Plain literals in the units users type,
 * so nanostreamd can print them. The rules that bind them (an MTU at most term-length / 8, a
 * message at most term-length / 8 and 16 MiB) are nsi_log_params_check() in src/log/log.c.
 */
#define NSI_DEFAULT_TERM_LENGTH		  1048576 /* bytes per term (1m) */
#define NSI_DEFAULT_MTU			  4096	  /* bytes per frame, header included */
#define NSI_DEFAULT_HEARTBEAT_MS	  100	  /* the driver's heartbeat and idle wake-up */
#define NSI_DEFAULT_CLIENT_TIMEOUT_MS	  10000	  /* a client silent this long is gone */
#define NSI_DEFAULT_DRIVER_TIMEOUT_MS	  10000	  /* clients give up on a driver silent this long */
#define NSI_DEFAULT_UNBLOCK_TIMEOUT_MS	  15000	  /* a frame left uncommitted this long is padded */
#define NSI_DEFAULT_COMMAND_TIMEOUT_BEATS 10	  /* a command left unfinished is skipped after */
#define NSI_DEFAULT_REQUEST_TIMEOUT_MS	  5000	  /* a client waits this long for an answer */
#define NSI_DEFAULT_KEEPALIVE_MS	  500	  /* a client's keepalive interval */
#define NSI_DEFAULT_COUNTERS		  1024	  /* counters in cnc.dat */

#define NSI_MS(ms) ((int64_t)(ms)*1000000) /* milliseconds to nanoseconds */

#endif /* NSI_IPC_DEFAULTS_H */
