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
 * calling thread's network namespace (where it stays). Its descriptor is
 * close-on-exec and never 0, 1 or 2, even when the program started with one
 * of those closed.
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

/*
 * The symbolic name of an error number ("EACCES"), for messages that name the
 * errno; glibc's strerrorname_np, which Swift's Glibc module does not export.
 * Returns NULL for a number glibc does not know.
 */
const char *cnl_errno_name(int err);

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

/* Netlink alignment and type constants Swift cannot import as macros. */
static inline uint32_t CNetlink_NLMSG_HDRLEN(void) { return NLMSG_HDRLEN; }
static inline uint16_t CNetlink_SOCK_DIAG_BY_FAMILY(void) { return SOCK_DIAG_BY_FAMILY; }
static inline uint16_t CNetlink_TCPDIAG_GETSOCK(void) { return TCPDIAG_GETSOCK; }

#endif /* CNETLINK_H */
