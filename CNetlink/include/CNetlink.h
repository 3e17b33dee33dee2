/*
 * CNetlink: the thin C side of SockScan.
 *
 * It opens NETLINK_SOCK_DIAG sockets (through libmnl), builds inet_diag dump
 * requests (fixed arrays are awkward in Swift), walks the netlink messages of a
 * dump on one reused buffer with the checks libmnl's mnl_cb_run leaves out, and
 * enters network namespaces. Parsing of struct inet_diag_msg and its attributes
 * happens in Swift on the borrowed buffer.
 */
#ifndef CNETLINK_H
#define CNETLINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

#include <libmnl/libmnl.h>

/* The receive buffer of a dump. The kernel fills each batch up to
 * SKB_WITH_OVERHEAD(32768) bytes; a larger buffer gains nothing. */
#define CNL_DUMP_BUFFER_SIZE 32768

/* Largest request we build: header, legacy request and a bytecode attribute. */
#define CNL_REQUEST_BUFFER_SIZE 8192

/* Largest INET_DIAG_REQ_BYTECODE program we send. */
#define CNL_BYTECODE_MAX 4096

/* cnl_dump.flags */
#define CNL_DUMP_F_DONE 0x1      /* NLMSG_DONE (or a terminating NLMSG_ERROR) was seen */
#define CNL_DUMP_F_INTR 0x2      /* a message carried NLM_F_DUMP_INTR: the table changed mid-dump */
#define CNL_DUMP_F_MALFORMED 0x4 /* the error returned is ours: a message failed a bounds check */
#define CNL_DUMP_F_ENDED 0x8     /* the kernel ended the dump (NLMSG_DONE or NLMSG_ERROR): the socket is in step */

/* Which request format cnl_inet_diag_request_build writes. */
enum cnl_request_kind {
	/* SOCK_DIAG_BY_FAMILY with struct inet_diag_req_v2: one family, one protocol. */
	CNL_REQUEST_V2 = 0,
	/* TCPDIAG_GETSOCK with struct inet_diag_req: served for AF_UNSPEC, so one
	 * hash walk returns IPv4 and IPv6 TCP sockets. TCP only. */
	CNL_REQUEST_LEGACY_TCP = 1,
};

/* What to dump. Ports are in host byte order; 0 means any. */
struct cnl_inet_diag_request {
	enum cnl_request_kind kind;
	uint8_t family;    /* AF_INET or AF_INET6 (ignored by the legacy request) */
	uint8_t protocol;  /* IPPROTO_TCP or IPPROTO_UDP (legacy: TCP only) */
	uint8_t ext;       /* idiag_ext: 1 << (INET_DIAG_x - 1) bits */
	uint32_t states;   /* idiag_states: 1 << TCP state bits */
	uint16_t sport;    /* id.idiag_sport: exact local port, 0 = any */
	uint16_t dport;    /* id.idiag_dport: exact remote port, 0 = any */
	const void *bytecode; /* INET_DIAG_REQ_BYTECODE program or NULL */
	uint32_t bytecode_len;
};

/* Walk state of one dump. Lives on the caller's stack; the buffer is the caller's. */
struct cnl_dump {
	struct mnl_socket *nl; /* NULL when walking fixed bytes (tests) */
	uint32_t seq;
	uint32_t portid;
	uint8_t *buf;
	size_t cap;
	size_t len;          /* bytes valid in buf */
	size_t off;          /* next message in buf */
	uint32_t flags;      /* CNL_DUMP_F_* */
	uint64_t batches;    /* datagrams received */
	uint64_t bytes;      /* bytes received */
	uint64_t consumed;   /* bytes walked before the current batch (offsets for errors) */
	uint64_t error_offset; /* byte offset of the message an error refers to */
	uint32_t error_needed; /* with CNL_DUMP_F_MALFORMED: the bytes the message claimed or needed */
	uint32_t error_available; /* with CNL_DUMP_F_MALFORMED: the bytes that were left */
};

/*
 * Opens a NETLINK_SOCK_DIAG socket bound to an automatic port id in the
 * calling thread's network namespace (where it stays).
 * Returns the socket, or NULL with errno set.
 */
struct mnl_socket *cnl_sock_diag_open(void);

/* Closes a socket from cnl_sock_diag_open. */
void cnl_sock_diag_close(struct mnl_socket *nl);

/*
 * Writes a dump request (netlink header, request struct, optional bytecode
 * attribute) into buf with sequence number seq.
 * Returns its length, or -EINVAL (bad kind, family or protocol; bytecode_len
 * without bytecode), -E2BIG (bytecode too long) or -ENOSPC (buf too small).
 */
int cnl_inet_diag_request_build(void *buf, size_t cap, const struct cnl_inet_diag_request *req, uint32_t seq);

/*
 * Sends a request built by cnl_inet_diag_request_build.
 * Returns 0, or -errno (EINTR is retried here).
 */
int cnl_sock_diag_send(struct mnl_socket *nl, const void *req, size_t len);

/* Starts walking a dump whose request carried seq, receiving into buf. */
void cnl_dump_begin(struct cnl_dump *d, struct mnl_socket *nl, uint32_t seq, void *buf, size_t cap);

/* Starts walking fixed bytes as if they were one received batch (parser tests). */
void cnl_dump_begin_bytes(struct cnl_dump *d, const void *bytes, size_t len, uint32_t seq, uint32_t portid);

/*
 * Steps to the next data message of the dump, receiving a new batch when the
 * current one is used up. Checks every header's length, sequence number and
 * port id; NLMSG_ERROR ends the dump with its errno; NLMSG_DONE ends it with
 * the errno its payload may carry (which mnl_cb_run ignores, so that a failed
 * dump looks empty); NLM_F_DUMP_INTR sets CNL_DUMP_F_INTR.
 * Returns 1 with *payload, *payload_len and *type set; 0 at the end of the dump;
 * -errno on failure. With CNL_DUMP_F_MALFORMED set the failure is a message
 * that failed a check (-EBADMSG: bad length, -EPROTO: bad sequence or port id,
 * -ENODATA: bytes ended before NLMSG_DONE), and error_offset says where.
 */
int cnl_dump_next(struct cnl_dump *d, const void **payload, uint32_t *payload_len, uint16_t *type);

/*
 * Moves the calling thread into the network namespace behind fd (setns).
 * Returns 0 or -errno.
 */
int cnl_netns_enter(int fd);

/* Offsets of the struct tcp_info fields SockDiag reads (older kernels send a shorter struct).
 * Numbers rather than offsetof: <linux/tcp.h> clashes with glibc's <netinet/tcp.h> in Swift;
 * cnetlink.c checks each against the kernel header. */
enum {
	CNL_TCPI_STATE = 0,
	CNL_TCPI_CA_STATE = 1,
	CNL_TCPI_RETRANSMITS = 2,
	CNL_TCPI_RTO = 8,
	CNL_TCPI_SND_MSS = 16,
	CNL_TCPI_RCV_MSS = 20,
	CNL_TCPI_UNACKED = 24,
	CNL_TCPI_LOST = 32,
	CNL_TCPI_RTT = 68,
	CNL_TCPI_RTTVAR = 72,
	CNL_TCPI_SND_SSTHRESH = 76,
	CNL_TCPI_SND_CWND = 80,
	CNL_TCPI_TOTAL_RETRANS = 100,
	CNL_TCPI_BYTES_ACKED = 120,
	CNL_TCPI_BYTES_RECEIVED = 128,
	CNL_TCPI_DELIVERY_RATE = 160,
};

/* One socket as a dump reported it: what a SOCK_DESTROY request names. */
struct cnl_socket_id {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t sport;   /* host byte order */
	uint16_t dport;   /* host byte order */
	uint8_t src[16];  /* network byte order; IPv4 in the first 4 bytes */
	uint8_t dst[16];
	uint32_t ifindex;
	uint64_t cookie;
	uint32_t states;  /* idiag_states: the bit of the state the socket was seen in */
};

/*
 * Writes a SOCK_DESTROY request for one socket (inet_diag_req_v2 holding its exact
 * id and cookie, NLM_F_ACK) into buf with sequence number seq. The kernel closes the
 * socket as ss -K does (CONFIG_INET_DIAG_DESTROY, CAP_NET_ADMIN).
 * Returns its length, or -EINVAL (bad family or protocol) or -ENOSPC.
 */
int cnl_sock_destroy_build(void *buf, size_t cap, const struct cnl_socket_id *id, uint32_t seq);

/*
 * Receives the answer to a request sent with NLM_F_ACK and sequence number seq,
 * into buf. Returns 0 for the kernel's acknowledgement, -errno for the error it
 * returned, -EPROTO for a reply that does not answer the request.
 */
int cnl_sock_diag_ack(struct mnl_socket *nl, uint32_t seq, void *buf, size_t cap);

/*
 * Joins the sock_diag multicast groups whose bits are set in groups
 * (1 << (SKNLGRP_x - 1)): the kernel then sends an inet_diag_msg for every socket it
 * destroys (what ss -E prints). Sets the receive buffer to rcvbuf bytes first
 * (SO_RCVBUFFORCE, which needs CAP_NET_ADMIN, else SO_RCVBUF up to rmem_max).
 * Returns 0 or -errno (-EPERM: joining the groups needs CAP_NET_ADMIN).
 */
int cnl_sock_diag_subscribe(struct mnl_socket *nl, uint32_t groups, int rcvbuf);

/* The receive buffer the kernel granted, bytes (SO_RCVBUF). Returns it or -errno. */
int cnl_sock_rcvbuf(struct mnl_socket *nl);

/*
 * Messages the kernel dropped for this socket because its receive buffer was full
 * (SO_MEMINFO's SK_MEMINFO_DROPS, which netlink_overrun counts one by one).
 * Returns 0 or -errno.
 */
int cnl_sock_drops(struct mnl_socket *nl, uint32_t *drops);

/* A descriptor that another thread can make readable to end a poll: an eventfd
 * (close-on-exec, non-blocking), which <sys/eventfd.h> gives Swift no way to make.
 * Returns it, or -1 with errno set. */
int cnl_wake_fd_open(void);

/* The socket's file descriptor (to poll it). */
int cnl_sock_fd(struct mnl_socket *nl);

/*
 * Receives one datagram without waiting (MSG_DONTWAIT; EINTR retried).
 * Returns its length, 0 when none is queued, or -errno: -ENOBUFS when the kernel
 * dropped messages since the last receive (the socket stays usable).
 */
long cnl_sock_recv(struct mnl_socket *nl, void *buf, size_t cap);

/*
 * Steps through the netlink messages of one received datagram. At *offset, checks
 * the header and its length against the bytes left. Returns 1 with the message's
 * type, payload and payload length, *offset moved past it (aligned); 0 at the end;
 * -EBADMSG for a header or length that does not fit (the rest is unusable).
 */
int cnl_msg_next(const void *buf, size_t len, size_t *offset, uint16_t *type, const void **payload,
		 uint32_t *payload_len);

/* Offsets of the struct inet_diag_msg fields SockDiag reads from a reply, and its size.
 * cnetlink.c checks each against <linux/inet_diag.h> with _Static_assert, so a layout the
 * parser does not expect fails the build instead of misreading replies. */
enum {
	CNL_MSG_FAMILY = 0,   /* idiag_family */
	CNL_MSG_STATE = 1,    /* idiag_state */
	CNL_MSG_TIMER = 2,    /* idiag_timer */
	CNL_MSG_RETRANS = 3,  /* idiag_retrans */
	CNL_MSG_SPORT = 4,    /* id.idiag_sport, big endian */
	CNL_MSG_DPORT = 6,    /* id.idiag_dport, big endian */
	CNL_MSG_SRC = 8,      /* id.idiag_src, 16 bytes (IPv4: the first 4) */
	CNL_MSG_DST = 24,     /* id.idiag_dst */
	CNL_MSG_IF = 40,      /* id.idiag_if */
	CNL_MSG_COOKIE = 44,  /* id.idiag_cookie[0] (low word), [1] at +4 */
	CNL_MSG_EXPIRES = 52, /* idiag_expires */
	CNL_MSG_RQUEUE = 56,  /* idiag_rqueue */
	CNL_MSG_WQUEUE = 60,  /* idiag_wqueue */
	CNL_MSG_UID = 64,     /* idiag_uid */
	CNL_MSG_INODE = 68,   /* idiag_inode */
	CNL_MSG_SIZE = 72,    /* sizeof(struct inet_diag_msg) */
};

/* Netlink constants Swift cannot import as macros. */
static inline uint32_t cnl_nlmsg_hdrlen(void) { return NLMSG_HDRLEN; }
static inline uint16_t cnl_sock_diag_by_family(void) { return SOCK_DIAG_BY_FAMILY; }
static inline uint16_t cnl_tcpdiag_getsock(void) { return TCPDIAG_GETSOCK; }

#endif /* CNETLINK_H */
