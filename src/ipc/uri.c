/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ipc/uri.h"
#include "log/log.h"

#define VALUE_MAX 32

static int fail(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A decimal integer with an optional k/m/g suffix (powers of 1024). */
static bool
parse_size(const char *v, size_t n, bool suffix, int64_t *out)
{
	int64_t x = 0;
	size_t i = 0;
	if (n == 0)
		return false;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		x = x * 10 + (v[i] - '0');
		if (x > ((int64_t)1 << 40))
			return false;
	}
	if (i == 0)
		return false;
	if (i < n && suffix && i + 1 == n) {
		int shift = v[i] == 'k' || v[i] == 'K'	 ? 10
			    : v[i] == 'm' || v[i] == 'M' ? 20
			    : v[i] == 'g' || v[i] == 'G' ? 30
							 : -1;
		if (shift < 0 || x > ((int64_t)1 << 40) >> shift)
			return false;
		x <<= shift;
		i++;
	}
	if (i != n)
		return false;
	*out = x;
	return true;
}

static bool
parse_int32(const char *v, size_t n, int32_t *out)
{
	bool neg = n > 0 && v[0] == '-';
	int64_t x;
	if (!parse_size(v + neg, n - neg, false, &x))
		return false;
	x = neg ? -x : x;
	if (x < INT32_MIN || x > INT32_MAX)
		return false;
	*out = (int32_t)x;
	return true;
}

int
nsi_uri_parse(const char *s, struct nsi_uri *u, char *err, size_t err_len)
{
	static const char prefix[] = "ns:";
	if (s == NULL || u == NULL)
		return fail(err, err_len, "no URI");
	size_t total = strnlen(s, NSI_URI_MAX + 1);
	if (total > NSI_URI_MAX)
		return fail(err, err_len, "URI longer than %d characters", NSI_URI_MAX);
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return fail(err, err_len, "URI \"%.40s\" does not start with \"ns:\"", s);
	const char *media = s + sizeof(prefix) - 1;
	size_t mlen = strcspn(media, "?");
	*u = (struct nsi_uri){ 0 };
	if (mlen == 3 && memcmp(media, "ipc", 3) == 0)
		u->media = NSI_MEDIA_IPC;
	else
		return fail(err, err_len, "unknown media \"%.*s\" (known: ipc)", (int)mlen, media);
	const char *p = media + mlen;
	if (*p == '\0')
		return 0;
	p++; /* '?' */
	bool seen_term = false, seen_mtu = false;
	while (true) {
		size_t plen = strcspn(p, "&");
		const char *eq = memchr(p, '=', plen);
		if (plen == 0)
			return fail(err, err_len, "empty parameter at offset %d", (int)(p - s));
		if (eq == NULL)
			return fail(err, err_len, "parameter \"%.*s\" has no '='", (int)plen, p);
		size_t klen = (size_t)(eq - p), vlen = plen - klen - 1;
		const char *v = eq + 1;
		if (vlen == 0)
			return fail(err, err_len, "parameter \"%.*s\" has no value", (int)klen, p);
		if (vlen > VALUE_MAX)
			return fail(err, err_len, "value of \"%.*s\" is longer than %d characters",
				    (int)klen, p, VALUE_MAX);
		int64_t x;
		if (klen == 11 && memcmp(p, "term-length", 11) == 0) {
			if (seen_term)
				return fail(err, err_len, "term-length given twice");
			seen_term = true;
			if (!parse_size(v, vlen, true, &x) || x < NSI_LOG_TERM_MIN ||
			    x > NSI_LOG_TERM_MAX || (x & (x - 1)) != 0)
				return fail(err, err_len,
					    "term-length \"%.*s\": a power of two from 64k to 1g",
					    (int)vlen, v);
			u->term_length = (int32_t)x;
		} else if (klen == 3 && memcmp(p, "mtu", 3) == 0) {
			if (seen_mtu)
				return fail(err, err_len, "mtu given twice");
			seen_mtu = true;
			if (!parse_size(v, vlen, true, &x) || x < NSI_LOG_MTU_MIN ||
			    x > NSI_LOG_MTU_MAX || x % NSI_FRAME_ALIGN != 0)
				return fail(err, err_len,
					    "mtu \"%.*s\": %d to %d, a multiple of %d", (int)vlen,
					    v, NSI_LOG_MTU_MIN, NSI_LOG_MTU_MAX, NSI_FRAME_ALIGN);
			u->mtu = (int32_t)x;
		} else if (klen == 11 && memcmp(p, "max-message", 11) == 0) {
			if (u->max_message != 0)
				return fail(err, err_len, "max-message given twice");
			if (!parse_size(v, vlen, true, &x) || x < 1 || x > NSI_LOG_MESSAGE_MAX)
				return fail(err, err_len, "max-message \"%.*s\": 1 to 16m",
					    (int)vlen, v);
			u->max_message = (int32_t)x;
		} else if (klen == 10 && memcmp(p, "session-id", 10) == 0) {
			if (u->has_session_id)
				return fail(err, err_len, "session-id given twice");
			if (!parse_int32(v, vlen, &u->session_id))
				return fail(err, err_len, "session-id \"%.*s\": a 32-bit integer",
					    (int)vlen, v);
			u->has_session_id = true;
		} else {
			return fail(
				err, err_len,
				"unknown parameter \"%.*s\" (known: term-length, mtu, session-id, "
				"max-message)",
				(int)klen, p);
		}
		if (p[plen] == '\0')
			break;
		p += plen + 1;
	}
	if (u->mtu != 0 && u->term_length != 0 && u->mtu > nsi_log_mtu_limit(u->term_length))
		return fail(err, err_len, "mtu %d is more than term-length / 8", (int)u->mtu);
	if (u->max_message != 0 && u->term_length != 0 &&
	    u->max_message > nsi_log_max_message(u->term_length))
		return fail(err, err_len, "max-message %d is more than term-length / 8",
			    (int)u->max_message);
	return 0;
}

int
nsi_uri_print(const struct nsi_uri *u, char *buf, size_t len)
{
	int n = snprintf(buf, len, "ns:ipc");
	char sep = '?';
	if (u->term_length != 0) {
		n += snprintf(buf + n, len > (size_t)n ? len - (size_t)n : 0, "%cterm-length=%d",
			      sep, (int)u->term_length);
		sep = '&';
	}
	if (u->mtu != 0) {
		n += snprintf(buf + n, len > (size_t)n ? len - (size_t)n : 0, "%cmtu=%d", sep,
			      (int)u->mtu);
		sep = '&';
	}
	if (u->has_session_id) {
		n += snprintf(buf + n, len > (size_t)n ? len - (size_t)n : 0, "%csession-id=%d",
			      sep, (int)u->session_id);
		sep = '&';
	}
	if (u->max_message != 0)
		n += snprintf(buf + n, len > (size_t)n ? len - (size_t)n : 0, "%cmax-message=%d",
			      sep, (int)u->max_message);
	return (size_t)n < len ? n : -ENOSPC;
}
