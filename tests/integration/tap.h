/* tap.h - TAP output for the C drivers of the integration tests
 * (test_store, test_ldapconn): numbered "ok N - ..." / "not ok N - ..."
 * lines and the closing "N passed, N failed" line the suite expects. */
#ifndef DS_TEST_TAP_H
#define DS_TEST_TAP_H

#include <stdbool.h>
#include "compat.h"

/* One check; returns cond. */
bool check(bool cond, const char *fmt, ...) DS_PRINTF(2, 3);
/* want == got (got may be NULL), showing both when not. */
void check_str(const char *name, const char *want, const char *got);
/* Prints "N passed, N failed"; returns the exit status (1 on a failure). */
int tap_done(void);

#endif
