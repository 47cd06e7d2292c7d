/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/udp.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h: Linux 4.18 */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* The kernel caps one GSO send at 64 segments. */
#define GSO_MAX_SEGMENTS 64
#define MMSG_MAX	 64

static int fail(char *err, size_t err_len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
	if (err != NULL && err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

int
nsi_udp_resolve(const char *host, int port, struct nsi_udp_addr *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	if (host == NULL || port < 0 || port > 65535)
		return fail(err, err_len, -EINVAL, "no host, or a port out of range");
	/* Literals first: no resolver, no surprise. */
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*v6);
		return 0;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return fail(err, err_len, -EHOSTUNREACH, "cannot resolve \"%.64s\": %s", host,
			    gai_strerror(rc));
	const struct addrinfo *pick = NULL;
	for (const struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		if (a->ai_family == AF_INET) {
			pick = a; /* IPv4 first */
			break;
		}
		if (pick == NULL && a->ai_family == AF_INET6)
			pick = a;
	}
	if (pick == NULL || pick->ai_addrlen > sizeof(out->ss)) {
		freeaddrinfo(res);
		return fail(err, err_len, -EHOSTUNREACH, "\"%.64s\" has no IPv4 or IPv6 address",
			    host);
	}
	memcpy(&out->ss, pick->ai_addr, pick->ai_addrlen);
	out->len = pick->ai_addrlen;
	if (pick->ai_family == AF_INET)
		v4->sin_port = htons((uint16_t)port);
	else
		v6->sin6_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

bool
nsi_udp_addr_equal(const struct nsi_udp_addr *a, const struct nsi_udp_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

int
nsi_udp_addr_port(const struct nsi_udp_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

void
nsi_udp_addr_str(const struct nsi_udp_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (a->ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, host,
			  sizeof(host));
		snprintf(buf, len, "%s:%d", host, nsi_udp_addr_port(a));
	} else if (a->ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host,
			  sizeof(host));
		snprintf(buf, len, "[%s]:%d", host, nsi_udp_addr_port(a));
	} else {
		snprintf(buf, len, "?");
	}
}

/* The size the kernel reports for a buffer option: twice what it accounts as data. */
static int32_t
granted(int fd, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l) != 0)
		return 0;
	return v / 2;
}

int
nsi_udp_open(struct nsi_udp_socket *s, const struct nsi_udp_addr *bind_to, int32_t sndbuf,
	     int32_t rcvbuf, char *err, size_t err_len)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->family = bind_to->ss.ss_family;
	char where[80];
	nsi_udp_addr_str(bind_to, where, sizeof(where));
	int fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, err_len, -errno, "cannot make a UDP socket: %s", strerror(errno));
	/*
	 * No SO_REUSEADDR: for unicast it would let a second socket bind the same endpoint and
	 * take half its datagrams. (Multicast, which needs it, comes with its own open.)
	 */
	s->sndbuf_asked = sndbuf;
	s->rcvbuf_asked = rcvbuf;
	if (sndbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	s->sndbuf_granted = granted(fd, SO_SNDBUF);
	s->rcvbuf_granted = granted(fd, SO_RCVBUF);
	if (bind(fd, (const struct sockaddr *)&bind_to->ss, bind_to->len) != 0) {
		int e = errno;
		close(fd);
		return fail(err, err_len, -e, "cannot bind %s: %s", where, strerror(e));
	}
	/* GSO: the option is accepted on a socket whose kernel cuts segments. */
	int seg = 1024;
	s->gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0;
	if (s->gso) {
		seg = 0; /* per send from now on (a control message), not per socket */
		(void)setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	}
	s->fd = fd;
	return 0;
}

bool
nsi_udp_is_multicast(const struct nsi_udp_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr) >> 28) == 0xe;
	if (a->ss.ss_family == AF_INET6)
		return ((const struct sockaddr_in6 *)&a->ss)->sin6_addr.s6_addr[0] == 0xff;
	return false;
}

int
nsi_udp_multicast_control(const struct nsi_udp_addr *group, struct nsi_udp_addr *control)
{
	if (!nsi_udp_is_multicast(group))
		return -EINVAL;
	*control = *group;
	uint8_t *last = group->ss.ss_family == AF_INET
				? (uint8_t *)&((struct sockaddr_in *)&control->ss)->sin_addr + 3
				: &((struct sockaddr_in6 *)&control->ss)->sin6_addr.s6_addr[15];
	if ((*last & 1) == 0 || *last == 255)
		return -EINVAL;
	(*last)++;
	return 0;
}

/* Whether @a is in @net/@prefix (same family). */
static bool
in_subnet(const struct sockaddr *a, const struct nsi_udp_addr *net, int prefix)
{
	const uint8_t *x, *y;
	int bits;
	if (a->sa_family == AF_INET) {
		x = (const uint8_t *)&((const struct sockaddr_in *)(const void *)a)->sin_addr;
		y = (const uint8_t *)&((const struct sockaddr_in *)&net->ss)->sin_addr;
		bits = 32;
	} else {
		x = ((const struct sockaddr_in6 *)(const void *)a)->sin6_addr.s6_addr;
		y = ((const struct sockaddr_in6 *)&net->ss)->sin6_addr.s6_addr;
		bits = 128;
	}
	if (prefix < 0 || prefix > bits)
		prefix = bits;
	for (int i = 0; i < prefix; i++) {
		uint8_t m = (uint8_t)(0x80u >> (i % 8));
		if ((x[i / 8] & m) != (y[i / 8] & m))
			return false;
	}
	return true;
}

int
nsi_udp_find_iface(const char *host, int prefix, int family, struct nsi_udp_iface *out, char *err,
		   size_t err_len)
{
	struct nsi_udp_addr net;
	memset(out, 0, sizeof(*out));
	int rc = nsi_udp_resolve(host, 0, &net, err, err_len);
	if (rc != 0)
		return rc;
	if (net.ss.ss_family != family)
		return fail(err, err_len, -EINVAL, "interface %s is not of the group's family",
			    host);
	struct ifaddrs *all = NULL;
	if (getifaddrs(&all) != 0)
		return fail(err, err_len, -errno, "cannot list the interfaces: %s",
			    strerror(errno));
	char seen[160] = "";
	size_t used = 0;
	for (const struct ifaddrs *i = all; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family)
			continue;
		if (in_subnet(i->ifa_addr, &net, prefix)) {
			out->index = (int)if_nametoindex(i->ifa_name);
			out->addr.len = family == AF_INET ? sizeof(struct sockaddr_in)
							  : sizeof(struct sockaddr_in6);
			memcpy(&out->addr.ss, i->ifa_addr, out->addr.len);
			freeifaddrs(all);
			return out->index > 0 ? 0
					      : fail(err, err_len, -ENODEV,
						     "interface of %s has no index", host);
		}
		char a[INET6_ADDRSTRLEN] = "?";
		inet_ntop(family,
			  family == AF_INET
				  ? (const void *)&(
					    (const struct sockaddr_in *)(const void *)i->ifa_addr)
					    ->sin_addr
				  : (const void *)&(
					    (const struct sockaddr_in6 *)(const void *)i->ifa_addr)
					    ->sin6_addr,
			  a, sizeof(a));
		int n = snprintf(seen + used, sizeof(seen) - used, "%s%s %s", used ? ", " : "",
				 i->ifa_name, a);
		if (n > 0 && (size_t)n < sizeof(seen) - used)
			used += (size_t)n;
	}
	freeifaddrs(all);
	return fail(err, err_len, -ENODEV,
		    "no local interface has %s %s%s%d (this machine has: %s)",
		    prefix >= 0 ? "an address in" : "the address", host, prefix >= 0 ? "/" : "",
		    prefix >= 0 ? prefix : 0, used ? seen : "none");
}

/* The interface the routing table picks for @group (a UDP connect looks it up). */
static int
routed_iface(const struct nsi_udp_addr *group, struct nsi_udp_iface *out)
{
	int fd = socket(group->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)&group->ss, group->len) == 0 ? 0 : -errno;
	close(fd);
	memset(out, 0, sizeof(*out)); /* index 0: the kernel's choice */
	return rc;
}

int
nsi_udp_open_multicast(struct nsi_udp_socket *s, const struct nsi_udp_addr *group,
		       const struct nsi_udp_iface *iface, int ttl, int32_t sndbuf, int32_t rcvbuf,
		       char *err, size_t err_len)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	char where[80];
	nsi_udp_addr_str(group, where, sizeof(where));
	if (!nsi_udp_is_multicast(group))
		return fail(err, err_len, -EINVAL, "%s is not a multicast group", where);
	struct nsi_udp_iface routed;
	if (iface == NULL) {
		int rc = routed_iface(group, &routed);
		if (rc != 0)
			return fail(err, err_len, rc,
				    "no route to the multicast group %s (%s): give interface=",
				    where, strerror(-rc));
		iface = &routed;
	}
	bool v4 = group->ss.ss_family == AF_INET;
	int fd = socket(group->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, err_len, -errno, "cannot make a UDP socket: %s", strerror(errno));
	int one = 1, zero = 0, rc = 0;
	const char *what = "SO_REUSEADDR";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto failed;
	if (sndbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	s->sndbuf_asked = sndbuf;
	s->rcvbuf_asked = rcvbuf;
	s->sndbuf_granted = granted(fd, SO_SNDBUF);
	s->rcvbuf_granted = granted(fd, SO_RCVBUF);
	what = "bind";
	if (bind(fd, (const struct sockaddr *)&group->ss, group->len) != 0)
		goto failed;
	if (v4) {
		struct ip_mreqn m = { .imr_multiaddr =
					      ((const struct sockaddr_in *)&group->ss)->sin_addr,
				      .imr_ifindex = iface->index };
		if (iface->addr.len > 0)
			m.imr_address = ((const struct sockaddr_in *)&iface->addr.ss)->sin_addr;
		what = "joining the group";
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof(m)) != 0)
			goto failed;
		what = "IP_MULTICAST_IF";
		if (iface->index > 0 &&
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m)) != 0)
			goto failed;
		what = "IP_MULTICAST_TTL";
		if (ttl >= 0 &&
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) != 0)
			goto failed;
		(void)setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one));
		/* Only the groups this socket joined, not every group of the machine. */
		(void)setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
	} else {
		struct ipv6_mreq m = { .ipv6mr_multiaddr =
					       ((const struct sockaddr_in6 *)&group->ss)->sin6_addr,
				       .ipv6mr_interface = (unsigned)iface->index };
		what = "joining the group";
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof(m)) != 0)
			goto failed;
		what = "IPV6_MULTICAST_IF";
		if (iface->index > 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF,
						   &iface->index, sizeof(iface->index)) != 0)
			goto failed;
		what = "IPV6_MULTICAST_HOPS";
		if (ttl >= 0 &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl)) != 0)
			goto failed;
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof(one));
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero));
	}
	s->fd = fd;
	s->family = group->ss.ss_family;
	int seg = 1024;
	s->gso = setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0;
	if (s->gso) {
		seg = 0;
		(void)setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg));
	}
	return 0;
failed:
	rc = -errno;
	close(fd);
	return fail(err, err_len, rc, "multicast group %s: %s failed: %s", where, what,
		    strerror(-rc));
}

void
nsi_udp_close(struct nsi_udp_socket *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

int
nsi_udp_local(const struct nsi_udp_socket *s, struct nsi_udp_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->len = sizeof(out->ss);
	if (getsockname(s->fd, (struct sockaddr *)&out->ss, &out->len) != 0)
		return -errno;
	return 0;
}

int
nsi_udp_send(const struct nsi_udp_socket *s, const struct nsi_udp_addr *to, const struct iovec *iov,
	     int iovcnt)
{
	struct msghdr m = { .msg_name = (void *)&to->ss,
			    .msg_namelen = to->len,
			    .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)iovcnt };
	ssize_t n = sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -errno;
}

static int
send_gso(const struct nsi_udp_socket *s, const struct nsi_udp_addr *to, const uint8_t *buf,
	 size_t count, size_t segment)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = count };
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct msghdr m = { .msg_name = (void *)&to->ss,
			    .msg_namelen = to->len,
			    .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	uint16_t seg = (uint16_t)segment;
	memcpy(CMSG_DATA(c), &seg, sizeof(seg));
	ssize_t n = sendmsg(s->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? 0 : -errno;
}

int
nsi_udp_send_segments(struct nsi_udp_socket *s, const struct nsi_udp_addr *to, const uint8_t *buf,
		      size_t count, size_t segment)
{
	if (segment == 0 || segment > 65507 || count == 0)
		return -EINVAL;
	size_t segments = (count + segment - 1) / segment;
	if (s->gso && segments > 1 && segments <= GSO_MAX_SEGMENTS && count <= 65000) {
		int rc = send_gso(s, to, buf, count, segment);
		if (rc != -EIO && rc != -EINVAL && rc != -EMSGSIZE)
			return rc;
		/*
		 * A device without GSO, or segments longer than the path's MTU (GSO never
		 * fragments; single datagrams may be): this socket sends without it from now.
		 */
		s->gso = false;
	}
	struct mmsghdr msgs[MMSG_MAX];
	struct iovec iov[MMSG_MAX];
	size_t done = 0;
	while (done < count) {
		int k = 0;
		for (size_t at = done; at < count && k < MMSG_MAX; at += segment, k++) {
			size_t len = count - at < segment ? count - at : segment;
			iov[k] = (struct iovec){ .iov_base = (void *)(buf + at), .iov_len = len };
			msgs[k] = (struct mmsghdr){ .msg_hdr = { .msg_name = (void *)&to->ss,
								 .msg_namelen = to->len,
								 .msg_iov = &iov[k],
								 .msg_iovlen = 1 } };
		}
		int sent = sendmmsg(s->fd, msgs, (unsigned)k, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				break;
			return done > 0 ? (int)done : -errno;
		}
		for (int i = 0; i < sent; i++)
			done += iov[i].iov_len;
		if (sent < k)
			break;
	}
	return (int)done;
}

int
nsi_udp_recv(const struct nsi_udp_socket *s, struct nsi_udp_dgram *d, int n)
{
	struct mmsghdr msgs[MMSG_MAX];
	struct iovec iov[MMSG_MAX];
	if (n <= 0)
		return 0;
	if (n > MMSG_MAX)
		n = MMSG_MAX;
	/*
	 * The first with recvfrom(): on an empty socket (a spinning driver asks all the time)
	 * it costs less than recvmmsg, which sets up its whole vector first. MSG_TRUNC: the
	 * datagram's real length, to tell a cut one.
	 */
	socklen_t alen = sizeof(d[0].from.ss);
	ssize_t first = recvfrom(s->fd, d[0].buf, d[0].cap, MSG_DONTWAIT | MSG_TRUNC,
				 (struct sockaddr *)&d[0].from.ss, &alen);
	if (first < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	d[0].from.len = alen;
	d[0].len = (size_t)first > d[0].cap ? d[0].cap + 1 : (size_t)first;
	d++;
	n--;
	if (n == 0)
		return 1;
	for (int i = 0; i < n; i++) {
		iov[i] = (struct iovec){ .iov_base = d[i].buf, .iov_len = d[i].cap };
		msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &d[i].from.ss,
							 .msg_namelen = sizeof(d[i].from.ss),
							 .msg_iov = &iov[i],
							 .msg_iovlen = 1 } };
	}
	int got = recvmmsg(s->fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
	if (got < 0)
		return 1; /* the first one; the rest next time */
	for (int i = 0; i < got; i++) {
		d[i].from.len = msgs[i].msg_hdr.msg_namelen;
		d[i].len = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 ? d[i].cap + 1
									: msgs[i].msg_len;
	}
	return got + 1;
}
