/*
 * CNetlink: sock_diag sockets, dump requests, the dump walk, namespaces.
 * See include/CNetlink.h for the contract of each function.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "CNetlink.h"
#include <linux/tcp.h>

/* Layouts the Swift parser and tests rely on (offsets into struct inet_diag_msg). */
_Static_assert(sizeof(struct nlmsghdr) == 16, "nlmsghdr");
_Static_assert(sizeof(struct nlmsgerr) >= 20, "nlmsgerr");
_Static_assert(sizeof(struct inet_diag_sockid) == 48, "inet_diag_sockid");
_Static_assert(sizeof(struct inet_diag_req) == 60, "inet_diag_req");
_Static_assert(sizeof(struct inet_diag_req_v2) == 56, "inet_diag_req_v2");
_Static_assert(sizeof(struct inet_diag_msg) == 72, "inet_diag_msg");
_Static_assert(offsetof(struct inet_diag_msg, id) == 4, "inet_diag_msg.id");
_Static_assert(offsetof(struct inet_diag_msg, id.idiag_src) == 8, "inet_diag_msg.id.idiag_src");
_Static_assert(offsetof(struct inet_diag_msg, id.idiag_dst) == 24, "inet_diag_msg.id.idiag_dst");
_Static_assert(offsetof(struct inet_diag_msg, id.idiag_if) == 40, "inet_diag_msg.id.idiag_if");
_Static_assert(offsetof(struct inet_diag_msg, id.idiag_cookie) == 44, "inet_diag_msg.id.idiag_cookie");
_Static_assert(offsetof(struct inet_diag_msg, idiag_expires) == 52, "inet_diag_msg.idiag_expires");
_Static_assert(offsetof(struct inet_diag_msg, idiag_rqueue) == 56, "inet_diag_msg.idiag_rqueue");
_Static_assert(offsetof(struct inet_diag_msg, idiag_wqueue) == 60, "inet_diag_msg.idiag_wqueue");
_Static_assert(offsetof(struct inet_diag_msg, idiag_uid) == 64, "inet_diag_msg.idiag_uid");
_Static_assert(offsetof(struct inet_diag_msg, idiag_inode) == 68, "inet_diag_msg.idiag_inode");
_Static_assert(CNL_MSG_SIZE == sizeof(struct inet_diag_msg), "inet_diag_msg size");
_Static_assert(CNL_MSG_FAMILY == offsetof(struct inet_diag_msg, idiag_family), "inet_diag_msg.idiag_family");
_Static_assert(CNL_MSG_STATE == offsetof(struct inet_diag_msg, idiag_state), "inet_diag_msg.idiag_state");
_Static_assert(CNL_MSG_TIMER == offsetof(struct inet_diag_msg, idiag_timer), "inet_diag_msg.idiag_timer");
_Static_assert(CNL_MSG_RETRANS == offsetof(struct inet_diag_msg, idiag_retrans), "inet_diag_msg.idiag_retrans");
_Static_assert(CNL_MSG_SPORT == offsetof(struct inet_diag_msg, id.idiag_sport), "inet_diag_msg.id.idiag_sport");
_Static_assert(CNL_MSG_DPORT == offsetof(struct inet_diag_msg, id.idiag_dport), "inet_diag_msg.id.idiag_dport");
_Static_assert(CNL_MSG_SRC == offsetof(struct inet_diag_msg, id.idiag_src), "inet_diag_msg.id.idiag_src");
_Static_assert(CNL_MSG_DST == offsetof(struct inet_diag_msg, id.idiag_dst), "inet_diag_msg.id.idiag_dst");
_Static_assert(CNL_MSG_IF == offsetof(struct inet_diag_msg, id.idiag_if), "inet_diag_msg.id.idiag_if");
_Static_assert(CNL_MSG_COOKIE == offsetof(struct inet_diag_msg, id.idiag_cookie), "inet_diag_msg.id.idiag_cookie");
_Static_assert(CNL_MSG_EXPIRES == offsetof(struct inet_diag_msg, idiag_expires), "inet_diag_msg.idiag_expires");
_Static_assert(CNL_MSG_RQUEUE == offsetof(struct inet_diag_msg, idiag_rqueue), "inet_diag_msg.idiag_rqueue");
_Static_assert(CNL_MSG_WQUEUE == offsetof(struct inet_diag_msg, idiag_wqueue), "inet_diag_msg.idiag_wqueue");
_Static_assert(CNL_MSG_UID == offsetof(struct inet_diag_msg, idiag_uid), "inet_diag_msg.idiag_uid");
_Static_assert(CNL_MSG_INODE == offsetof(struct inet_diag_msg, idiag_inode), "inet_diag_msg.idiag_inode");
_Static_assert(sizeof(((struct inet_diag_msg *)0)->id.idiag_src) == 16, "inet_diag_msg.id.idiag_src size");
_Static_assert(sizeof(struct inet_diag_bc_op) == 4, "inet_diag_bc_op");
_Static_assert(sizeof(struct nlattr) == 4, "nlattr");
_Static_assert(CNL_TCPI_STATE == offsetof(struct tcp_info, tcpi_state), "tcp_info.tcpi_state");
_Static_assert(CNL_TCPI_CA_STATE == offsetof(struct tcp_info, tcpi_ca_state), "tcp_info.tcpi_ca_state");
_Static_assert(CNL_TCPI_RETRANSMITS == offsetof(struct tcp_info, tcpi_retransmits), "tcp_info.tcpi_retransmits");
_Static_assert(CNL_TCPI_RTO == offsetof(struct tcp_info, tcpi_rto), "tcp_info.tcpi_rto");
_Static_assert(CNL_TCPI_SND_MSS == offsetof(struct tcp_info, tcpi_snd_mss), "tcp_info.tcpi_snd_mss");
_Static_assert(CNL_TCPI_RCV_MSS == offsetof(struct tcp_info, tcpi_rcv_mss), "tcp_info.tcpi_rcv_mss");
_Static_assert(CNL_TCPI_UNACKED == offsetof(struct tcp_info, tcpi_unacked), "tcp_info.tcpi_unacked");
_Static_assert(CNL_TCPI_LOST == offsetof(struct tcp_info, tcpi_lost), "tcp_info.tcpi_lost");
_Static_assert(CNL_TCPI_RTT == offsetof(struct tcp_info, tcpi_rtt), "tcp_info.tcpi_rtt");
_Static_assert(CNL_TCPI_RTTVAR == offsetof(struct tcp_info, tcpi_rttvar), "tcp_info.tcpi_rttvar");
_Static_assert(CNL_TCPI_SND_SSTHRESH == offsetof(struct tcp_info, tcpi_snd_ssthresh), "tcp_info.tcpi_snd_ssthresh");
_Static_assert(CNL_TCPI_SND_CWND == offsetof(struct tcp_info, tcpi_snd_cwnd), "tcp_info.tcpi_snd_cwnd");
_Static_assert(CNL_TCPI_TOTAL_RETRANS == offsetof(struct tcp_info, tcpi_total_retrans), "tcp_info.tcpi_total_retrans");
_Static_assert(CNL_TCPI_BYTES_ACKED == offsetof(struct tcp_info, tcpi_bytes_acked), "tcp_info.tcpi_bytes_acked");
_Static_assert(CNL_TCPI_BYTES_RECEIVED == offsetof(struct tcp_info, tcpi_bytes_received), "tcp_info.tcpi_bytes_received");
_Static_assert(CNL_TCPI_DELIVERY_RATE == offsetof(struct tcp_info, tcpi_delivery_rate), "tcp_info.tcpi_delivery_rate");

struct mnl_socket *cnl_sock_diag_open(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int saved = errno;

		mnl_socket_close(nl);
		errno = saved;
		return NULL;
	}
	return nl;
}

void cnl_sock_diag_close(struct mnl_socket *nl)
{
	if (nl)
		mnl_socket_close(nl);
}

static void fill_sockid(struct inet_diag_sockid *id, const struct cnl_inet_diag_request *req)
{
	memset(id, 0, sizeof(*id));
	id->idiag_sport = htons(req->sport);
	id->idiag_dport = htons(req->dport);
	id->idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	id->idiag_cookie[1] = INET_DIAG_NOCOOKIE;
}

int cnl_inet_diag_request_build(void *buf, size_t cap, const struct cnl_inet_diag_request *req, uint32_t seq)
{
	struct nlmsghdr *nlh;
	size_t body, need;

	if (req->bytecode_len && !req->bytecode)
		return -EINVAL;
	if (req->bytecode_len > CNL_BYTECODE_MAX)
		return -E2BIG;
	body = req->kind == CNL_REQUEST_LEGACY_TCP ? sizeof(struct inet_diag_req) : sizeof(struct inet_diag_req_v2);
	need = NLMSG_HDRLEN + NLMSG_ALIGN(body) + (req->bytecode_len ? MNL_ATTR_HDRLEN + MNL_ALIGN(req->bytecode_len) : 0);
	if (cap < need)
		return -ENOSPC;

	/* All of it: mnl_attr_put of libmnl 1.0.4 leaves the attribute's alignment padding unwritten. */
	memset(buf, 0, need);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;

	if (req->kind == CNL_REQUEST_LEGACY_TCP) {
		struct inet_diag_req *r;

		if (req->protocol != IPPROTO_TCP)
			return -EINVAL;
		nlh->nlmsg_type = TCPDIAG_GETSOCK;
		r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
		/* The kernel serves this request as AF_UNSPEC whatever we write here. */
		r->idiag_family = AF_INET;
		r->idiag_ext = req->ext;
		r->idiag_states = req->states;
		fill_sockid(&r->id, req);
	} else if (req->kind == CNL_REQUEST_V2) {
		struct inet_diag_req_v2 *r;

		if (req->family != AF_INET && req->family != AF_INET6)
			return -EINVAL;
		if (req->protocol != IPPROTO_TCP && req->protocol != IPPROTO_UDP)
			return -EINVAL;
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
		r->sdiag_family = req->family;
		r->sdiag_protocol = req->protocol;
		r->idiag_ext = req->ext;
		r->idiag_states = req->states;
		fill_sockid(&r->id, req);
	} else {
		return -EINVAL;
	}

	if (req->bytecode_len)
		mnl_attr_put(nlh, INET_DIAG_REQ_BYTECODE, req->bytecode_len, req->bytecode);
	return (int)nlh->nlmsg_len;
}

int cnl_sock_diag_send(struct mnl_socket *nl, const void *req, size_t len)
{
	ssize_t n;

	do {
		n = mnl_socket_sendto(nl, req, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EMSGSIZE;
	return 0;
}

void cnl_dump_begin(struct cnl_dump *d, struct mnl_socket *nl, uint32_t seq, void *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->nl = nl;
	d->seq = seq;
	d->portid = mnl_socket_get_portid(nl);
	d->buf = buf;
	d->cap = cap;
}

void cnl_dump_begin_bytes(struct cnl_dump *d, const void *bytes, size_t len, uint32_t seq, uint32_t portid)
{
	memset(d, 0, sizeof(*d));
	d->seq = seq;
	d->portid = portid;
	/* Read only: cnl_dump_next never writes to buf when nl is NULL. */
	d->buf = (uint8_t *)bytes;
	d->cap = len;
	d->len = len;
	d->batches = 1;
	d->bytes = len;
}

static int malformed(struct cnl_dump *d, size_t at, int err, size_t needed)
{
	d->flags |= CNL_DUMP_F_MALFORMED | CNL_DUMP_F_DONE;
	d->error_offset = d->consumed + at;
	d->error_needed = (uint32_t)needed;
	d->error_available = (uint32_t)(d->len > at ? d->len - at : 0);
	return err;
}

/* Receives the next batch. Returns 0, or -errno. */
static int receive(struct cnl_dump *d)
{
	ssize_t n;

	if (!d->nl)
		return malformed(d, d->len, -ENODATA, 0);
	do {
		n = mnl_socket_recvfrom(d->nl, d->buf, d->cap);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		d->flags |= CNL_DUMP_F_DONE;
		return -errno;
	}
	if (n == 0)
		return malformed(d, 0, -ENODATA, 0);
	d->consumed += d->len;
	d->len = (size_t)n;
	d->off = 0;
	d->batches++;
	d->bytes += (uint64_t)n;
	return 0;
}

int cnl_dump_next(struct cnl_dump *d, const void **payload, uint32_t *payload_len, uint16_t *type)
{
	for (;;) {
		struct nlmsghdr h;
		size_t at, rem, step;

		if (d->flags & CNL_DUMP_F_DONE)
			return 0;
		if (d->off >= d->len) {
			int err = receive(d);

			if (err)
				return err;
		}
		at = d->off;
		rem = d->len - at;
		if (rem < sizeof(h))
			return malformed(d, at, -EBADMSG, sizeof(h));
		/* Copied out: a buffer handed in by a caller (tests) need not be aligned. */
		memcpy(&h, d->buf + at, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > rem)
			return malformed(d, at, -EBADMSG, h.nlmsg_len < sizeof(h) ? sizeof(h) : h.nlmsg_len);
		if (h.nlmsg_seq != d->seq || (h.nlmsg_pid && h.nlmsg_pid != d->portid))
			return malformed(d, at, -EPROTO, 0);
		step = NLMSG_ALIGN(h.nlmsg_len);
		d->off = step < rem ? at + step : d->len;
		if (h.nlmsg_flags & NLM_F_DUMP_INTR)
			d->flags |= CNL_DUMP_F_INTR;

		switch (h.nlmsg_type) {
		case NLMSG_NOOP:
			continue;
		case NLMSG_ERROR: {
			int error;

			if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(error))
				return malformed(d, at, -EBADMSG, NLMSG_HDRLEN + sizeof(error));
			memcpy(&error, d->buf + at + NLMSG_HDRLEN, sizeof(error));
			d->flags |= CNL_DUMP_F_DONE | CNL_DUMP_F_ENDED;
			d->error_offset = d->consumed + at;
			/* error 0 is an acknowledgement: the dump is over. */
			return error < 0 ? error : 0;
		}
		case NLMSG_DONE: {
			int err = 0;

			d->flags |= CNL_DUMP_F_DONE | CNL_DUMP_F_ENDED;
			if (h.nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
				memcpy(&err, d->buf + at + NLMSG_HDRLEN, sizeof(err));
			if (err < 0) {
				d->error_offset = d->consumed + at;
				return err;
			}
			return 0;
		}
		case NLMSG_OVERRUN:
			d->flags |= CNL_DUMP_F_DONE;
			return -ENOBUFS;
		default:
			if (h.nlmsg_type < NLMSG_MIN_TYPE)
				continue;
			*payload = d->buf + at + NLMSG_HDRLEN;
			*payload_len = h.nlmsg_len - NLMSG_HDRLEN;
			*type = h.nlmsg_type;
			return 1;
		}
	}
}

int cnl_netns_enter(int fd)
{
	if (setns(fd, CLONE_NEWNET) < 0)
		return -errno;
	return 0;
}

int cnl_sock_destroy_build(void *buf, size_t cap, const struct cnl_socket_id *id, uint32_t seq)
{
	struct nlmsghdr *nlh;
	struct inet_diag_req_v2 *r;
	size_t need = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*r));

	if (id->family != AF_INET && id->family != AF_INET6)
		return -EINVAL;
	if (id->protocol != IPPROTO_TCP && id->protocol != IPPROTO_UDP)
		return -EINVAL;
	if (cap < need)
		return -ENOSPC;
	memset(buf, 0, need);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = SOCK_DESTROY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	r = mnl_nlmsg_put_extra_header(nlh, sizeof(*r));
	r->sdiag_family = id->family;
	r->sdiag_protocol = id->protocol;
	r->idiag_states = id->states;
	r->id.idiag_sport = htons(id->sport);
	r->id.idiag_dport = htons(id->dport);
	memcpy(r->id.idiag_src, id->src, sizeof(r->id.idiag_src));
	memcpy(r->id.idiag_dst, id->dst, sizeof(r->id.idiag_dst));
	r->id.idiag_if = id->ifindex;
	r->id.idiag_cookie[0] = (uint32_t)id->cookie;
	r->id.idiag_cookie[1] = (uint32_t)(id->cookie >> 32);
	return (int)nlh->nlmsg_len;
}

int cnl_sock_diag_ack(struct mnl_socket *nl, uint32_t seq, void *buf, size_t cap)
{
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, cap);
		size_t offset = 0;
		uint16_t type;
		const void *payload;
		uint32_t payload_len;
		int rc;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while ((rc = cnl_msg_next(buf, (size_t)n, &offset, &type, &payload, &payload_len)) == 1) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const char *)payload - NLMSG_HDRLEN);
			const struct nlmsgerr *err = payload;

			if (nlh->nlmsg_seq != seq)
				continue; /* an answer to an earlier request: not ours */
			if (type != NLMSG_ERROR || payload_len < sizeof(*err))
				return -EPROTO;
			return err->error;
		}
		if (rc < 0)
			return rc;
	}
}

int cnl_sock_diag_subscribe(struct mnl_socket *nl, uint32_t groups, int rcvbuf)
{
	int fd = mnl_socket_get_fd(nl);

	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		return -errno;
	for (int group = 1; group <= 32; group++) {
		if (!(groups & (1u << (group - 1))))
			continue;
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
			return -errno;
	}
	return 0;
}

int cnl_sock_rcvbuf(struct mnl_socket *nl)
{
	int value = 0;
	socklen_t len = sizeof(value);

	if (getsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &value, &len) < 0)
		return -errno;
	return value;
}

int cnl_sock_drops(struct mnl_socket *nl, uint32_t *drops)
{
	uint32_t meminfo[SK_MEMINFO_VARS] = { 0 };
	socklen_t len = sizeof(meminfo);

	if (getsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_MEMINFO, meminfo, &len) < 0)
		return -errno;
	if (len < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
		return -EPROTO;
	*drops = meminfo[SK_MEMINFO_DROPS];
	return 0;
}

int cnl_sock_fd(struct mnl_socket *nl)
{
	return mnl_socket_get_fd(nl);
}

long cnl_sock_recv(struct mnl_socket *nl, void *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(nl), buf, cap, MSG_DONTWAIT);

		if (n >= 0)
			return (long)n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

int cnl_msg_next(const void *buf, size_t len, size_t *offset, uint16_t *type, const void **payload,
		 uint32_t *payload_len)
{
	const struct nlmsghdr *nlh;
	size_t left;

	if (*offset >= len)
		return 0;
	left = len - *offset;
	if (left < NLMSG_HDRLEN)
		return -EBADMSG;
	nlh = (const struct nlmsghdr *)((const char *)buf + *offset);
	if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > left)
		return -EBADMSG;
	*type = nlh->nlmsg_type;
	*payload = (const char *)nlh + NLMSG_HDRLEN;
	*payload_len = nlh->nlmsg_len - NLMSG_HDRLEN;
	*offset += NLMSG_ALIGN(nlh->nlmsg_len);
	return 1;
}

int cnl_wake_fd_open(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}
