/* SPDX-License-Identifier: MIT */
/*
 * Channel URIs (src/ipc/uri): good ones, a table of bad ones with their messages, and the
 * round trip parse(print(parse(s))) == parse(s).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ipc/uri.h"

static void
good_uris_parse_and_round_trip(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int32_t term, mtu, session;
		bool has_session;
	} good[] = {
		{ "ns:ipc", 0, 0, 0, false },
		{ "ns:ipc?term-length=64k", 65536, 0, 0, false },
		{ "ns:ipc?term-length=1m&mtu=1408", 1 << 20, 1408, 0, false },
		{ "ns:ipc?mtu=4k&term-length=1G", 1 << 30, 4096, 0, false },
		{ "ns:ipc?session-id=-7&term-length=131072", 131072, 0, -7, true },
		{ "ns:ipc?session-id=2147483647", 0, 0, INT32_MAX, true },
		{ "ns:ipc?session-id=-2147483648&mtu=64", 0, 64, INT32_MIN, true },
		{ "ns:ipc?max-message=1k&session-id=3", 0, 0, 3, true },
		/* Exact boundaries, each the largest or smallest allowed (issue 14.23). */
		{ "ns:ipc?term-length=64k&mtu=8k", 65536, 8192, 0, false }, /* mtu = term / 8 */
		{ "ns:ipc?mtu=65504", 0, 65504, 0, false },
		{ "ns:ipc?mtu=64", 0, 64, 0, false },
		{ "ns:ipc?term-length=1g", 1 << 30, 0, 0, false },
		{ "ns:ipc?max-message=16m", 0, 0, 0, false },
		{ "ns:ipc?term-length=128m&max-message=16m", 128 << 20, 0, 0, false },
		{ "ns:ipc?term-length=64k&max-message=8192", 65536, 0, 0, false },
		{ "ns:ipc?max-message=1", 0, 0, 0, false },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct nsi_uri u, v;
		char err[128] = "", buf[NSI_URI_MAX];
		assert_int_equal(nsi_uri_parse(good[i].s, &u, err, sizeof(err)), 0);
		assert_int_equal(u.media, NSI_MEDIA_IPC);
		assert_int_equal(u.term_length, good[i].term);
		assert_int_equal(u.mtu, good[i].mtu);
		assert_int_equal(u.session_id, good[i].session);
		assert_int_equal(u.has_session_id, good[i].has_session);
		if (strstr(good[i].s, "max-message=1k") != NULL)
			assert_int_equal(u.max_message, 1024);
		if (strstr(good[i].s, "max-message=16m") != NULL)
			assert_int_equal(u.max_message, 16 << 20);
		if (strstr(good[i].s, "max-message=8192") != NULL)
			assert_int_equal(u.max_message, 8192);
		int n = nsi_uri_print(&u, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(nsi_uri_parse(buf, &v, err, sizeof(err)), 0);
		assert_memory_equal(&u, &v, sizeof(u));
		assert_int_equal(nsi_uri_print(&v, buf, 4), -ENOSPC);
	}
}

static void
bad_uris_name_the_bad_part(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		const char *says;
	} bad[] = {
		{ "", "does not start with" },
		{ "aero:ipc", "does not start with \"ns:\"" },
		{ "ns:tcp", "unknown media \"tcp\" (known: ipc, udp)" },
		{ "ns:", "unknown media \"\"" },
		{ "ns:ipc?", "empty parameter" },
		{ "ns:ipc?mtu=64&", "empty parameter" },
		{ "ns:ipc?&mtu=64", "empty parameter" },
		{ "ns:ipc?mtu", "\"mtu\" has no '='" },
		{ "ns:ipc?mtu=", "\"mtu\" has no value" },
		{ "ns:ipc?term-length=100k", "term-length \"100k\"" },
		{ "ns:ipc?term-length=32k", "term-length \"32k\"" },
		{ "ns:ipc?term-length=2g", "term-length \"2g\"" },
		{ "ns:ipc?term-length=1x", "term-length \"1x\"" },
		{ "ns:ipc?term-length=-1m", "term-length \"-1m\"" },
		{ "ns:ipc?term-length=9999999999999999999999999999999999999", "longer than 32" },
		{ "ns:ipc?mtu=100", "mtu \"100\"" },
		{ "ns:ipc?mtu=65536", "mtu \"65536\"" },
		{ "ns:ipc?mtu=32", "mtu \"32\"" },
		{ "ns:ipc?term-length=64k&mtu=16k", "more than term-length / 8" },
		{ "ns:ipc?session-id=abc", "session-id \"abc\"" },
		{ "ns:ipc?session-id=2147483648", "session-id \"2147483648\"" },
		{ "ns:ipc?session-id=", "no value" },
		{ "ns:ipc?mtu=64&mtu=64", "mtu given twice" },
		{ "ns:ipc?term-length=64k&term-length=64k", "term-length given twice" },
		{ "ns:ipc?session-id=1&session-id=1", "session-id given twice" },
		{ "ns:ipc?endpoint=host:1", "endpoint applies to ns:udp only" },
		{ "ns:ipc?ttl=1", "ttl applies to ns:udp only" },
		{ "ns:ipc?foo=1", "unknown parameter \"foo\" (known: term-length" },
		{ "ns:ipc?=5", "unknown parameter \"\"" },
		/* Found by fuzz_uri: a suffix that overflowed the value. */
		{ "ns:ipc?term-length=444444444444g", "term-length \"444444444444g\"" },
		{ "ns:ipc?max-message=0", "max-message \"0\"" },
		{ "ns:ipc?max-message=17m", "max-message \"17m\"" },
		{ "ns:ipc?max-message=1&max-message=1", "max-message given twice" },
		{ "ns:ipc?term-length=64k&max-message=9000", "max-message 9000 is more than" },
		/* Exact boundaries, each one past the limit (issue 14.23). */
		{ "ns:ipc?term-length=64k&mtu=8224", "more than term-length / 8" },
		{ "ns:ipc?mtu=65536", "mtu \"65536\"" },
		{ "ns:ipc?mtu=65503", "mtu \"65503\"" },
		{ "ns:ipc?mtu=63", "mtu \"63\"" },
		{ "ns:ipc?max-message=16777217", "max-message \"16777217\"" },
		{ "ns:ipc?term-length=64k&max-message=8193", "max-message 8193 is more than" },
		{ "ns:ipc?term-length=128m&max-message=16777217", "max-message \"16777217\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nsi_uri u;
		char err[160] = "";
		assert_int_equal(nsi_uri_parse(bad[i].s, &u, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("\"%s\": got \"%s\", wanted \"%s\"", bad[i].s, err, bad[i].says);
	}
	char err[100];
	struct nsi_uri u;
	assert_int_equal(nsi_uri_parse(NULL, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(nsi_uri_parse("ns:ipc", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(nsi_uri_parse("ns:ipc?mtu=1", &u, NULL, 0), -EINVAL);
	char huge[NSI_URI_MAX + 10];
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	memcpy(huge, "ns:ipc?", 7);
	assert_int_equal(nsi_uri_parse(huge, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 512"));
}

/* ns:udp and aeron:udp: every parameter, good and bad, and the round trip. */
static void
udp_uris(void **state)
{
	(void)state;
	struct nsi_uri u, v;
	char err[200] = "", buf[NSI_URI_MAX];
	assert_int_equal(nsi_uri_parse("ns:udp?endpoint=10.1.2.3:40123", &u, err, sizeof(err)), 0);
	assert_int_equal(u.media, NSI_MEDIA_UDP);
	assert_string_equal(u.endpoint.host, "10.1.2.3");
	assert_int_equal(u.endpoint.port, 40123);
	assert_false(u.interface.set);
	assert_true(u.reliable == -1 && u.ttl == -1 && u.nak_delay_ns == -1 && u.linger_ns == -1);

	assert_int_equal(nsi_uri_parse("aeron:udp?endpoint=[::1]:5000|interface=192.168.0.0/24|"
				       "mtu=8k|term-length=1m|session-id=-3|rcv-wnd=256k|"
				       "so-sndbuf=2m|so-rcvbuf=2m|nak-delay=100us|linger=5s|"
				       "reliable=false|ttl=4",
				       &u, err, sizeof(err)),
			 0);
	assert_string_equal(u.endpoint.host, "::1");
	assert_int_equal(u.endpoint.port, 5000);
	assert_string_equal(u.interface.host, "192.168.0.0");
	assert_int_equal(u.interface.port, 0);
	assert_int_equal(u.interface.prefix, 24);
	assert_int_equal(u.mtu, 8192);
	assert_int_equal(u.term_length, 1 << 20);
	assert_int_equal(u.session_id, -3);
	assert_int_equal(u.rcv_wnd, 256 * 1024);
	assert_int_equal(u.so_sndbuf, 2 << 20);
	assert_int_equal(u.so_rcvbuf, 2 << 20);
	assert_true(u.nak_delay_ns == 100000);
	assert_true(u.linger_ns == INT64_C(5000000000));
	assert_int_equal(u.reliable, 0);
	assert_int_equal(u.ttl, 4);
	assert_true(nsi_uri_print(&u, buf, sizeof(buf)) > 0);
	assert_int_equal(nsi_uri_parse(buf, &v, err, sizeof(err)), 0);
	assert_memory_equal(&u, &v, sizeof(u));
	assert_non_null(strstr(buf, "ns:udp?endpoint=[::1]:5000|interface=192.168.0.0/24|"));

	static const char *const good[] = {
		"ns:udp?endpoint=localhost:1",
		"ns:udp?endpoint=my-host_1.example.com:65535&reliable=true",
		"ns:udp?endpoint=0.0.0.0:40123|interface=eth-host:7|nak-delay=0|linger=0s",
		"ns:udp?endpoint=[fe80::1]:9|interface=[::]/0|ttl=0|ttl",
	};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(nsi_uri_parse(good[i], &u, err, sizeof(err)), 0);
		assert_true(nsi_uri_print(&u, buf, sizeof(buf)) > 0);
		assert_int_equal(nsi_uri_parse(buf, &v, err, sizeof(err)), 0);
		assert_memory_equal(&u, &v, sizeof(u));
	}

	static const struct {
		const char *s;
		const char *says;
	} bad[] = {
		{ "ns:udp", "ns:udp needs endpoint=host:port" },
		{ "ns:udp?mtu=1408", "ns:udp needs endpoint=host:port" },
		{ "ns:udp?endpoint=host", "endpoint \"host\": no port (host:port)" },
		{ "ns:udp?endpoint=:40123", "endpoint \":40123\": no host" },
		{ "ns:udp?endpoint=host:0", "the port is not a number from 1 to 65535" },
		{ "ns:udp?endpoint=host:65536", "the port is not a number from 1 to 65535" },
		{ "ns:udp?endpoint=host:12x", "the port is not a number from 1 to 65535" },
		{ "ns:udp?endpoint=ho st:1", "letters, digits" },
		{ "ns:udp?endpoint=[::1:5", "closing ']'" },
		{ "ns:udp?endpoint=[x::]:5", "not an IPv6 address" },
		{ "ns:udp?endpoint=h:1/24", "the port is not a number" },
		{ "ns:udp?endpoint=h:1|endpoint=h:2", "endpoint given twice" },
		{ "ns:udp?endpoint=h:1|interface=10.0.0.1/33", "the prefix is not 0 to 32" },
		{ "ns:udp?endpoint=h:1|interface=[::1]/129", "the prefix is not 0 to 128" },
		{ "ns:udp?endpoint=h:1|rcv-wnd=1k", "rcv-wnd \"1k\": 4k to 1g" },
		{ "ns:udp?endpoint=h:1|so-sndbuf=2g", "so-sndbuf \"2g\": 4k to 1g" },
		{ "ns:udp?endpoint=h:1|so-rcvbuf=x", "so-rcvbuf \"x\"" },
		{ "ns:udp?endpoint=h:1|so-rcvbuf=8k|so-rcvbuf=8k", "so-rcvbuf given twice" },
		{ "ns:udp?endpoint=h:1|nak-delay=2s", "nak-delay \"2s\": a duration from 0 to 1s" },
		{ "ns:udp?endpoint=h:1|nak-delay=5min", "nak-delay \"5min\"" },
		{ "ns:udp?endpoint=h:1|linger=2h", "linger \"2h\"" },
		/* Found by fuzz_uri: a duration that overflowed 64 bits. */
		{ "ns:udp?endpoint=h:1|nak-delay=66666666666s", "nak-delay \"66666666666s\"" },
		{ "ns:udp?endpoint=h:1|reliable=yes", "reliable \"yes\": true or false" },
		{ "ns:udp?endpoint=h:1|ttl=256", "ttl \"256\": 0 to 255" },
		{ "ns:udp?endpoint=h:1|ttl=-1", "ttl \"-1\"" },
		{ "ns:udp?endpoint=h:1|bogus=1", "unknown parameter \"bogus\" (known: endpoint" },
		{ "ns:udp?endpoint=h:1||mtu=64", "empty parameter" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nsi_uri_parse(bad[i].s, &u, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("\"%s\": got \"%s\", wanted \"%s\"", bad[i].s, err, bad[i].says);
	}
	/* A 255-character host fits; 256 do not. */
	char host[NSI_URI_MAX];
	snprintf(host, sizeof(host), "ns:udp?endpoint=%0255d:1", 0);
	assert_int_equal(nsi_uri_parse(host, &u, err, sizeof(err)), 0);
	snprintf(host, sizeof(host), "ns:udp?endpoint=%0256d:1", 0);
	assert_int_equal(nsi_uri_parse(host, &u, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than 255"));
}

/* Issue 19: multicast groups, multi-destination-cast, flow control and group tags. */
static void
multicast_and_mdc_uris(void **state)
{
	(void)state;
	struct nsi_uri u, v;
	char err[200] = "", buf[NSI_URI_MAX];
	assert_int_equal(nsi_uri_parse("ns:udp?endpoint=239.1.2.3:40456|interface=192.168.0.0/24|"
				       "ttl=4",
				       &u, err, sizeof(err)),
			 0);
	assert_true(u.multicast);
	assert_int_equal(u.fc, 0);
	assert_int_equal(nsi_uri_parse("ns:udp?endpoint=10.0.0.2:1", &u, err, sizeof(err)), 0);
	assert_false(u.multicast);
	assert_int_equal(nsi_uri_parse("aeron:udp?endpoint=224.0.1.1:40456|fc=tagged,g:-7/3,t:2s|"
				       "gtag=9223372036854775807",
				       &u, err, sizeof(err)),
			 0);
	assert_int_equal(u.fc, NSI_URI_FC_TAGGED);
	assert_true(u.fc_has_group_tag);
	assert_true(u.fc_group_tag == -7);
	assert_int_equal(u.fc_group_min, 3);
	assert_true(u.fc_timeout_ns == INT64_C(2000000000));
	assert_true(u.has_gtag && u.gtag == INT64_MAX);
	assert_true(nsi_uri_print(&u, buf, sizeof(buf)) > 0);
	assert_int_equal(nsi_uri_parse(buf, &v, err, sizeof(err)), 0);
	assert_memory_equal(&u, &v, sizeof(u));

	assert_int_equal(nsi_uri_parse("ns:udp?control=10.0.0.1:40457|control-mode=dynamic|fc=min",
				       &u, err, sizeof(err)),
			 0);
	assert_false(u.endpoint.set);
	assert_int_equal(u.control_mode, NSI_URI_CONTROL_DYNAMIC);
	assert_string_equal(u.control.host, "10.0.0.1");
	assert_int_equal(u.control.port, 40457);
	assert_int_equal(u.fc, NSI_URI_FC_MIN);
	assert_int_equal(u.fc_group_min, -1);
	assert_true(nsi_uri_print(&u, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "ns:udp?control=10.0.0.1:40457|control-mode=dynamic|fc=min");

	static const char *const good[] = {
		"ns:udp?control-mode=manual",
		"ns:udp?control-mode=manual|fc=min,g:/2",
		"ns:udp?endpoint=239.1.2.3:1|fc=max,g:/3",
		"ns:udp?endpoint=10.0.0.2:40456|control=10.0.0.1:40457|gtag=-1",
		"ns:udp?endpoint=[ff0e::1:3]:40456|fc=max,t:500ms",
		"ns:udp?endpoint=[ff02::5]:40456|interface=[fe80::1]",
		"ns:udp?endpoint=239.255.255.253:1|fc=min,t:3600s",
		/* Printed in nanoseconds, an hour's linger did not parse back (over 2^40). */
		"ns:udp?endpoint=h:1|linger=3600s|nak-delay=1500us",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (nsi_uri_parse(good[i], &u, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", good[i], err);
		assert_true(nsi_uri_print(&u, buf, sizeof(buf)) > 0);
		assert_int_equal(nsi_uri_parse(buf, &v, err, sizeof(err)), 0);
		assert_memory_equal(&u, &v, sizeof(u));
	}

	static const struct {
		const char *s;
		const char *says;
	} bad[] = {
		{ "ns:udp?endpoint=239.1.2.4:40456", "must end in an odd byte" },
		{ "ns:udp?endpoint=239.1.2.255:40456", "cannot end in 255" },
		{ "ns:udp?endpoint=[ff0e::2]:40456", "must end in an odd byte" },
		{ "ns:udp?endpoint=[ff02::5]:40456", "link-local scope needs interface=" },
		{ "ns:udp?endpoint=10.0.0.2:1|fc=min", "fc applies to multicast endpoints" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=fastest", "fc \"fastest\": unknown strategy" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=tagged", "tagged needs the group's tag" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=tagged,g:x1", "not a 64-bit integer" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=tagged,g:9223372036854775808", "not a 64-bit" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=tagged,g:1/0",
		  "group size after '/' is not 1 to" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=tagged,g:1/x", "group size after '/'" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=min,g:", "g: needs a tag, a /MIN or both" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=min,g:1,g:2", "g: given twice" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=min,t:0", "t: a duration from 1ns to 1h" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=min,t:2h", "t: a duration" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=min,x:1", "options are g:TAG" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=min,", "options are g:TAG" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=max,g:1", "a group tag applies to tagged" },
		{ "ns:udp?endpoint=239.1.2.3:1|fc=max|fc=min", "fc given twice" },
		{ "ns:udp?endpoint=h:1|gtag=1.5", "gtag \"1.5\": a 64-bit integer" },
		{ "ns:udp?endpoint=h:1|gtag=", "has no value" },
		{ "ns:udp?endpoint=h:1|gtag=1|gtag=1", "gtag given twice" },
		{ "ns:udp?control-mode=dynamic", "control-mode=dynamic needs control=host:port" },
		{ "ns:udp?control-mode=auto|control=h:1",
		  "control-mode \"auto\": dynamic or manual" },
		{ "ns:udp?control=h:1", "needs endpoint=host:port (or control-mode=" },
		{ "ns:udp?endpoint=h:1|control=h", "control \"h\": no port" },
		{ "ns:udp?endpoint=h:1|control=h:1/8", "the port is not a number" },
		{ "ns:ipc?fc=min", "fc applies to ns:udp only" },
		{ "ns:ipc?gtag=1", "gtag applies to ns:udp only" },
		{ "ns:ipc?control=h:1", "control applies to ns:udp only" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(nsi_uri_parse(bad[i].s, &u, err, sizeof(err)), -EINVAL);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("\"%s\": got \"%s\", wanted \"%s\"", bad[i].s, err, bad[i].says);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_uris_parse_and_round_trip),
		cmocka_unit_test(bad_uris_name_the_bad_part),
		cmocka_unit_test(udp_uris),
		cmocka_unit_test(multicast_and_mdc_uris),
	};
	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
