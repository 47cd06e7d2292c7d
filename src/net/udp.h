/* SPDX-License-Identifier: MIT */
#ifndef NSI_NET_UDP_H
#define NSI_NET_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/*
 * UDP sockets for the driver: address resolution, non-blocking sockets with the buffer sizes
 * asked for (and what the kernel granted, which net.core.rmem_max / wmem_max cap), batched
 * sends and receives (sendmmsg, recvmmsg), and UDP GSO (UDP_SEGMENT: one send call, the
 * kernel cuts it into datagrams) where the kernel has it, with a plain fallback.
 */

struct nsi_udp_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * Resolve @host (an IPv4 or IPv6 literal, or a name) and @port into @out; IPv4 first when a
 * name has both. Returns 0, or -EINVAL / -EHOSTUNREACH with the reason in @err.
 */
int nsi_udp_resolve(const char *host, int port, struct nsi_udp_addr *out, char *err,
		    size_t err_len);

/* "host:port" (IPv6 in brackets) for logs and counters' labels. */
void nsi_udp_addr_str(const struct nsi_udp_addr *a, char *buf, size_t len);

/* Whether @a and @b are the same address and port (IPv4 or IPv6; other families: never). */
bool nsi_udp_addr_equal(const struct nsi_udp_addr *a, const struct nsi_udp_addr *b);

/* The port of an address (host order). */
int nsi_udp_addr_port(const struct nsi_udp_addr *a);

struct nsi_udp_socket {
	int fd;
	int family;
	int32_t sndbuf_asked, rcvbuf_asked;	/* 0: the kernel's default */
	int32_t sndbuf_granted, rcvbuf_granted; /* what the kernel says it gives */
	bool gso;				/* UDP_SEGMENT works on this socket */
};

/*
 * A non-blocking datagram socket of @bind_to's family, bound to it (port 0: any), with the
 * buffer sizes asked (0: default). Returns 0, or -errno with the reason in @err (the address
 * in use, no such local address, ...).
 */
int nsi_udp_open(struct nsi_udp_socket *s, const struct nsi_udp_addr *bind_to, int32_t sndbuf,
		 int32_t rcvbuf, char *err, size_t err_len);
void nsi_udp_close(struct nsi_udp_socket *s);

/* The address the socket is bound to (its port when 0 was asked). 0 or -errno. */
int nsi_udp_local(const struct nsi_udp_socket *s, struct nsi_udp_addr *out);

/*
 * Send one datagram of @iovcnt pieces to @to. Returns the bytes sent, 0 when the socket's
 * buffer is full (try later), or -errno.
 */
int nsi_udp_send(const struct nsi_udp_socket *s, const struct nsi_udp_addr *to,
		 const struct iovec *iov, int iovcnt);

/*
 * Send @count bytes at @buf to @to as datagrams of @segment bytes each (the last may be
 * shorter): one call with UDP GSO when the socket has it, else one sendmmsg of them all. A
 * socket whose GSO send fails for the device or the path (segments over its MTU) loses its
 * gso flag and sends with sendmmsg from then on.
 * Returns the bytes handed to the kernel (whole datagrams; 0: buffer full), or -errno.
 */
int nsi_udp_send_segments(struct nsi_udp_socket *s, const struct nsi_udp_addr *to,
			  const uint8_t *buf, size_t count, size_t segment);

/* ---- multicast ---- */

/* Whether @a is a multicast group (IPv4 224.0.0.0/4, IPv6 ff00::/8). */
bool nsi_udp_is_multicast(const struct nsi_udp_addr *a);

/*
 * A group's control address, where its receivers send status messages and NAKs: the group
 * with its last byte one more (the group's must be odd), same port. 0 or -EINVAL.
 */
int nsi_udp_multicast_control(const struct nsi_udp_addr *group, struct nsi_udp_addr *control);

/* A local interface: its index and an address of @family on it. */
struct nsi_udp_iface {
	int index;
	struct nsi_udp_addr addr;
};

/*
 * The local interface of @family that has the address @host, or with @prefix >= 0 an address
 * in the subnet @host/@prefix (getifaddrs). Returns 0, or -ENODEV / -EINVAL with the reason
 * in @err (which addresses the machine has, when none matches).
 */
int nsi_udp_find_iface(const char *host, int prefix, int family, struct nsi_udp_iface *out,
		       char *err, size_t err_len);

/*
 * A socket for the group @group: bound to the group's address and port (SO_REUSEADDR, so
 * that several receivers and publishers of one machine share it), a member of the group on
 * @iface (NULL: the interface the routing table picks for the group, or -ENETUNREACH when
 * there is none: give interface=), sending to groups through that interface with @ttl hops
 * (< 0: the kernel's default, 1) and looped back to local members. 0 or -errno with the
 * reason in @err.
 */
int nsi_udp_open_multicast(struct nsi_udp_socket *s, const struct nsi_udp_addr *group,
			   const struct nsi_udp_iface *iface, int ttl, int32_t sndbuf,
			   int32_t rcvbuf, char *err, size_t err_len);

/* One received datagram (filled by nsi_udp_recv). */
struct nsi_udp_dgram {
	uint8_t *buf;
	size_t cap;
	size_t len;
	struct nsi_udp_addr from;
};

/*
 * Receive up to @n datagrams without waiting (recvfrom, then recvmmsg for the rest). Returns how many (0: none
 * waiting), or -errno. A datagram longer than its buffer is cut: its len is then cap + 1, for
 * the caller to drop and count.
 */
int nsi_udp_recv(const struct nsi_udp_socket *s, struct nsi_udp_dgram *d, int n);

#endif /* NSI_NET_UDP_H */
