/*
 * floor: the least a program can do to count TCP sockets per state through
 * sock_diag, the "C floor" sockscan is measured against.
 *
 *   floor [--mode onepass|v2] [--states MASK] [--netns NAME] [--repeat N] [--capture FILE]
 *
 * --mode v2 (default onepass) sends two SOCK_DIAG_BY_FAMILY requests with
 * struct inet_diag_req_v2, AF_INET then AF_INET6: two walks of the hash.
 * --mode onepass sends one legacy TCPDIAG_GETSOCK request (struct
 * inet_diag_req), which the kernel serves for AF_UNSPEC: one walk returns both
 * families. MASK is idiag_states (1 << state; default 0xfff, all states).
 *
 * One socket, one 32 KiB receive buffer reused for every batch (the kernel
 * fills a batch up to about 32 KiB), no allocation per batch or socket. Errors
 * are checked in NLMSG_ERROR and in the errno NLMSG_DONE may carry.
 * Prints the counts, the time from the first request to the last NLMSG_DONE
 * (elapsed_ms) and the CPU time the process spent meanwhile (cpu_ms, user+sys:
 * the kernel builds the dump in our recvmsg calls), which waiting for a busy
 * core does not inflate.
 * --capture FILE appends every datagram received, as the kernel sent it, to
 * FILE (the fixtures of the micro-benchmarks: InetDiagDump.parse reads them).
 *
 * Build: gcc -O2 -Wall -o floor floor.c -lmnl
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

#include <libmnl/libmnl.h>

#define BUFFER_SIZE 32768

static const char *const state_names[16] = {
	"unknown", "established", "syn-sent", "syn-recv", "fin-wait-1", "fin-wait-2", "time-wait", "close",
	"close-wait", "last-ack", "listen", "closing", "new-syn-recv", "bound-inactive", "s14", "s15",
};

struct totals {
	uint64_t by_state[16];
	uint64_t messages, batches, bytes;
};

/* Where --capture writes the datagrams, or NULL. */
static FILE *capture;

/* User+sys CPU time of the process, ms. */
static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(err));
	exit(1);
}

static void send_request(struct mnl_socket *nl, uint16_t type, const void *req, size_t len, uint32_t seq)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	memcpy(mnl_nlmsg_put_extra_header(nlh, len), req, len);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		die("sendto", errno);
}

/* Receives one dump to its end, counting sockets per state. */
static void receive_dump(struct mnl_socket *nl, uint8_t *buf, uint32_t seq, struct totals *t)
{
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, BUFFER_SIZE);
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recvfrom", errno);
		}
		if (n == 0)
			die("recvfrom", ENODATA);
		t->batches++;
		t->bytes += (uint64_t)n;
		if (capture && fwrite(buf, 1, (size_t)n, capture) != (size_t)n)
			die("write capture", errno);
		len = (int)n;
		for (; mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_seq != seq)
				die("reply to another request", EPROTO);
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

				if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(e->error))
					die("short NLMSG_ERROR", EBADMSG);
				if (e->error < 0)
					die("dump (NLMSG_ERROR)", -e->error);
				return;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				int err = 0;

				if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
					memcpy(&err, mnl_nlmsg_get_payload(h), sizeof(err));
				if (err < 0)
					die("dump (NLMSG_DONE)", -err);
				return;
			}
			if (h->nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			if (h->nlmsg_len < NLMSG_HDRLEN + sizeof(struct inet_diag_msg))
				die("short inet_diag_msg", EBADMSG);
			t->by_state[((const struct inet_diag_msg *)mnl_nlmsg_get_payload(h))->idiag_state & 15]++;
			t->messages++;
		}
		if (len > 0)
			die("truncated message", EBADMSG);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "states", required_argument, NULL, 's' },
		{ "netns", required_argument, NULL, 'n' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "capture", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static uint8_t buf[BUFFER_SIZE];
	const char *mode = "onepass", *netns = NULL, *capture_path = NULL;
	uint32_t states = 0xfff, seq = 0;
	long repeat = 1, r;
	int c, onepass, s;
	struct mnl_socket *nl;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': mode = optarg; break;
		case 's': states = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': netns = optarg; break;
		case 'r': repeat = strtol(optarg, NULL, 10); break;
		case 'c': capture_path = optarg; break;
		default:
			fprintf(stderr, "usage: floor [--mode onepass|v2] [--states MASK] [--netns NAME] [--repeat N]"
					" [--capture FILE]\n");
			return c == 'h' ? 0 : 64;
		}
	}
	onepass = strcmp(mode, "onepass") == 0;
	if ((!onepass && strcmp(mode, "v2") != 0) || repeat < 1 || repeat > 1000 || optind < argc) {
		fprintf(stderr, "floor: bad arguments (--mode onepass|v2, --repeat 1..1000)\n");
		return 64;
	}
	if (netns) {
		char path[4096];
		int fd;

		snprintf(path, sizeof(path), strchr(netns, '/') ? "%s" : "/run/netns/%s", netns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(path, errno);
		if (setns(fd, CLONE_NEWNET) < 0)
			die("setns", errno);
		close(fd);
	}
	if (capture_path) {
		capture = fopen(capture_path, "we");
		if (!capture)
			die(capture_path, errno);
	}
	nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	if (!nl)
		die("socket NETLINK_SOCK_DIAG", errno);
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("bind", errno);

	for (r = 0; r < repeat; r++) {
		struct totals t;
		struct timespec a, b;
		uint64_t total = 0;
		double c0;

		memset(&t, 0, sizeof(t));
		c0 = cpu_ms();
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (onepass) {
			struct inet_diag_req req;

			memset(&req, 0, sizeof(req));
			req.idiag_family = AF_INET; /* served as AF_UNSPEC: both families */
			req.idiag_states = states;
			req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
			req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
			send_request(nl, TCPDIAG_GETSOCK, &req, sizeof(req), ++seq);
			receive_dump(nl, buf, seq, &t);
		} else {
			static const uint8_t families[2] = { AF_INET, AF_INET6 };
			int f;

			for (f = 0; f < 2; f++) {
				struct inet_diag_req_v2 req;

				memset(&req, 0, sizeof(req));
				req.sdiag_family = families[f];
				req.sdiag_protocol = IPPROTO_TCP;
				req.idiag_states = states;
				req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
				req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
				send_request(nl, SOCK_DIAG_BY_FAMILY, &req, sizeof(req), ++seq);
				receive_dump(nl, buf, seq, &t);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("mode=%s", mode);
		for (s = 0; s < 16; s++) {
			total += t.by_state[s];
			if (t.by_state[s])
				printf(" %s=%llu", state_names[s], (unsigned long long)t.by_state[s]);
		}
		printf(" total=%llu batches=%llu bytes=%llu elapsed_ms=%.3f cpu_ms=%.3f\n", (unsigned long long)total,
		       (unsigned long long)t.batches, (unsigned long long)t.bytes,
		       (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6, cpu_ms() - c0);
	}
	mnl_socket_close(nl);
	if (capture && fclose(capture) != 0)
		die("close capture", errno);
	return 0;
}
