/*
 * churngen: opens and closes loopback TCP connections at a steady rate, for
 * the benchmarks of `sockscan events` and `sockscan churn`.
 *
 *   ip netns exec NS churngen --rate 5000 --destinations 100 --seconds 10
 *
 * Run it inside a namespace made for it, whose ip_local_port_range starts
 * above the listeners' ports (the caller sets it, before anything that reads
 * it starts: run.sh uses 40000-65535). It listens on 127.0.0.1, ports 20000 to
 * 20000 + destinations - 1 (at most 19,000), and refuses a range that overlaps
 * them. Each connection goes to the next destination in
 * turn: connect, accept, then the client closes first (its port stays in
 * TIME_WAIT, as with a client that does not keep connections alive) and the
 * server second. The kernel destroys two sockets per connection, one destroy
 * event each.
 *
 * Connections are due 1/rate apart; when the generator falls more than a
 * second behind it starts again from now instead of catching up in a burst,
 * so made / seconds is the rate the namespace saw. It stops after --seconds
 * (at most 600) or rate * seconds connections, or at the first failed call.
 * At the end it prints one JSON line: {"made", "seconds", "rate",
 * "destinations", "failure"}.
 *
 * Build: gcc -O2 -Wall -o churngen churngen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define TOOL "churngen"
#include "common.h"

#define FIRST_PORT 20000
#define MAX_DESTINATIONS 19000

static struct sockaddr_in destination(long i)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)(FIRST_PORT + i));
	return a;
}

int main(int argc, char **argv)
{
	long rate = 0, destinations = 1, seconds = 0, made = 0, limit, i, low, high;
	int *listeners;
	char failure[160] = "";
	double start, due, period, elapsed;
	struct rlimit files;
	FILE *range;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			die("%s: expected a value after it (usage: churngen --rate R [--destinations D] --seconds S)", argv[i]);
		if (!strcmp(argv[i], "--rate"))
			rate = parse_count(argv[++i], "--rate", 1, 100000);
		else if (!strcmp(argv[i], "--destinations"))
			destinations = parse_count(argv[++i], "--destinations", 1, MAX_DESTINATIONS);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = parse_count(argv[++i], "--seconds", 1, 600);
		else
			die("unknown option '%s' (usage: churngen --rate R [--destinations D] --seconds S)", argv[i]);
	}
	if (!rate || !seconds)
		die("--rate and --seconds are required (usage: churngen --rate R [--destinations D] --seconds S)");

	range = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (!range || fscanf(range, "%ld %ld", &low, &high) != 2)
		die("cannot read ip_local_port_range: %s", range ? "not two numbers" : strerror(errno));
	fclose(range);
	if (low < FIRST_PORT + destinations)
		die("ip_local_port_range starts at %ld, among the listeners' ports %d-%ld: set it above them first", low,
		    FIRST_PORT, FIRST_PORT + destinations - 1);
	if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < (rlim_t)destinations + 64) {
		files.rlim_cur = (rlim_t)destinations + 64;
		if (files.rlim_max < files.rlim_cur)
			files.rlim_max = files.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &files) != 0)
			die("cannot raise the open-file limit to %ld: %s", destinations + 64, strerror(errno));
	}

	listeners = calloc((size_t)destinations, sizeof(int));
	if (!listeners)
		die("out of memory");
	for (i = 0; i < destinations; i++) {
		struct sockaddr_in a = destination(i);
		int one = 1;

		listeners[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (listeners[i] < 0 ||
		    setsockopt(listeners[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(listeners[i], (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listeners[i], 64) < 0)
			die("listener on 127.0.0.1:%ld: %s", FIRST_PORT + i, strerror(errno));
	}

	limit = rate * seconds;
	period = 1.0 / (double)rate;
	start = now_mono();
	due = start;
	while (made < limit) {
		double t = now_mono();
		struct sockaddr_in a = destination(made % destinations);
		int client, server;

		if (t - start >= (double)seconds)
			break;
		if (due > t) {
			struct timespec pause = { 0, (long)((due - t) * 1e9) };

			nanosleep(&pause, NULL);
			continue;
		}
		if (t - due > 1.0)
			due = t;
		client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (client < 0 || connect(client, (struct sockaddr *)&a, sizeof(a)) < 0) {
			snprintf(failure, sizeof(failure), "connect to port %d: %s", ntohs(a.sin_port), strerror(errno));
			break;
		}
		server = accept4(listeners[made % destinations], NULL, NULL, SOCK_CLOEXEC);
		if (server < 0) {
			snprintf(failure, sizeof(failure), "accept: %s", strerror(errno));
			close(client);
			break;
		}
		close(client);
		close(server);
		made++;
		due += period;
	}
	elapsed = now_mono() - start;
	/* Stopped at the last connection: the window is made / rate, not the time to the last one. */
	if (made == limit && elapsed < made * period)
		elapsed = made * period;
	for (i = 0; i < destinations; i++)
		close(listeners[i]);
	free(listeners);
	printf("{\"made\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"destinations\":%ld,\"failure\":%s%s%s}\n", made, elapsed,
	       elapsed > 0 ? made / elapsed : 0.0, destinations, failure[0] ? "\"" : "", failure[0] ? failure : "null",
	       failure[0] ? "\"" : "");
	return failure[0] ? 1 : 0;
}
