/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
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

/* The leading decimal digits of @v (at most 2^40): their count, 0 when none or too large. */
static size_t
parse_digits(const char *v, size_t n, int64_t *out)
{
	int64_t x = 0;
	size_t i = 0;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		x = x * 10 + (v[i] - '0');
		if (x > ((int64_t)1 << 40))
			return 0;
	}
	*out = x;
	return i;
}

/* A decimal integer with an optional k/m/g suffix (powers of 1024). */
static bool
parse_size(const char *v, size_t n, bool suffix, int64_t *out)
{
	int64_t x;
	size_t i = parse_digits(v, n, &x);
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

/* A signed 64-bit decimal integer, nothing else. */
static bool
parse_int64(const char *v, size_t n, int64_t *out)
{
	bool neg = n > 0 && v[0] == '-';
	if (n == (size_t)neg || n - neg > 19)
		return false;
	uint64_t x = 0;
	for (size_t i = neg; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		uint64_t d = (uint64_t)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (x > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}

/* A duration: a number with ns, us, ms or s (a bare number is nanoseconds). */
static bool
parse_duration(const char *v, size_t n, int64_t *out)
{
	int64_t x;
	size_t i = parse_digits(v, n, &x);
	if (i == 0)
		return false;
	const char *unit = v + i;
	size_t ulen = n - i;
	int64_t mul = ulen == 0					? 1
		      : ulen == 2 && memcmp(unit, "ns", 2) == 0 ? 1
		      : ulen == 2 && memcmp(unit, "us", 2) == 0 ? 1000
		      : ulen == 2 && memcmp(unit, "ms", 2) == 0 ? 1000000
		      : ulen == 1 && unit[0] == 's'		? 1000000000
								: 0;
	if (mul == 0 || x > INT64_MAX / mul) /* fuzz_uri: 66666666666s overflowed */
		return false;
	*out = x * mul;
	return true;
}

static bool
host_char(char c, bool v6)
{
	if (v6)
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		       c == ':' || c == '.';
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

/*
 * host:port, [v6]:port, or (when @port_optional) host, [v6]; then /prefix when
 * @prefix_allowed. Fills @a; returns NULL or what is wrong.
 */
static const char *
parse_addr(const char *v, size_t n, bool port_optional, bool prefix_allowed, struct nsi_uri_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->prefix = -1;
	const char *slash = prefix_allowed ? memchr(v, '/', n) : NULL;
	size_t alen = slash != NULL ? (size_t)(slash - v) : n;
	const char *host = v, *rest;
	size_t hlen;
	bool v6 = alen > 0 && v[0] == '[';
	if (v6) {
		const char *close = memchr(v, ']', alen);
		if (close == NULL)
			return "an IPv6 address needs its closing ']'";
		host = v + 1;
		hlen = (size_t)(close - host);
		rest = close + 1;
	} else {
		const char *colon = memchr(v, ':', alen);
		hlen = colon != NULL ? (size_t)(colon - v) : alen;
		rest = v + hlen;
	}
	if (hlen == 0)
		return "no host";
	if (hlen > NSI_URI_HOST_MAX)
		return "a host name longer than 255 characters";
	for (size_t i = 0; i < hlen; i++)
		if (!host_char(host[i], v6))
			return v6 ? "not an IPv6 address"
				  : "a host name has letters, digits, '.', "
				    "'-' and '_' only";
	size_t rlen = (size_t)(v + alen - rest);
	if (rlen == 0) {
		if (!port_optional)
			return "no port (host:port)";
	} else {
		int64_t port;
		if (rest[0] != ':' || !parse_size(rest + 1, rlen - 1, false, &port) || port < 1 ||
		    port > 65535)
			return "the port is not a number from 1 to 65535";
		a->port = (int32_t)port;
	}
	if (slash != NULL) {
		int64_t bits;
		if (!parse_size(slash + 1, n - alen - 1, false, &bits) || bits > (v6 ? 128 : 32))
			return v6 ? "the prefix is not 0 to 128" : "the prefix is not 0 to 32";
		a->prefix = (int32_t)bits;
	}
	memcpy(a->host, host, hlen);
	a->set = true;
	return NULL;
}

/*
 * fc=STRATEGY[,g:[TAG][/MIN]][,t:DURATION]. Fills @u; returns NULL or what is wrong (with
 * @why a buffer for messages that quote).
 */
static const char *
parse_fc(const char *v, size_t n, struct nsi_uri *u)
{
	size_t slen = strcspn(v, ",");
	if (slen > n)
		slen = n;
	if (slen == 3 && memcmp(v, "max", 3) == 0)
		u->fc = NSI_URI_FC_MAX;
	else if (slen == 3 && memcmp(v, "min", 3) == 0)
		u->fc = NSI_URI_FC_MIN;
	else if (slen == 6 && memcmp(v, "tagged", 6) == 0)
		u->fc = NSI_URI_FC_TAGGED;
	else
		return "unknown strategy (known: max, min, tagged)";
	bool seen_g = false, seen_t = false;
	for (size_t at = slen; at < n;) {
		at++; /* ',' */
		size_t olen = 0;
		while (at + olen < n && v[at + olen] != ',')
			olen++;
		const char *o = v + at;
		if (olen < 2 || o[1] != ':' || (o[0] != 'g' && o[0] != 't'))
			return "options are g:TAG, g:TAG/MIN, g:/MIN and t:DURATION";
		if (o[0] == 't') {
			if (seen_t)
				return "t: given twice";
			seen_t = true;
			if (!parse_duration(o + 2, olen - 2, &u->fc_timeout_ns) ||
			    u->fc_timeout_ns <= 0 || u->fc_timeout_ns > INT64_C(3600000000000))
				return "t: a duration from 1ns to 1h (500ms, 5s)";
		} else {
			if (seen_g)
				return "g: given twice";
			seen_g = true;
			const char *g = o + 2;
			size_t glen = olen - 2;
			const char *slash = memchr(g, '/', glen);
			size_t tlen = slash != NULL ? (size_t)(slash - g) : glen;
			if (tlen > 0) {
				if (!parse_int64(g, tlen, &u->fc_group_tag))
					return "the group tag is not a 64-bit integer";
				u->fc_has_group_tag = true;
			} else if (slash == NULL) {
				return "g: needs a tag, a /MIN or both";
			}
			if (slash != NULL) {
				int64_t m;
				if (!parse_size(slash + 1, glen - tlen - 1, false, &m) || m < 1 ||
				    m > NSI_URI_GROUP_MAX)
					return "the group size after '/' is not 1 "
					       "to " NSI_URI_GROUP_MAX_S;
				u->fc_group_min = (int32_t)m;
			}
		}
		at += olen;
	}
	if (u->fc == NSI_URI_FC_TAGGED && !u->fc_has_group_tag)
		return "tagged needs the group's tag (fc=tagged,g:TAG or g:TAG/MIN)";
	if (u->fc == NSI_URI_FC_MAX && u->fc_has_group_tag)
		return "max follows the fastest receiver: a group tag applies to tagged (g:/MIN "
		       "alone is allowed)";
	return NULL;
}

static bool
key_is(const char *p, size_t klen, const char *name)
{
	return strlen(name) == klen && memcmp(p, name, klen) == 0;
}

/*
 * Whether the endpoint is a multicast group (a literal address) and, if so, one we can use:
 * NULL, or what is wrong with it.
 */
static const char *
multicast_check(struct nsi_uri *u)
{
	if (!u->endpoint.set)
		return NULL;
	uint8_t a[16];
	if (inet_pton(AF_INET, u->endpoint.host, a) == 1) {
		if ((a[0] & 0xf0) != 0xe0)
			return NULL;
		u->multicast = true;
		if ((a[3] & 1) == 0)
			return "a multicast group must end in an odd byte (its control address, "
			       "for "
			       "status messages and NAKs, is the next one)";
		if (a[3] == 255)
			return "a multicast group cannot end in 255 (its control address is the "
			       "next "
			       "one)";
		return NULL;
	}
	if (inet_pton(AF_INET6, u->endpoint.host, a) != 1 || a[0] != 0xff)
		return NULL;
	u->multicast = true;
	if ((a[15] & 1) == 0)
		return "a multicast group must end in an odd byte (its control address, for status "
		       "messages and NAKs, is the next one)";
	if (a[15] == 255)
		return "a multicast group cannot end in 255 (its control address is the next one)";
	if ((a[1] & 0x0f) <= 2 && !u->interface.set)
		return "an IPv6 group of interface- or link-local scope needs interface=";
	return NULL;
}

int
nsi_uri_parse(const char *s, struct nsi_uri *u, char *err, size_t err_len)
{
	if (s == NULL || u == NULL)
		return fail(err, err_len, "no URI");
	size_t total = strnlen(s, NSI_URI_MAX + 1);
	if (total > NSI_URI_MAX)
		return fail(err, err_len, "URI longer than %d characters", NSI_URI_MAX);
	const char *media;
	if (strncmp(s, "ns:", 3) == 0)
		media = s + 3;
	else if (strncmp(s, "aeron:", 6) == 0)
		media = s + 6;
	else
		return fail(err, err_len,
			    "URI \"%.40s\" does not start with \"ns:\" (or \"aeron:\")", s);
	size_t mlen = strcspn(media, "?");
	*u = (struct nsi_uri){ 0 };
	u->endpoint.prefix = u->interface.prefix = u->control.prefix = -1;
	u->nak_delay_ns = u->linger_ns = u->fc_timeout_ns = -1;
	u->fc_group_min = -1;
	u->reliable = u->ttl = -1;
	if (mlen == 3 && memcmp(media, "ipc", 3) == 0)
		u->media = NSI_MEDIA_IPC;
	else if (mlen == 3 && memcmp(media, "udp", 3) == 0)
		u->media = NSI_MEDIA_UDP;
	else
		return fail(err, err_len, "unknown media \"%.*s\" (known: ipc, udp)", (int)mlen,
			    media);
	bool udp = u->media == NSI_MEDIA_UDP;
	const char *p = media + mlen;
	bool seen_term = false, seen_mtu = false;
	if (*p != '\0') {
		p++; /* '?' */
		while (true) {
			size_t plen = strcspn(p, "&|");
			const char *eq = memchr(p, '=', plen);
			if (plen == 0)
				return fail(err, err_len, "empty parameter at offset %d",
					    (int)(p - s));
			if (eq == NULL)
				return fail(err, err_len, "parameter \"%.*s\" has no '='",
					    (int)plen, p);
			size_t klen = (size_t)(eq - p), vlen = plen - klen - 1;
			const char *v = eq + 1;
			bool addr = key_is(p, klen, "endpoint") || key_is(p, klen, "interface") ||
				    key_is(p, klen, "control");
			size_t vmax = addr		      ? NSI_URI_HOST_MAX + 16
				      : key_is(p, klen, "fc") ? 2 * VALUE_MAX
							      : VALUE_MAX;
			if (vlen == 0)
				return fail(err, err_len, "parameter \"%.*s\" has no value",
					    (int)klen, p);
			if (vlen > vmax)
				return fail(err, err_len,
					    "value of \"%.*s\" is longer than %d characters",
					    (int)klen, p, (int)vmax);
			int64_t x;
			if (key_is(p, klen, "term-length")) {
				if (seen_term)
					return fail(err, err_len, "term-length given twice");
				seen_term = true;
				if (!parse_size(v, vlen, true, &x) || x < NSI_LOG_TERM_MIN ||
				    x > NSI_LOG_TERM_MAX || (x & (x - 1)) != 0)
					return fail(err, err_len,
						    "term-length \"%.*s\": a power of two from 64k "
						    "to 1g",
						    (int)vlen, v);
				u->term_length = (int32_t)x;
			} else if (key_is(p, klen, "mtu")) {
				if (seen_mtu)
					return fail(err, err_len, "mtu given twice");
				seen_mtu = true;
				if (!parse_size(v, vlen, true, &x) || x < NSI_LOG_MTU_MIN ||
				    x > NSI_LOG_MTU_MAX || x % NSI_FRAME_ALIGN != 0)
					return fail(err, err_len,
						    "mtu \"%.*s\": %d to %d, a multiple of %d",
						    (int)vlen, v, NSI_LOG_MTU_MIN, NSI_LOG_MTU_MAX,
						    NSI_FRAME_ALIGN);
				u->mtu = (int32_t)x;
			} else if (key_is(p, klen, "max-message")) {
				if (u->max_message != 0)
					return fail(err, err_len, "max-message given twice");
				if (!parse_size(v, vlen, true, &x) || x < 1 ||
				    x > NSI_LOG_MESSAGE_MAX)
					return fail(err, err_len, "max-message \"%.*s\": 1 to 16m",
						    (int)vlen, v);
				u->max_message = (int32_t)x;
			} else if (key_is(p, klen, "session-id")) {
				if (u->has_session_id)
					return fail(err, err_len, "session-id given twice");
				if (!parse_int32(v, vlen, &u->session_id))
					return fail(err, err_len,
						    "session-id \"%.*s\": a 32-bit integer",
						    (int)vlen, v);
				u->has_session_id = true;
			} else if (!udp &&
				   (addr || key_is(p, klen, "rcv-wnd") ||
				    key_is(p, klen, "so-sndbuf") || key_is(p, klen, "so-rcvbuf") ||
				    key_is(p, klen, "nak-delay") || key_is(p, klen, "linger") ||
				    key_is(p, klen, "reliable") || key_is(p, klen, "ttl") ||
				    key_is(p, klen, "control-mode") || key_is(p, klen, "fc") ||
				    key_is(p, klen, "gtag"))) {
				return fail(err, err_len, "%.*s applies to ns:udp only", (int)klen,
					    p);
			} else if (addr) {
				bool ep = key_is(p, klen, "endpoint"),
				     ifc = key_is(p, klen, "interface");
				struct nsi_uri_addr *a = ep ? &u->endpoint : ifc ? &u->interface : &u->control;
				if (a->set)
					return fail(err, err_len, "%.*s given twice", (int)klen, p);
				const char *why = parse_addr(v, vlen, ifc, ifc, a);
				if (why != NULL) /* the value shortened: the reason must fit */
					return fail(err, err_len, "%.*s \"%.*s%s\": %s", (int)klen,
						    p, (int)(vlen > 40 ? 37 : vlen), v,
						    vlen > 40 ? "..." : "", why);
			} else if (key_is(p, klen, "rcv-wnd") || key_is(p, klen, "so-sndbuf") ||
				   key_is(p, klen, "so-rcvbuf")) {
				int32_t *field = key_is(p, klen, "rcv-wnd")	? &u->rcv_wnd
						 : key_is(p, klen, "so-sndbuf") ? &u->so_sndbuf
										: &u->so_rcvbuf;
				if (*field != 0)
					return fail(err, err_len, "%.*s given twice", (int)klen, p);
				if (!parse_size(v, vlen, true, &x) || x < 4096 || x > (1 << 30))
					return fail(err, err_len, "%.*s \"%.*s\": 4k to 1g",
						    (int)klen, p, (int)vlen, v);
				*field = (int32_t)x;
			} else if (key_is(p, klen, "nak-delay") || key_is(p, klen, "linger")) {
				bool nak = key_is(p, klen, "nak-delay");
				int64_t *field = nak ? &u->nak_delay_ns : &u->linger_ns;
				int64_t max = nak ? INT64_C(1000000000) : INT64_C(3600000000000);
				if (*field != -1)
					return fail(err, err_len, "%.*s given twice", (int)klen, p);
				if (!parse_duration(v, vlen, &x) || x > max)
					return fail(
						err, err_len,
						"%.*s \"%.*s\": a duration from 0 to %s (100us, "
						"5ms, 2s)",
						(int)klen, p, (int)vlen, v, nak ? "1s" : "1h");
				*field = x;
			} else if (key_is(p, klen, "reliable")) {
				if (u->reliable != -1)
					return fail(err, err_len, "reliable given twice");
				if (vlen == 4 && memcmp(v, "true", 4) == 0)
					u->reliable = 1;
				else if (vlen == 5 && memcmp(v, "false", 5) == 0)
					u->reliable = 0;
				else
					return fail(err, err_len,
						    "reliable \"%.*s\": true or false", (int)vlen,
						    v);
			} else if (key_is(p, klen, "ttl")) {
				if (u->ttl != -1)
					return fail(err, err_len, "ttl given twice");
				if (!parse_size(v, vlen, false, &x) || x > 255)
					return fail(err, err_len, "ttl \"%.*s\": 0 to 255",
						    (int)vlen, v);
				u->ttl = (int32_t)x;
			} else if (key_is(p, klen, "control-mode")) {
				if (u->control_mode != 0)
					return fail(err, err_len, "control-mode given twice");
				if (vlen == 7 && memcmp(v, "dynamic", 7) == 0)
					u->control_mode = NSI_URI_CONTROL_DYNAMIC;
				else if (vlen == 6 && memcmp(v, "manual", 6) == 0)
					u->control_mode = NSI_URI_CONTROL_MANUAL;
				else
					return fail(err, err_len,
						    "control-mode \"%.*s\": dynamic or manual",
						    (int)vlen, v);
			} else if (key_is(p, klen, "fc")) {
				if (u->fc != 0)
					return fail(err, err_len, "fc given twice");
				const char *why = parse_fc(v, vlen, u);
				if (why != NULL)
					return fail(err, err_len, "fc \"%.*s\": %s", (int)vlen, v,
						    why);
			} else if (key_is(p, klen, "gtag")) {
				if (u->has_gtag)
					return fail(err, err_len, "gtag given twice");
				if (!parse_int64(v, vlen, &u->gtag))
					return fail(err, err_len, "gtag \"%.*s\": a 64-bit integer",
						    (int)vlen, v);
				u->has_gtag = true;
			} else {
				return fail(err, err_len,
					    udp ? "unknown parameter \"%.*s\" (known: endpoint, "
						  "interface, term-length, mtu, session-id, "
						  "max-message, rcv-wnd, so-sndbuf, so-rcvbuf, "
						  "nak-delay, linger, reliable, ttl, control, "
						  "control-mode, fc, gtag)"
						: "unknown parameter \"%.*s\" (known: term-length, "
						  "mtu, "
						  "session-id, max-message)",
					    (int)klen, p);
			}
			if (p[plen] == '\0')
				break;
			p += plen + 1;
		}
	}
	if (udp && !u->endpoint.set && u->control_mode == 0)
		return fail(
			err, err_len,
			"ns:udp needs endpoint=host:port (or control-mode= for multi-destination-"
			"cast)");
	if (u->control_mode == NSI_URI_CONTROL_DYNAMIC && !u->control.set)
		return fail(err, err_len, "control-mode=dynamic needs control=host:port");
	if (udp) {
		const char *why = multicast_check(u);
		if (why != NULL)
			return fail(err, err_len, "endpoint %s: %s", u->endpoint.host, why);
	}
	if (u->fc != 0 && !u->multicast && u->control_mode == 0)
		return fail(
			err, err_len,
			"fc applies to multicast endpoints and control-mode= (multi-destination-"
			"cast) publications");
	if (u->mtu != 0 && u->term_length != 0 && u->mtu > nsi_log_mtu_limit(u->term_length))
		return fail(err, err_len, "mtu %d is more than term-length / 8", (int)u->mtu);
	if (u->max_message != 0 && u->term_length != 0 &&
	    u->max_message > nsi_log_max_message(u->term_length))
		return fail(err, err_len, "max-message %d is more than term-length / 8",
			    (int)u->max_message);
	return 0;
}

/* Appends to @buf (@len bytes) at @*n, keeping count even when it does not fit. */
static void append(char *buf, size_t len, int *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
append(char *buf, size_t len, int *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*n += vsnprintf(buf + *n, len > (size_t)*n ? len - (size_t)*n : 0, fmt, ap);
	va_end(ap);
}

/* A duration in the largest unit that keeps it exact (parse_duration caps the number). */
static void
append_duration(char *buf, size_t len, int *n, int64_t ns)
{
	static const struct {
		int64_t mul;
		const char *unit;
	} units[] = { { 1000000000, "s" }, { 1000000, "ms" }, { 1000, "us" }, { 1, "ns" } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns % units[i].mul == 0 || units[i].mul == 1) {
			append(buf, len, n, "%lld%s", (long long)(ns / units[i].mul),
			       units[i].unit);
			return;
		}
	}
}

static void
append_addr(char *buf, size_t len, int *n, char sep, const char *key, const struct nsi_uri_addr *a)
{
	bool v6 = strchr(a->host, ':') != NULL;
	append(buf, len, n, "%c%s=%s%s%s", sep, key, v6 ? "[" : "", a->host, v6 ? "]" : "");
	if (a->port != 0)
		append(buf, len, n, ":%d", (int)a->port);
	if (a->prefix >= 0)
		append(buf, len, n, "/%d", (int)a->prefix);
}

int
nsi_uri_print(const struct nsi_uri *u, char *buf, size_t len)
{
	bool udp = u->media == NSI_MEDIA_UDP;
	int n = 0;
	char sep = '?';
	const char next = udp ? '|' : '&';
	append(buf, len, &n, udp ? "ns:udp" : "ns:ipc");
	if (udp) {
		if (u->endpoint.set) {
			append_addr(buf, len, &n, sep, "endpoint", &u->endpoint);
			sep = next;
		}
		if (u->interface.set) {
			append_addr(buf, len, &n, sep, "interface", &u->interface);
			sep = next;
		}
		if (u->control.set) {
			append_addr(buf, len, &n, sep, "control", &u->control);
			sep = next;
		}
		if (u->control_mode != 0) {
			append(buf, len, &n, "%ccontrol-mode=%s", sep,
			       u->control_mode == NSI_URI_CONTROL_DYNAMIC ? "dynamic" : "manual");
			sep = next;
		}
	}
	if (u->term_length != 0) {
		append(buf, len, &n, "%cterm-length=%d", sep, (int)u->term_length);
		sep = next;
	}
	if (u->mtu != 0) {
		append(buf, len, &n, "%cmtu=%d", sep, (int)u->mtu);
		sep = next;
	}
	if (u->has_session_id) {
		append(buf, len, &n, "%csession-id=%d", sep, (int)u->session_id);
		sep = next;
	}
	if (u->max_message != 0) {
		append(buf, len, &n, "%cmax-message=%d", sep, (int)u->max_message);
		sep = next;
	}
	if (udp) {
		if (u->rcv_wnd != 0)
			append(buf, len, &n, "%crcv-wnd=%d", sep, (int)u->rcv_wnd);
		if (u->so_sndbuf != 0)
			append(buf, len, &n, "%cso-sndbuf=%d", sep, (int)u->so_sndbuf);
		if (u->so_rcvbuf != 0)
			append(buf, len, &n, "%cso-rcvbuf=%d", sep, (int)u->so_rcvbuf);
		if (u->nak_delay_ns >= 0) {
			append(buf, len, &n, "%cnak-delay=", sep);
			append_duration(buf, len, &n, u->nak_delay_ns);
		}
		if (u->linger_ns >= 0) {
			append(buf, len, &n, "%clinger=", sep);
			append_duration(buf, len, &n, u->linger_ns);
		}
		if (u->reliable >= 0)
			append(buf, len, &n, "%creliable=%s", sep, u->reliable ? "true" : "false");
		if (u->ttl >= 0)
			append(buf, len, &n, "%cttl=%d", sep, (int)u->ttl);
		if (u->fc != 0) {
			static const char *const names[] = { "", "max", "min", "tagged" };
			append(buf, len, &n, "%cfc=%s", sep, names[u->fc & 3]);
			if (u->fc_has_group_tag || u->fc_group_min >= 0) {
				append(buf, len, &n, ",g:");
				if (u->fc_has_group_tag)
					append(buf, len, &n, "%lld", (long long)u->fc_group_tag);
				if (u->fc_group_min >= 0)
					append(buf, len, &n, "/%d", (int)u->fc_group_min);
			}
			if (u->fc_timeout_ns >= 0) {
				append(buf, len, &n, ",t:");
				append_duration(buf, len, &n, u->fc_timeout_ns);
			}
		}
		if (u->has_gtag)
			append(buf, len, &n, "%cgtag=%lld", sep, (long long)u->gtag);
	}
	return (size_t)n < len ? n : -ENOSPC;
}
