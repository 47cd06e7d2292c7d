/* SPDX-License-Identifier: MIT */
#ifndef NSI_ERRMSG_H
#define NSI_ERRMSG_H

#include <stddef.h>

/*
 * This thread's ns_errmsg() text: cleared when a call that reports through it starts (ring,
 * consumer, poller and work pool creation, client calls); set (returning @code) when it fails:
 * formatted, or @prefix and a text from shared memory (made printable, bounded), or
 * ns_strerror(@code) when nothing more specific was said.
 */
void nsi_errmsg_clear(void);
int nsi_errmsg_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int nsi_errmsg_text(int code, const char *prefix, const void *text, size_t len);
int nsi_errmsg_default(int code);

#endif /* NSI_ERRMSG_H */
