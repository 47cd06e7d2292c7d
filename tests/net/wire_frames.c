/* SPDX-License-Identifier: MIT */
/*
 * Sends one datagram per kind of frame, written by src/net/wire.c, to 127.0.0.1:PORT, so that
 * tests/net/wire-tshark.py can capture them and have Wireshark's Aeron dissector read them.
 * Prints one line per frame with the fields it sent: "KIND key=value ...".
 * usage: wire_frames PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/wire.h"

static int fd;
static struct sockaddr_in to;

static void
send_dgram(const uint8_t *buf, size_t len)
{
	if (sendto(fd, buf, len, 0, (const struct sockaddr *)&to, sizeof(to)) != (ssize_t)len) {
		perror("wire_frames: sendto");
		exit(1);
	}
	usleep(2000); /* keep them in order and apart in the capture */
}

int
main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)atoi(argv[1]));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	uint8_t buf[2048];
	const int32_t session = 0x1234567, stream = 1001, initial = 77, term_length = 65536;

	struct nsi_frame f = { .session_id = session, .stream_id = stream };
	f.u.setup.term_offset = 0;
	f.u.setup.initial_term_id = initial;
	f.u.setup.active_term_id = initial;
	f.u.setup.term_length = term_length;
	f.u.setup.mtu = 1408;
	f.u.setup.ttl = 0;
	send_dgram(buf, nsi_wire_put_setup(buf, sizeof(buf), &f));
	printf("setup session_id=%d stream_id=%d initial_term_id=%d active_term_id=%d "
	       "term_length=%d mtu=%d term_offset=0\n",
	       session, stream, initial, initial, term_length, 1408);

	/* Two data frames in one datagram (the second at the next multiple of 32). */
	memset(buf, 0, sizeof(buf));
	memset(&f.u, 0, sizeof(f.u));
	f.flags = NSI_FLAG_UNFRAGMENTED;
	f.u.data.term_id = initial;
	f.u.data.term_offset = 0;
	size_t n = nsi_wire_put_data(buf, sizeof(buf), &f, "first message", 13);
	size_t at = (n + 31) & ~(size_t)31;
	f.u.data.term_offset = (int32_t)at;
	n = nsi_wire_put_data(buf + at, sizeof(buf) - at, &f, "second", 6);
	send_dgram(buf, at + n);
	printf("data session_id=%d stream_id=%d term_id=%d term_offset=0 frame_length=45\n",
	       session, stream, initial);
	printf("data session_id=%d stream_id=%d term_id=%d term_offset=%zu frame_length=38\n",
	       session, stream, initial, at);

	/* A fragmented message: begin, then end. */
	f.flags = NSI_FLAG_BEGIN;
	f.u.data.term_offset = 128;
	n = nsi_wire_put_data(buf, sizeof(buf), &f, "frag-one", 8);
	send_dgram(buf, n);
	printf("data session_id=%d stream_id=%d term_id=%d term_offset=128 frame_length=40\n",
	       session, stream, initial);
	f.flags = NSI_FLAG_END;
	f.u.data.term_offset = 192;
	n = nsi_wire_put_data(buf, sizeof(buf), &f, "frag-two", 8);
	send_dgram(buf, n);
	printf("data session_id=%d stream_id=%d term_id=%d term_offset=192 frame_length=40\n",
	       session, stream, initial);

	/* Padding to the end of the term, then a heartbeat in the next term with end of stream. */
	f.flags = 0;
	f.u.data.term_offset = 256;
	f.frame_length = term_length - 256;
	send_dgram(buf, nsi_wire_put_pad(buf, sizeof(buf), &f));
	printf("pad session_id=%d stream_id=%d term_id=%d term_offset=256 frame_length=%d\n",
	       session, stream, initial, term_length - 256);
	f.flags = NSI_FLAG_UNFRAGMENTED | NSI_FLAG_END_OF_STREAM;
	f.u.data.term_id = initial + 1;
	f.u.data.term_offset = 0;
	send_dgram(buf, nsi_wire_put_heartbeat(buf, sizeof(buf), &f));
	printf("heartbeat session_id=%d stream_id=%d term_id=%d term_offset=0 frame_length=0\n",
	       session, stream, initial + 1);

	/* Status messages: plain (asking for a setup) and with a group tag. */
	memset(&f.u, 0, sizeof(f.u));
	f.flags = NSI_SM_F_SEND_SETUP;
	f.u.sm.term_id = initial;
	f.u.sm.term_offset = 192;
	f.u.sm.window = 32768;
	f.u.sm.receiver_id = 424242;
	send_dgram(buf, nsi_wire_put_sm(buf, sizeof(buf), &f));
	printf("sm session_id=%d stream_id=%d consumption_term_id=%d consumption_term_offset=192 "
	       "receiver_window=32768 receiver_id=424242 frame_length=36\n",
	       session, stream, initial);
	f.flags = 0;
	f.u.sm.has_group_tag = true;
	f.u.sm.group_tag = 99;
	send_dgram(buf, nsi_wire_put_sm(buf, sizeof(buf), &f));
	printf("sm session_id=%d stream_id=%d consumption_term_id=%d consumption_term_offset=192 "
	       "receiver_window=32768 receiver_id=424242 frame_length=44\n",
	       session, stream, initial);

	memset(&f.u, 0, sizeof(f.u));
	f.u.nak.term_id = initial;
	f.u.nak.term_offset = 64;
	f.u.nak.length = 64;
	send_dgram(buf, nsi_wire_put_nak(buf, sizeof(buf), &f));
	printf("nak session_id=%d stream_id=%d term_id=%d term_offset=64 length=64\n", session,
	       stream, initial);

	memset(&f.u, 0, sizeof(f.u));
	f.flags = NSI_RTTM_F_REPLY;
	f.u.rttm.echo_timestamp = 1000000007;
	f.u.rttm.reception_delta = 0;
	f.u.rttm.receiver_id = 424242;
	send_dgram(buf, nsi_wire_put_rttm(buf, sizeof(buf), &f));
	printf("rtt session_id=%d stream_id=%d echo_timestamp=1000000007 reception_delta=0 "
	       "receiver_id=424242\n",
	       session, stream);
	f.flags = 0;
	f.u.rttm.reception_delta = 5000;
	send_dgram(buf, nsi_wire_put_rttm(buf, sizeof(buf), &f));
	printf("rtt session_id=%d stream_id=%d echo_timestamp=1000000007 reception_delta=5000 "
	       "receiver_id=424242\n",
	       session, stream);

	memset(&f.u, 0, sizeof(f.u));
	f.flags = 0;
	f.u.err.receiver_id = 424242;
	f.u.err.code = 1;
	f.u.err.text = "no such stream";
	f.u.err.text_length = 14;
	send_dgram(buf, nsi_wire_put_err(buf, sizeof(buf), &f));
	printf("err session_id=%d stream_id=%d frame_length=54\n", session, stream);
	close(fd);
	return 0;
}
