/*
 * loadgen: builds a socket table inside a private, named network namespace for
 * SockScan's benchmarks, holds it, then tears everything down.
 *
 *   loadgen --listeners 100 --established 99000 --time-wait 1000 --hold 300
 *
 * The namespace is mounted at /run/netns/NAME (default sockscan-bench-PID), so
 * `sockscan --netns NAME` and `ip netns exec NAME ss -tan` can scan it. All
 * traffic is loopback inside that namespace.
 *
 * A process may hold at most 20,000 open files here, so the sockets live in
 * forked workers, each holding fewer than 19,000 descriptors:
 *  - a listener worker holds up to WORKER_FDS listening sockets;
 *  - an established worker makes up to WORKER_FDS / 2 connection pairs (client
 *    and accepted server side, both in the worker) through a private listener
 *    it closes once done, so the table holds exactly what was asked for;
 *  - a time-wait worker makes pairs in batches and closes the client side first
 *    (the active closer keeps TIME_WAIT, which costs no descriptor); it exits
 *    when done. Time-wait workers run last so the 60 s clock starts late;
 *  - a UDP worker holds up to WORKER_FDS bound UDP sockets.
 * Kept sockets get SO_LINGER {1, 0}: at teardown they are reset rather than
 * pushed into TIME_WAIT, which keeps the namespace's exit cheap.
 *
 * 4-tuples stay unique because each worker connects to its own server address
 * from its own 250 client addresses in 127.0.0.0/8 (IP_BIND_ADDRESS_NO_PORT, so
 * connect() picks the port), with ip_local_port_range widened to 10000-65535.
 *
 * Workers report through a pipe. The parent then prints one JSON line: what
 * was asked, what /proc/net/sockstat{,6} counts inside the namespace, how long
 * the build took and when the TIME_WAIT sockets were made (they expire 60 s
 * later). It holds until --hold expires, SIGTERM/SIGINT/SIGHUP, or (with
 * --stdin) end of standard input; then kills the workers and removes the
 * namespace. Every loop is bounded in count and every wait in time.
 *
 * Build: gcc -O2 -Wall -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define TOOL "loadgen"
#include "common.h"

/* Descriptors a worker may hold for sockets (the process limit is 20,000). */
#define WORKER_FDS 18000
/* Pairs a time-wait worker makes before it exits (it holds at most BATCH pairs). */
#define TW_PER_WORKER 25000
/* Connections made before they are accepted; the listen backlog is twice this. */
#define BATCH 512
/* A worker that has not built its share by then is killed (SIGALRM). */
#define WORKER_TIMEOUT_S 120
/* The parent gives up on a build that takes longer. */
#define BUILD_TIMEOUT_S 600
/* Longest hold. */
#define HOLD_MAX_S 86400
#define MAX_JOBS 4096
#define TIME_WAIT_S 60

enum job_kind { JOB_LISTEN, JOB_UDP, JOB_ESTAB4, JOB_ESTAB6, JOB_TW };

static const char *const kind_name[] = { "listen", "udp", "established", "established6", "time-wait" };

struct job {
	enum job_kind kind;
	int index;      /* among jobs of its kind */
	long first;     /* listeners/UDP: global index of the first socket */
	long count;     /* sockets (listen, udp) or pairs (estab, tw) */
	pid_t pid;
	int reported;
	int exited;
};

/* What a worker writes to the report pipe (smaller than PIPE_BUF: atomic). */
struct report {
	int job;
	int err;        /* errno of the failure, 0 when built */
	long made;      /* sockets or pairs made */
	char what[96];  /* the failing call */
};

struct options {
	long listeners, established, established6, time_wait, udp;
	long hold;
	long ehash;
	int jobs;
	int use_stdin;
	int verbose;
	char name[64];
};

static volatile sig_atomic_t stop_requested;
static char netns_path[PATH_MAX];
static int netns_mounted;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 127.B.(n / 250 % 250).(n % 250 + 1), for n < 62,500: never .0 or .255. */
static struct in_addr loop4(int b, long n)
{
	struct in_addr a;

	a.s_addr = htonl((127u << 24) | ((uint32_t)b << 16) | ((uint32_t)(n / 250 % 250) << 8) | (uint32_t)(n % 250 + 1));
	return a;
}

static int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	close(fd);
	return 0;
}

/* ---- the namespace ---------------------------------------------------- */

/*
 * Makes the calling process's new network namespace visible as
 * /run/netns/NAME, the way `ip netns` finds them: /run/netns is a shared mount
 * point and each namespace file is a bind mount of /proc/thread-self/ns/net.
 */
static void netns_create(const struct options *o)
{
	int fd;

	if (mkdir("/run/netns", 0755) < 0 && errno != EEXIST)
		die("mkdir /run/netns: %s", strerror(errno));
	if (mount("", "/run/netns", "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL)
			die("mount --make-rshared /run/netns: %s", strerror(errno));
		/* Not a mount point yet: make it one, then shared. */
		if (mount("/run/netns", "/run/netns", "none", MS_BIND | MS_REC, NULL) < 0)
			die("mount --bind /run/netns: %s", strerror(errno));
		if (mount("", "/run/netns", "none", MS_SHARED | MS_REC, NULL) < 0)
			die("mount --make-rshared /run/netns: %s", strerror(errno));
	}
	snprintf(netns_path, sizeof(netns_path), "/run/netns/%s", o->name);
	fd = open(netns_path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		die("create %s: %s (a namespace of that name exists? ip netns del %s)", netns_path, strerror(errno),
		    o->name);
	close(fd);

	if (o->ehash > 0) {
		/*
		 * A namespace gets a private established hash only when its
		 * creator's namespace has tcp_child_ehash_entries set. Set it in a
		 * throwaway namespace, not the host's, then make ours from there.
		 */
		char v[32];
		int err;

		if (unshare(CLONE_NEWNET) < 0)
			goto fail;
		snprintf(v, sizeof(v), "%ld", o->ehash);
		err = write_file("/proc/sys/net/ipv4/tcp_child_ehash_entries", v);
		if (err < 0) {
			unlink(netns_path);
			die("set tcp_child_ehash_entries: %s", strerror(-err));
		}
	}
	if (unshare(CLONE_NEWNET) < 0)
		goto fail;
	if (mount("/proc/thread-self/ns/net", netns_path, "none", MS_BIND, NULL) < 0)
		goto fail;
	netns_mounted = 1;
	return;
fail:
	{
		int err = errno;

		unlink(netns_path);
		die("make network namespace %s: %s", o->name, strerror(err));
	}
}

static void netns_delete(void)
{
	if (!netns_path[0])
		return;
	if (netns_mounted && umount2(netns_path, MNT_DETACH) < 0)
		fprintf(stderr, "loadgen: umount %s: %s\n", netns_path, strerror(errno));
	if (unlink(netns_path) < 0 && errno != ENOENT)
		fprintf(stderr, "loadgen: unlink %s: %s\n", netns_path, strerror(errno));
	netns_path[0] = 0;
}

/* Brings lo up and sets the sysctls the table needs, inside the namespace. */
static void netns_configure(void)
{
	static const struct {
		const char *path, *value;
	} sysctls[] = {
		{ "/proc/sys/net/ipv4/tcp_max_tw_buckets", "4000000" },
		{ "/proc/sys/net/ipv4/tcp_tw_reuse", "0" },
		{ "/proc/sys/net/ipv4/ip_local_port_range", "10000 65535" },
		{ "/proc/sys/net/core/somaxconn", "65535" },
		{ "/proc/sys/net/ipv4/tcp_max_syn_backlog", "65535" },
	};
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t i;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS lo up: %s", strerror(errno));
	close(fd);
	for (i = 0; i < sizeof(sysctls) / sizeof(sysctls[0]); i++) {
		int err = write_file(sysctls[i].path, sysctls[i].value);

		if (err < 0)
			die("sysctl %s = %s: %s", sysctls[i].path, sysctls[i].value, strerror(-err));
	}
}

/* ---- workers ------------------------------------------------------------ */

static int report_fd = -1;

static void worker_report(int job, int err, long made, const char *what)
{
	struct report r;

	memset(&r, 0, sizeof(r));
	r.job = job;
	r.err = err;
	r.made = made;
	snprintf(r.what, sizeof(r.what), "%s", what ? what : "");
	if (write(report_fd, &r, sizeof(r)) != sizeof(r))
		_exit(3);
}

/* Reports the failure of `what` with errno and ends the worker. */
static void worker_fail(int job, long made, const char *what)
{
	worker_report(job, errno ? errno : EIO, made, what);
	_exit(2);
}

static void set_linger0(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

/* Listening TCP sockets (kind JOB_LISTEN) or bound UDP sockets (JOB_UDP). */
static void build_bound(const struct job *j, int id)
{
	long i;
	int type = j->kind == JOB_LISTEN ? SOCK_STREAM : SOCK_DGRAM;
	int block = j->kind == JOB_LISTEN ? 3 : 4;

	for (i = 0; i < j->count; i++) {
		long g = j->first + i;
		struct sockaddr_in sa = { .sin_family = AF_INET };
		int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

		/* Ports 1024..9023, below the ephemeral range; 8000 per address. */
		sa.sin_addr = loop4(block, g / 8000);
		sa.sin_port = htons((uint16_t)(1024 + g % 8000));
		if (fd < 0)
			worker_fail(id, i, "socket");
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			worker_fail(id, i, "bind");
		if (type == SOCK_STREAM && listen(fd, 128) < 0)
			worker_fail(id, i, "listen");
	}
	worker_report(id, 0, j->count, NULL);
}

/*
 * Connection pairs through a private listener: JOB_ESTAB4/JOB_ESTAB6 keep
 * them, JOB_TW closes the client side then the server side of each batch,
 * which leaves the client in TIME_WAIT.
 */
static void build_pairs(const struct job *j, int id)
{
	int keep = j->kind != JOB_TW;
	int v6 = j->kind == JOB_ESTAB6;
	int srv_block = j->kind == JOB_TW ? 5 : 2;
	int cli_block = (j->kind == JOB_TW ? 120 : 10) + j->index / 250;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	int cli[BATCH], acc[BATCH];
	int lfd, one = 1;
	long done = 0;

	memset(&srv, 0, sizeof(srv));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&srv;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons((uint16_t)(2000 + j->index));
		srvlen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&srv;

		s4->sin_family = AF_INET;
		s4->sin_addr = loop4(srv_block, j->index);
		s4->sin_port = htons(j->kind == JOB_TW ? 80 : 443);
		srvlen = sizeof(*s4);
	}
	lfd = socket(srv.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		worker_fail(id, 0, "socket (listener)");
	if (v6)
		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&srv, srvlen) < 0)
		worker_fail(id, 0, "bind (listener)");
	if (listen(lfd, 2 * BATCH) < 0)
		worker_fail(id, 0, "listen");

	while (done < j->count) {
		int n = j->count - done < BATCH ? (int)(j->count - done) : BATCH;
		int k;

		for (k = 0; k < n; k++) {
			int c = socket(srv.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (c < 0)
				worker_fail(id, done + k, "socket (client)");
			if (!v6) {
				/* One of 250 source addresses; connect() picks the port. */
				struct sockaddr_in src = { .sin_family = AF_INET };

				src.sin_addr = loop4(cli_block, (long)(j->index % 250) * 250 + (done + k) % 250);
				setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
				if (bind(c, (struct sockaddr *)&src, sizeof(src)) < 0)
					worker_fail(id, done + k, "bind (client)");
			}
			if (connect(c, (struct sockaddr *)&srv, srvlen) < 0)
				worker_fail(id, done + k, "connect");
			cli[k] = c;
		}
		for (k = 0; k < n; k++) {
			int a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (a < 0)
				worker_fail(id, done + k, "accept");
			acc[k] = a;
		}
		for (k = 0; k < n; k++) {
			if (keep) {
				set_linger0(cli[k]);
				set_linger0(acc[k]);
			} else {
				close(cli[k]);
			}
		}
		if (!keep)
			for (k = 0; k < n; k++)
				close(acc[k]);
		done += n;
	}
	close(lfd);
	worker_report(id, 0, done, NULL);
}

/* The body of a forked worker: build, report, then hold until the parent goes. */
static void worker_main(const struct job *j, int id, int hold_fd)
{
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	alarm(WORKER_TIMEOUT_S);
	switch (j->kind) {
	case JOB_LISTEN:
	case JOB_UDP:
		build_bound(j, id);
		break;
	default:
		build_pairs(j, id);
		break;
	}
	alarm(0);
	if (j->kind == JOB_TW)
		_exit(0);
	/* Hold the sockets until the parent closes the pipe, signals, or dies. */
	while (read(hold_fd, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* ---- the parent --------------------------------------------------------- */

static struct job jobs[MAX_JOBS];
static int njobs;

static void add_jobs(enum job_kind kind, long total, long per)
{
	long first = 0;
	int index = 0;

	while (total > 0) {
		long n = total < per ? total : per;

		if (njobs == MAX_JOBS)
			die("too many workers");
		jobs[njobs++] = (struct job){ .kind = kind, .index = index++, .first = first, .count = n };
		first += n;
		total -= n;
	}
}

static void kill_workers(void)
{
	int i;

	for (i = 0; i < njobs; i++)
		if (jobs[i].pid > 0 && !jobs[i].exited)
			kill(jobs[i].pid, SIGKILL);
	for (i = 0; i < njobs; i++) {
		if (jobs[i].pid > 0 && !jobs[i].exited) {
			while (waitpid(jobs[i].pid, NULL, 0) < 0 && errno == EINTR)
				;
			jobs[i].exited = 1;
		}
	}
}

static void cleanup(void)
{
	kill_workers();
	netns_delete();
}

/*
 * Marks exited workers; returns the index of one that should still be there
 * (it had not reported, or it holds sockets), or -1.
 */
static int reap(void)
{
	int status, i, lost = -1;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < njobs; i++) {
			if (jobs[i].pid != pid)
				continue;
			jobs[i].exited = 1;
			if (!jobs[i].reported || jobs[i].kind != JOB_TW)
				lost = i;
		}
	}
	return lost;
}

struct sockstat {
	long tcp_inuse, tcp_orphan, tcp_tw, tcp_alloc, udp_inuse, tcp6_inuse, udp6_inuse;
};

static void read_sockstat(struct sockstat *s)
{
	char line[256];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if ((f = fopen("/proc/net/sockstat", "re"))) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "TCP: inuse %ld orphan %ld tw %ld alloc %ld", &s->tcp_inuse, &s->tcp_orphan,
			       &s->tcp_tw, &s->tcp_alloc);
			sscanf(line, "UDP: inuse %ld", &s->udp_inuse);
		}
		fclose(f);
	}
	if ((f = fopen("/proc/net/sockstat6", "re"))) {
		while (fgets(line, sizeof(line), f)) {
			sscanf(line, "TCP6: inuse %ld", &s->tcp6_inuse);
			sscanf(line, "UDP6: inuse %ld", &s->udp6_inuse);
		}
		fclose(f);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen [--listeners L] [--established E] [--established6 E6] [--time-wait T] [--udp U]\n"
		"               [--name NAME] [--hold SECONDS] [--stdin] [--jobs J] [--ehash BUCKETS] [--verbose]\n"
		"Builds a socket table in network namespace NAME (default sockscan-bench-PID, at /run/netns/NAME),\n"
		"prints one JSON line, holds it until --hold seconds pass (default 300), SIGTERM/SIGINT/SIGHUP, or\n"
		"with --stdin the end of standard input, then removes it. Counts take k/m suffixes.\n"
		"  --established E    IPv4 ESTABLISHED sockets (E/2 loopback connections, both ends counted)\n"
		"  --established6 E6  the same over [::1]\n"
		"  --time-wait T      IPv4 TIME_WAIT sockets, made last (they expire 60 s later)\n"
		"  --listeners L      LISTEN sockets; --udp U bound UDP sockets\n"
		"  --jobs J           workers building at once (default: online CPUs)\n"
		"  --ehash BUCKETS    give the namespace a private established hash (tcp_child_ehash_entries,\n"
		"                     set in a throwaway namespace); default 0 shares the host's hash\n");
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listeners", required_argument, NULL, 'l' },
		{ "established", required_argument, NULL, 'e' },
		{ "established6", required_argument, NULL, '6' },
		{ "time-wait", required_argument, NULL, 't' },
		{ "udp", required_argument, NULL, 'u' },
		{ "name", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'H' },
		{ "stdin", no_argument, NULL, 'S' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "ehash", required_argument, NULL, 'E' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->hold = 300;
	o->jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (o->jobs < 1)
		o->jobs = 1;
	snprintf(o->name, sizeof(o->name), "sockscan-bench-%d", (int)getpid());
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': o->listeners = parse_count(optarg, "--listeners", 0, 5000000); break;
		case 'e': o->established = parse_count(optarg, "--established", 0, 5000000); break;
		case '6': o->established6 = parse_count(optarg, "--established6", 0, 5000000); break;
		case 't': o->time_wait = parse_count(optarg, "--time-wait", 0, 5000000); break;
		case 'u': o->udp = parse_count(optarg, "--udp", 0, 5000000); break;
		case 'H': o->hold = parse_count(optarg, "--hold", 0, 5000000); break;
		case 'S': o->use_stdin = 1; break;
		case 'j': o->jobs = (int)parse_count(optarg, "--jobs", 0, 5000000); break;
		case 'E': o->ehash = parse_count(optarg, "--ehash", 0, 5000000); break;
		case 'v': o->verbose = 1; break;
		case 'n':
			if (!*optarg || strlen(optarg) >= sizeof(o->name) || strchr(optarg, '/') || optarg[0] == '.')
				die("--name: a plain name under 64 characters");
			snprintf(o->name, sizeof(o->name), "%s", optarg);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(64);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(64);
	}
	if (o->hold > HOLD_MAX_S)
		die("--hold: at most %d seconds", HOLD_MAX_S);
	if (o->jobs < 1 || o->jobs > 64)
		die("--jobs: 1 to 64");
}

int main(int argc, char **argv)
{
	struct options o;
	struct sigaction sa;
	struct sockstat ss;
	int rpipe[2], hpipe[2];
	int next = 0, building = 0, done_jobs = 0, first_tw, i;
	double t0, t_built, tw_from = 0, tw_to = 0, deadline;
	long pairs4, pairs6;

	parse_options(argc, argv, &o);
	pairs4 = (o.established + 1) / 2;
	pairs6 = (o.established6 + 1) / 2;
	if (geteuid() != 0)
		die("needs root (network namespaces, mounts)");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	add_jobs(JOB_LISTEN, o.listeners, WORKER_FDS);
	add_jobs(JOB_UDP, o.udp, WORKER_FDS);
	add_jobs(JOB_ESTAB4, pairs4, WORKER_FDS / 2);
	add_jobs(JOB_ESTAB6, pairs6, WORKER_FDS / 2);
	first_tw = njobs;
	add_jobs(JOB_TW, o.time_wait, TW_PER_WORKER);
	for (i = 0; i < njobs; i++)
		if (jobs[i].index >= 8000)
			die("too many workers of one kind");

	t0 = now_mono();
	netns_create(&o);
	atexit(cleanup);
	netns_configure();

	if (pipe2(rpipe, O_CLOEXEC) < 0 || pipe2(hpipe, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	report_fd = rpipe[1];

	deadline = t0 + BUILD_TIMEOUT_S;
	while (done_jobs < njobs) {
		struct pollfd p = { .fd = rpipe[0], .events = POLLIN };
		struct report r;
		int lost;

		if (stop_requested)
			die("interrupted while building");
		if (now_mono() > deadline)
			die("the build took longer than %d s", BUILD_TIMEOUT_S);
		/* Time-wait workers start only when everything else is built. */
		if (next < njobs && building < o.jobs && (jobs[next].kind != JOB_TW || done_jobs >= first_tw)) {
			pid_t pid;

			if (jobs[next].kind == JOB_TW && tw_from == 0)
				tw_from = now_real();
			fflush(NULL);
			pid = fork();
			if (pid < 0)
				die("fork: %s", strerror(errno));
			if (pid == 0) {
				close(rpipe[0]);
				close(hpipe[1]);
				worker_main(&jobs[next], next, hpipe[0]);
			}
			jobs[next].pid = pid;
			building++;
			next++;
			continue;
		}
		if (poll(&p, 1, 200) > 0) {
			ssize_t n = read(rpipe[0], &r, sizeof(r));

			if (n != sizeof(r) || r.job < 0 || r.job >= njobs)
				die("bad report from a worker");
			if (r.err)
				die("%s worker %d failed after %ld: %s: %s", kind_name[jobs[r.job].kind], jobs[r.job].index,
				    r.made, r.what, strerror(r.err));
			jobs[r.job].reported = 1;
			building--;
			done_jobs++;
			if (jobs[r.job].kind == JOB_TW)
				tw_to = now_real();
			if (o.verbose)
				fprintf(stderr, "loadgen: %s worker %d: %ld in %.2f s\n", kind_name[jobs[r.job].kind],
					jobs[r.job].index, r.made, now_mono() - t0);
		}
		lost = reap();
		if (lost >= 0)
			die("%s worker %d (pid %d) died (build timeout %d s?)", kind_name[jobs[lost].kind],
			    jobs[lost].index, (int)jobs[lost].pid, WORKER_TIMEOUT_S);
	}
	t_built = now_mono();
	read_sockstat(&ss);

	printf("{\"netns\":\"%s\",\"pid\":%d,\"requested\":{\"listeners\":%ld,\"established\":%ld,"
	       "\"established6\":%ld,\"time_wait\":%ld,\"udp\":%ld},\"workers\":%d,\"build_seconds\":%.3f,"
	       "\"sockstat\":{\"tcp_inuse\":%ld,\"tcp6_inuse\":%ld,\"tcp_tw\":%ld,\"tcp_orphan\":%ld,"
	       "\"tcp_alloc\":%ld,\"udp_inuse\":%ld,\"udp6_inuse\":%ld}",
	       o.name, (int)getpid(), o.listeners, pairs4 * 2, pairs6 * 2, o.time_wait, o.udp, njobs, t_built - t0,
	       ss.tcp_inuse, ss.tcp6_inuse, ss.tcp_tw, ss.tcp_orphan, ss.tcp_alloc, ss.udp_inuse, ss.udp6_inuse);
	if (o.time_wait > 0)
		printf(",\"time_wait_made\":{\"from\":%.3f,\"to\":%.3f,\"expire_from\":%.3f}", tw_from, tw_to,
		       tw_from + TIME_WAIT_S);
	printf(",\"hold\":%ld}\n", o.hold);
	fflush(stdout);

	/* Hold. */
	deadline = now_mono() + (double)o.hold;
	while (!stop_requested && now_mono() < deadline) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int n = poll(&p, o.use_stdin ? 1 : 0, 500);

		if (n > 0) {
			char buf[256];

			if (read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
				break;
		}
		i = reap();
		if (i >= 0)
			die("%s worker %d (pid %d) died while holding", kind_name[jobs[i].kind], jobs[i].index,
			    (int)jobs[i].pid);
	}
	close(hpipe[1]);
	t0 = now_mono();
	cleanup();
	if (o.verbose)
		fprintf(stderr, "loadgen: workers stopped and %s removed in %.2f s\n", o.name, now_mono() - t0);
	return 0;
}
