/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target (docs/testing.md A2): channel URIs. Any input parses or is refused with a
 * message; what parses round-trips: parse(print(parse(s))) == parse(s).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[NSI_URI_MAX + 64], err[160], buf[NSI_URI_MAX];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, n);
	s[n] = '\0';
	struct nsi_uri u, v;
	if (nsi_uri_parse(s, &u, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort(); /* a refusal always says why */
		return 0;
	}
	if (nsi_uri_print(&u, buf, sizeof(buf)) < 0 ||
	    nsi_uri_parse(buf, &v, err, sizeof(err)) != 0 || memcmp(&u, &v, sizeof(u)) != 0)
		abort();
	return 0;
}
