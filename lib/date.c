/*
 * lib/date.c - calendar dates (YYYY-MM-DD) and timestamps, always in UTC so
 * that a database moved between machines means the same.
 */
#include "lib.h"

#include <string.h>

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

int
date_parse(const char *s, int *year, int *month, int *day, char *err)
{
	int y, m, d;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return errf(err, "date '%.20s' is not of the form YYYY-MM-DD", s);
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return errf(err, "date '%.20s' is not of the form YYYY-MM-DD", s);
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1970 || y > 9999)
		return errf(err, "date '%s': year out of range", s);
	if (m < 1 || m > 12)
		return errf(err, "date '%s': no such month", s);
	if (d < 1 || d > days_in_month(y, m))
		return errf(err, "date '%s': no such day in that month", s);
	if (year)
		*year = y;
	if (month)
		*month = m;
	if (day)
		*day = d;
	return 0;
}

void
date_today(char out[DATE_LEN])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, DATE_LEN, "%Y-%m-%d", &tm);
}

void
date_months_ago(int months, char out[DATE_LEN])
{
	time_t now = time(NULL);
	struct tm tm;
	int y, m, d;

	gmtime_r(&now, &tm);
	y = tm.tm_year + 1900;
	m = tm.tm_mon + 1 - months;
	while (m < 1) {
		m += 12;
		y--;
	}
	d = tm.tm_mday;
	if (d > days_in_month(y, m))
		d = days_in_month(y, m);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	strftime(out, DATE_LEN, "%Y-%m-%d", &tm);
}

void
timestamp_at(time_t t, char out[TIMESTAMP_LEN])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, TIMESTAMP_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
timestamp_now(char out[TIMESTAMP_LEN])
{
	timestamp_at(time(NULL), out);
}

double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
deadline_after(clockid_t clock, double seconds, struct timespec *out)
{
	time_t whole;

	clock_gettime(clock, out);
	if (seconds <= 0)
		return;
	whole = (time_t)seconds;
	out->tv_sec += whole;
	out->tv_nsec += (long)((seconds - (double)whole) * 1e9);
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}
