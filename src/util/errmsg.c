/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include <nanostream/common.h>

#include "util/errmsg.h"

/* This thread's ns_errmsg(): written only when a call that reports through it fails. */
static __thread char errmsg[NS_ERRMSG_MAX + 1];

const char *
ns_errmsg(void)
{
	return errmsg;
}

void
nsi_errmsg_clear(void)
{
	errmsg[0] = '\0';
}

int
nsi_errmsg_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return code;
}

int
nsi_errmsg_text(int code, const char *prefix, const void *text, size_t len)
{
	const unsigned char *t = text;
	size_t n = (size_t)snprintf(errmsg, sizeof(errmsg), "%s", prefix);

	if (n >= sizeof(errmsg))
		n = sizeof(errmsg) - 1;
	/* The text came through shared memory: printable ASCII only, whatever was sent. */
	for (size_t i = 0; i < len && n < sizeof(errmsg) - 1; i++)
		errmsg[n++] = t[i] >= 0x20 && t[i] < 0x7f ? (char)t[i] : '?';
	errmsg[n] = '\0';
	return code;
}

int
nsi_errmsg_default(int code)
{
	if (code < 0 && errmsg[0] == '\0')
		(void)nsi_errmsg_set(code, "%s", ns_strerror(code));
	return code;
}
