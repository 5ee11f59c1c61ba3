/* tap.c - TAP output for the C integration drivers (tap.h). */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_passed, tap_failed;

bool
check(bool cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (cond)
		tap_passed++;
	else
		tap_failed++;
	return cond;
}

void
check_str(const char *name, const char *want, const char *got)
{
	if (!check(strcmp(want, got ? got : "(null)") == 0, "%s", name))
		printf("#   want: '%s'\n#   got:  '%s'\n", want,
		    got ? got : "(null)");
}

int
tap_done(void)
{
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed > 0 ? 1 : 0;
}
