/*
 * What the benchmark's C tools share: die() and the parsing of counts. A tool
 * defines TOOL (its name, the prefix of its errors) before including this.
 */
#ifndef SOCKSCAN_BENCH_COMMON_H
#define SOCKSCAN_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs(TOOL ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A count from min to max, with an optional k (1,000) or m (1,000,000) suffix; dies naming opt otherwise. */
static long parse_count(const char *s, const char *opt, long min, long max)
{
	char *end;
	long v, multiplier = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!errno && end != s && v >= 0) {
		if (*end == 'k' || *end == 'K')
			multiplier = 1000, end++;
		else if (*end == 'm' || *end == 'M')
			multiplier = 1000000, end++;
		/* Compared before multiplying: no overflow. */
		if (!*end && v <= max / multiplier && v * multiplier >= min)
			return v * multiplier;
	}
	die("%s: expected a count from %ld to %ld (k and m suffixes allowed), got '%s'", opt, min, max, s);
	return 0;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
