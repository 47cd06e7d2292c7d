/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <nanostream/common.h>
#include <nanostream/memory.h>

#include "util/cpu.h"

const char *
ns_strerror(int code)
{
	if (code == INT32_MIN)
		return "Unknown error";
	if (code < 0)
		code = -code;
	switch (code) {
	case 0:
		return "Success";
	case EAGAIN:
		return "No room now (back-pressure): retry or wait";
	case ETIMEDOUT:
		return "Deadline passed before the operation could complete";
	case ESHUTDOWN:
		return "Halted: the ring or consumer no longer accepts work";
	case EINVAL:
		return "Invalid argument";
	case ECANCELED:
		return "Cancelled";
	case EALREADY:
		return "Already running or stopped";
	case EBUSY:
		return "Busy: no free consumer place on the ring, or a client with open "
		       "publications or subscriptions";
	case ENOMEM:
		return "Out of memory (or, under NS_MEM_HUGE, no huge pages to be had)";
	case ERANGE:
		return "Out of range (for huge pages: the memory is smaller than one huge page)";
	case EOPNOTSUPP:
		return "Not supported (for huge pages: no source available on this system)";
	case ENOTCONN:
		return "Not connected: the publication has no subscriber (nothing was sent)";
	case EINPROGRESS:
		return "Admin action: the log moved to its next term; retry at once";
	case EPIPE:
		return "Publication closed: the driver ended its stream";
	case EOVERFLOW:
		return "Max position exceeded: the stream reached the largest position of its log";
	case EMSGSIZE:
		return "Message too long for this publication (offers: ns_publication_max_message; "
		       "a try-claim: one frame, ns_publication_max_payload)";
	case ECONNREFUSED:
		return "No media driver runs in the directory (and none may be started)";
	case EPROTO:
		return "Not a media driver's file (or a corrupt one)";
	case EPROTONOSUPPORT:
		return "The directory's media driver is of another major version";
	case EHOSTDOWN:
		return "The media driver stopped (its heartbeat is too old): create a new client";
	case EBADMSG:
		return "Corrupt shared memory: the log or driver file holds impossible values (it "
		       "was damaged, truncated or forged)";
	case EPERM:
		return "Not permitted: a file or directory belongs to another user or is open to "
		       "others";
	default:
		break;
	}
	const char *s = strerrordesc_np(code);
	return s != NULL ? s : "Unknown error";
}

const char *
ns_mem_source_name(uint32_t source)
{
	switch (source) {
	case NS_MEM_SRC_NORMAL:
		return "normal";
	case NS_MEM_SRC_LIBHUGETLBFS:
		return "libhugetlbfs";
	case NS_MEM_SRC_MAP_HUGETLB:
		return "MAP_HUGETLB";
	case NS_MEM_SRC_THP:
		return "THP";
	case NS_MEM_SRC_USER:
		return "user";
	default:
		return "unknown";
	}
}

const char *
ns_version(void)
{
	return NS_VERSION_STRING;
}

uint32_t
ns_version_number(void)
{
	return NS_VERSION_NUMBER;
}

int64_t
ns_clock_ns(void)
{
	return nsi_clock_ns();
}
