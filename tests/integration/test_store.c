/* test_store.c - drives store.c against a real PostgreSQL (the harness's,
 * see store.sh): batches in, rows read back with SQL.  Prints TAP-like
 * "ok N - name" lines and "N passed, N failed"; exits 1 on failure.
 *
 * Usage: test_store [--notify]   with PG_CONNINFO and PG_PASSWORD_FILE
 * in the environment.  --notify writes one batch of two new users on
 * source "notify" and exits (store.sh listens for the NOTIFY).
 *
 * The store is asynchronous; each check runs the event loop until its
 * callback has run, which is fine in a test and never done in the
 * daemon.  It must never need anything but the database it is given. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "escape.h"
#include "log.h"
#include "tap.h"
#include "migrate.h"
#include "pgconn.h"
#include "store.h"

#define WAIT_MS 30000

static struct {
	struct event_base *base;
	struct pgconn *pg;
	struct store *s;
	char *conninfo, *password;
} T;

/* ---- timing -------------------------------------------------------------- */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- running the loop until something happened --------------------------- */

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

static bool
wait_for(const bool *flag)
{
	struct timeval tv = { WAIT_MS / 1000, 0 };
	bool expired = false;
	struct event *ev = evtimer_new(T.base, on_timeout, &expired);

	evtimer_add(ev, &tv);
	while (!*flag && !expired)
		event_base_loop(T.base, EVLOOP_ONCE);
	event_free(ev);
	if (!*flag)
		printf("# timed out after %d ms\n", WAIT_MS);
	return *flag;
}

static void
on_pg_state(struct pgconn *pg, enum pgconn_state state, void *arg)
{
}

static bool
pg_ready(struct pgconn *pg)
{
	double t0 = now_ms();

	/* pgconn's own events (connect, backoff timer) keep the loop
	 * turning until it is ready. */
	while (pgconn_get_state(pg) != PGCONN_READY && now_ms() - t0 < WAIT_MS)
		event_base_loop(T.base, EVLOOP_ONCE);
	return pgconn_get_state(pg) == PGCONN_READY;
}

static struct pgconn *
pg_connect(void)
{
	struct pgconn_settings set = {
		.conninfo = T.conninfo, .password = T.password,
		.connect_timeout_ms = 5000, .backoff_min_ms = 50,
		.backoff_max_ms = 500,
	};
	struct pgconn *pg = pgconn_new(T.base, &set, on_pg_state, NULL);

	pgconn_start(pg);
	return pg;
}

/* ---- SQL helpers ---------------------------------------------------------- */

struct qres {
	bool done, ok;
	char *val;     /* first column of the first row, or NULL */
	char err[512];
};

static void
on_query(const struct pgresult *res, void *arg)
{
	struct qres *q = arg;
	const char *v = pgresult_value(res, 0, 0);

	q->done = true;
	q->ok = pgresult_ok(res);
	q->val = v != NULL ? strdup(v) : NULL;
	snprintf(q->err, sizeof(q->err), "%s", pgresult_error(res));
}

/* The first value of a statement's result, malloc'd ("(null)" for NULL,
 * "(error: ...)" when it failed). */
static char *
sqlp_on(struct pgconn *pg, const char *sql, int n, const char *const *p)
{
	struct qres q = { 0 };
	char *out;

	if (pgconn_query(pg, sql, n, p, on_query, &q) != 0)
		return strdup("(error: not ready)");
	wait_for(&q.done);
	if (!q.ok) {
		out = malloc(strlen(q.err) + 16);
		sprintf(out, "(error: %s)", q.err);
		free(q.val);
		return out;
	}
	return q.val != NULL ? q.val : strdup("(null)");
}

static char *
sqlp(const char *sql, int n, const char *const *p)
{
	return sqlp_on(T.pg, sql, n, p);
}

static char *
sql(const char *s)
{
	return sqlp(s, 0, NULL);
}

static void
check_sql(const char *name, const char *want, const char *query)
{
	char *got = sql(query);

	check_str(name, want, got);
	free(got);
}

static long
sql_num(const char *query)
{
	char *v = sql(query);
	long n = strtol(v, NULL, 10);

	free(v);
	return n;
}

static void
reset_tables(void)
{
	free(sql("TRUNCATE dir_user, dir_group CASCADE"));
}

/* ---- store calls, made synchronous ---------------------------------------- */

struct wres {
	bool done;
	struct store_write_report r;
};

static void
on_write(const struct store_write_report *r, void *arg)
{
	struct wres *w = arg;

	w->r = *r;
	w->done = true;
}

static double last_queue_ms; /* store_write() itself: building params */

static struct store_write_report
write_batch(struct store_batch *b)
{
	struct wres w = { 0 };
	double t0 = now_ms();
	int rc = store_write(T.s, b, on_write, &w);

	last_queue_ms = now_ms() - t0;
	if (rc != 0) {
		w.r.result = STORE_FAILED;
		snprintf(w.r.error, sizeof(w.r.error), "store_write refused");
		return w.r;
	}
	if (!wait_for(&w.done))
		w.r.result = STORE_FAILED;
	if (w.r.result == STORE_FAILED)
		printf("# write failed: %s\n", w.r.error);
	store_batch_reset(b);
	return w.r;
}

struct sres {
	bool done, ok;
	struct store_state st;
	char err[512];
};

static void
on_state(bool ok, const struct store_state *st, const char *error, void *arg)
{
	struct sres *s = arg;

	s->done = true;
	s->ok = ok;
	snprintf(s->err, sizeof(s->err), "%s", error ? error : "");
	if (ok) {
		s->st = *st;
		s->st.cookie = NULL;
		if (st->cookie_len > 0) {
			s->st.cookie = malloc(st->cookie_len);
			memcpy(s->st.cookie, st->cookie, st->cookie_len);
		}
	}
}

static struct sres
load_state(const char *server_id)
{
	struct sres s = { 0 };

	store_load_state(T.s, server_id, "dc=example,dc=com", on_state, &s);
	wait_for(&s.done);
	if (!s.ok)
		printf("# load_state failed: %s\n", s.err);
	return s;
}

struct dres {
	bool done, ok;
	struct store_counts c;
};

static void
on_done(bool ok, const char *error, void *arg)
{
	struct dres *d = arg;

	d->done = true;
	d->ok = ok;
	if (!ok)
		printf("# failed: %s\n", error);
}

static void
on_counts(bool ok, const struct store_counts *c, void *arg)
{
	struct dres *d = arg;

	d->done = true;
	d->ok = ok;
	if (ok)
		d->c = *c;
}

static struct store_counts
counts(void)
{
	struct dres d = { 0 };

	if (store_counts(T.s, on_counts, &d) == 0)
		wait_for(&d.done);
	return d.c;
}

/* ---- batch building ------------------------------------------------------- */

static char *
norm(const char *dn)
{
	struct ds_error err;
	char *out = NULL;

	if (dn == NULL)
		return NULL;
	if (dn_normalize(dn, &out, &err) != 0) {
		printf("# dn_normalize(%s): %s\n", dn, err.msg);
		return strdup(dn);
	}
	return out;
}

static char *
xdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* A user "uid=<login>,ou=people,dc=example,dc=com" unless dn is given. */
static struct store_user *
add_user(struct store_batch *b, const char *id, const char *login,
    const char *manager_login)
{
	struct store_user *u = store_batch_add_user(b);
	char dn[256], mdn[256];

	snprintf(dn, sizeof(dn), "uid=%s,ou=people,dc=example,dc=com", login);
	u->id = xdup(id);
	u->dn = xdup(dn);
	u->dn_norm = norm(dn);
	u->login = xdup(login);
	u->full_name = xdup(login);
	if (manager_login != NULL) {
		snprintf(mdn, sizeof(mdn), "uid=%s,ou=People,dc=example,dc=com",
		    manager_login);
		u->manager_dn = xdup(mdn);
		u->manager_dn_norm = norm(mdn);
	}
	return u;
}

static struct store_group *
add_group(struct store_batch *b, const char *id, const char *cn,
    const char *const *members)
{
	struct store_group *g = store_batch_add_group(b);
	char dn[256];
	size_t n = 0;

	while (members != NULL && members[n] != NULL)
		n++;
	snprintf(dn, sizeof(dn), "cn=%s,ou=groups,dc=example,dc=com", cn);
	g->id = xdup(id);
	g->dn = xdup(dn);
	g->dn_norm = norm(dn);
	g->name = xdup(cn);
	g->member_dn = calloc(n + 1, sizeof(char *));
	g->member_dn_norm = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		g->member_dn[i] = xdup(members[i]);
		g->member_dn_norm[i] = norm(members[i]);
	}
	g->member_count = n;
	return g;
}

#define PEOPLE(x) "uid=" x ",ou=people,dc=example,dc=com"
#define GROUPS(x) "cn=" x ",ou=groups,dc=example,dc=com"

/* ---- scenarios ------------------------------------------------------------ */

/* Alice, Bob (managed by Alice, disabled), group staff (Alice, Bob as
 * "Bob", a DN nobody has, group sub) and group sub (Bob). */
static void
add_basic(struct store_batch *b)
{
	const char *staff[] = { PEOPLE("alice"), PEOPLE("Bob"),
	    PEOPLE("nobody"), GROUPS("sub"), NULL };
	const char *sub[] = { PEOPLE("bob"), NULL };
	struct store_user *u = add_user(b, "u-alice", "alice", NULL);

	u->login_alt = xdup("alice.a");
	u->given_name = xdup("Alice");
	u->surname = xdup("Liddell");
	u->email = xdup("alice@example.com");
	u->user_type = xdup("employee");
	u = add_user(b, "u-bob", "bob", "alice");
	u->disabled = true;
	add_group(b, "g-staff", "staff", staff);
	add_group(b, "g-sub", "sub", sub);
}

static void
test_basic(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	struct store_counts c;

	reset_tables();
	add_basic(&b);
	store_batch_set_cookie(&b, "c1", 2);
	r = write_batch(&b);
	check(r.result == STORE_OK && r.users_written == 2 &&
	    r.groups_written == 2, "basic: batch committed (users=%u "
	    "groups=%u)", r.users_written, r.groups_written);
	check_sql("basic: user columns", "alice|alice.a|alice|Alice|Liddell|"
	    "alice@example.com|employee|f|uid=alice,ou=people,dc=example,dc=com",
	    "SELECT concat_ws('|', uid, login_alt, full_name, given_name, "
	    "surname, email, user_type, disabled, dn_norm) FROM dir_user "
	    "WHERE id = 'u-alice'");
	check_sql("basic: manager resolved, disabled stored", "u-alice|true",
	    "SELECT manager_id || '|' || disabled FROM dir_user "
	    "WHERE id = 'u-bob'");
	check_sql("basic: memberships with links",
	    "cn=sub,ou=groups,dc=example,dc=com::g-sub "
	    "uid=alice,ou=people,dc=example,dc=com:u-alice: "
	    "uid=bob,ou=people,dc=example,dc=com:u-bob: "
	    "uid=nobody,ou=people,dc=example,dc=com::",
	    "SELECT string_agg(member_dn_norm || ':' || coalesce(member_user_id, "
	    "'') || ':' || coalesce(member_group_id, ''), ' ' ORDER BY "
	    "member_dn_norm) FROM dir_group_member WHERE group_id = 'g-staff'");
	check_sql("basic: member DN kept as sent", PEOPLE("Bob"),
	    "SELECT member_dn FROM dir_group_member WHERE group_id = "
	    "'g-staff' AND member_user_id = 'u-bob'");
	check_sql("basic: nested flattening", "u-alice,u-bob",
	    "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM "
	    "dir_group_member_flat WHERE group_id = 'g-staff'");
	check_sql("basic: cookie stored", "6331",
	    "SELECT encode(cookie, 'hex') FROM dir_sync_state "
	    "WHERE source = 'default'");
	c = counts();
	check(c.users == 2 && c.groups == 2 && c.memberships == 5 &&
	    c.dangling_managers == 0, "basic: counts users=%lld groups=%lld "
	    "memberships=%lld dangling=%lld", c.users, c.groups,
	    c.memberships, c.dangling_managers);
	store_batch_free(&b);
}

/* The same batch twice: nothing changes the second time, updated_at
 * included. */
static void
test_idempotent(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	const char *stamp = "SELECT string_agg(id || updated_at, ',' ORDER BY "
	    "id) || (SELECT count(*) FROM dir_group_member) FROM (SELECT id, "
	    "updated_at FROM dir_user UNION ALL SELECT id, updated_at FROM "
	    "dir_group) x";
	char *before = sql(stamp), *after;

	add_basic(&b);
	r = write_batch(&b);
	after = sql(stamp);
	check(r.result == STORE_OK && r.users_written == 0 &&
	    r.groups_written == 0, "idempotent: second write changes nothing "
	    "(users=%u groups=%u)", r.users_written, r.groups_written);
	check_str("idempotent: rows and updated_at unchanged", before, after);
	free(before);
	free(after);
	store_batch_free(&b);
}

static void
test_managers(void)
{
	struct store_batch b = { 0 };
	struct store_counts c;

	add_user(&b, "u-carol", "carol", "dave");
	check(write_batch(&b).result == STORE_OK, "managers: carol written "
	    "before her manager");
	check_sql("managers: unresolved while dave is unknown", "(null)",
	    "SELECT manager_id FROM dir_user WHERE id = 'u-carol'");
	c = counts();
	check(c.dangling_managers == 1, "managers: dangling manager counted "
	    "(%lld)", c.dangling_managers);
	add_user(&b, "u-dave", "dave", NULL);
	add_user(&b, "u-eve", "eve", "eve");
	add_user(&b, "u-frank", "frank", "gina");
	add_user(&b, "u-gina", "gina", "frank");
	check(write_batch(&b).result == STORE_OK, "managers: self-manager and "
	    "2-cycle written");
	check_sql("managers: resolved once the manager arrives", "u-dave",
	    "SELECT manager_id FROM dir_user WHERE id = 'u-carol'");
	check_sql("managers: self and cycle stored", "u-eve u-gina u-frank",
	    "SELECT string_agg(manager_id, ' ' ORDER BY id) FROM dir_user "
	    "WHERE id IN ('u-eve', 'u-frank', 'u-gina')");
	c = counts();
	check(c.dangling_managers == 0, "managers: nothing dangling (%lld)",
	    c.dangling_managers);
	store_batch_free(&b);
}

/* Same id, new DN: links made under the old DN are cleared, links to
 * the new DN made. */
static void
test_rename(void)
{
	struct store_batch b = { 0 };
	const char *staff[] = { PEOPLE("alice2"), PEOPLE("Bob"), NULL };

	add_user(&b, "u-alice", "alice2", NULL);
	check(write_batch(&b).result == STORE_OK, "rename: alice renamed");
	check_sql("rename: manager link under the old DN cleared", "(null)",
	    "SELECT manager_id FROM dir_user WHERE id = 'u-bob'");
	check_sql("rename: membership under the old DN unlinked", "(null)",
	    "SELECT member_user_id FROM dir_group_member WHERE group_id = "
	    "'g-staff' AND member_dn_norm LIKE 'uid=alice,%'");
	add_user(&b, "u-bob", "bob", "alice2");
	add_group(&b, "g-staff", "staff", staff);
	check(write_batch(&b).result == STORE_OK, "rename: referrers updated");
	check_sql("rename: manager link under the new DN", "u-alice",
	    "SELECT manager_id FROM dir_user WHERE id = 'u-bob'");
	check_sql("rename: member list replaced and linked",
	    "u-alice,u-bob", "SELECT string_agg(member_user_id, ',' ORDER BY "
	    "member_user_id) FROM dir_group_member WHERE group_id = 'g-staff'");
	store_batch_free(&b);
}

/* A new entry takes over the DN of a row the batch does not mention (its
 * rename comes later): no unique violation, and the old row comes back
 * when its rename arrives. */
static void
test_dn_takeover(void)
{
	struct store_batch b = { 0 };

	add_user(&b, "u-pat", "pat", NULL);
	add_user(&b, "u-sub", "sub", "pat");
	check(write_batch(&b).result == STORE_OK, "takeover: pat written");
	add_user(&b, "u-pat2", "pat", NULL);
	check(write_batch(&b).result == STORE_OK, "takeover: another id takes "
	    "pat's DN");
	check_sql("takeover: old row parked", "#parked:u-pat|-1",
	    "SELECT dn_norm || '|' || sync_gen FROM dir_user WHERE id = 'u-pat'");
	check_sql("takeover: manager link follows the DN", "u-pat2",
	    "SELECT manager_id FROM dir_user WHERE id = 'u-sub'");
	add_user(&b, "u-pat", "pat.old", NULL);
	check(write_batch(&b).result == STORE_OK, "takeover: old entry's "
	    "rename arrives");
	check_sql("takeover: old row restored",
	    "uid=pat.old,ou=people,dc=example,dc=com|true", "SELECT dn_norm || "
	    "'|' || (sync_gen = refresh_gen) FROM dir_user, dir_sync_state "
	    "WHERE id = 'u-pat' AND source = 'default'");
	store_batch_free(&b);
}

static void
add_users(struct store_batch *b, const char *prefix, int from, int to)
{
	char id[64], login[64], boss[64];

	snprintf(boss, sizeof(boss), "%s.%05d", prefix, 0);
	for (int i = from; i < to; i++) {
		snprintf(id, sizeof(id), "%s%05d", prefix, i);
		snprintf(login, sizeof(login), "%s.%05d", prefix, i);
		add_user(b, id, login, i > 0 ? boss : NULL);
	}
}

static void
test_refresh_present(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;

	reset_tables();
	store_set_max_delete_ratio(T.s, 1.0);
	add_users(&b, "r", 0, 5);
	b.refresh = STORE_REFRESH_BEGIN;
	check(write_batch(&b).result == STORE_OK, "present: refresh 1 begins "
	    "with 5 users");
	b.refresh = STORE_REFRESH_END_PRESENT;
	r = write_batch(&b);
	check(r.result == STORE_OK && r.deleted == 0, "present: refresh 1 ends, "
	    "nothing deleted (%u)", r.deleted);
	b.refresh = STORE_REFRESH_BEGIN;
	check(write_batch(&b).result == STORE_OK, "present: refresh 2 begins "
	    "empty");
	b.refresh = STORE_REFRESH_END_PRESENT;
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "r%05d", i);
		store_batch_add_present(&b, id);
	}
	r = write_batch(&b);
	check(r.result == STORE_OK && r.deleted == 2 && r.marked_present == 3,
	    "present: 3 present, the 2 others deleted (deleted=%u present=%u)",
	    r.deleted, r.marked_present);
	check_sql("present: the right ones remain", "r00000,r00001,r00002",
	    "SELECT string_agg(id, ',' ORDER BY id) FROM dir_user");
	store_batch_free(&b);
}

static void
test_refresh_delete(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;

	reset_tables();
	add_users(&b, "d", 0, 4);
	check(write_batch(&b).result == STORE_OK, "delete mode: 4 users");
	b.refresh = STORE_REFRESH_BEGIN;
	store_batch_add_deleted(&b, "d00001");
	store_batch_add_deleted(&b, "d00002");
	r = write_batch(&b);
	check(r.result == STORE_OK && r.deleted == 0, "delete mode: deletions "
	    "during the refresh are only marked");
	check_sql("delete mode: marked rows still there", "d00001:-1 d00002:-1",
	    "SELECT string_agg(id || ':' || sync_gen, ' ' ORDER BY id) FROM "
	    "dir_user WHERE sync_gen = -1");
	b.refresh = STORE_REFRESH_CONTINUE;
	add_users(&b, "d", 3, 4);
	check(write_batch(&b).result == STORE_OK, "delete mode: refresh "
	    "continues");
	b.refresh = STORE_REFRESH_END_DELETE;
	r = write_batch(&b);
	check(r.result == STORE_OK && r.deleted == 2, "delete mode: marked rows "
	    "deleted at the end (%u)", r.deleted);
	check_sql("delete mode: unmarked rows untouched", "d00000,d00003",
	    "SELECT string_agg(id, ',' ORDER BY id) FROM dir_user");
	store_batch_free(&b);
}

static void
test_guard(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	struct dres d = { 0 };
	struct sres s;

	reset_tables();
	store_set_max_delete_ratio(T.s, 0.10);
	b.refresh = STORE_REFRESH_BEGIN;
	add_users(&b, "g", 0, 100);
	check(write_batch(&b).result == STORE_OK, "guard: 100 users");
	b.refresh = STORE_REFRESH_END_PRESENT;
	check(write_batch(&b).result == STORE_OK, "guard: first refresh ends");
	b.refresh = STORE_REFRESH_BEGIN;
	add_users(&b, "g", 0, 50);
	check(write_batch(&b).result == STORE_OK, "guard: refresh sees 50");
	b.refresh = STORE_REFRESH_END_PRESENT;
	r = write_batch(&b);
	check(r.result == STORE_GUARD_TRIPPED && r.guard_count == 50 &&
	    r.deleted == 0, "guard: tripped (result=%d guard_count=%u "
	    "deleted=%u)", r.result, r.guard_count, r.deleted);
	check(sql_num("SELECT count(*) FROM dir_user") == 100, "guard: nothing "
	    "deleted");
	s = load_state("ldap://one");
	check(s.ok && s.st.guard_count == 50 && s.st.guard_since > 0,
	    "guard: state shows guard_count=%u since=%lld", s.st.guard_count,
	    s.st.guard_since);
	store_state_clear(&s.st);
	/* Back while the guard waits: confirming must not take it. */
	add_users(&b, "g", 60, 61);
	check(write_batch(&b).result == STORE_OK, "guard: one user reappears");
	check(store_confirm_deletes(T.s, on_done, &d) == 0 && wait_for(&d.done)
	    && d.ok, "guard: confirm-deletes succeeds");
	check(sql_num("SELECT count(*) FROM dir_user") == 51, "guard: held-back "
	    "deletions applied, the reappeared user kept");
	s = load_state("ldap://one");
	check(s.ok && s.st.guard_count == 0 && s.st.guard_since == 0,
	    "guard: cleared");
	store_state_clear(&s.st);
	store_set_max_delete_ratio(T.s, 1.0);
	store_batch_free(&b);
}

/* Deletions outside a refresh (006_persist_guard.sql): they add up over
 * the window, the batch that passes the ratio is held back (marked, with
 * its cookie stored), later ones join it, a write of a held-back entry
 * takes it out again, and the confirmation deletes the rest and starts
 * a new window. */
static void
test_persist_guard(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	struct dres d = { 0 };
	char id[32];

	reset_tables();
	store_set_max_delete_ratio(T.s, 0.10);
	store_set_delete_window(T.s, 3600 * 1000);
	add_users(&b, "p", 0, 100);
	check(write_batch(&b).result == STORE_OK, "persist guard: 100 users");
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "p%05d", i);
		store_batch_add_deleted(&b, id);
	}
	r = write_batch(&b);
	check(r.result == STORE_OK && r.deleted == 6, "persist guard: 6 of 100 "
	    "deleted at once (result=%d deleted=%u)", r.result, r.deleted);
	for (int i = 6; i < 11; i++) {
		snprintf(id, sizeof(id), "p%05d", i);
		store_batch_add_deleted(&b, id);
	}
	store_batch_set_cookie(&b, "held", 4);
	r = write_batch(&b);
	check(r.result == STORE_GUARD_TRIPPED && r.guard_count == 5 &&
	    r.deleted == 0, "persist guard: 6 + 5 of 100 trips it (result=%d "
	    "guard_count=%u deleted=%u)", r.result, r.guard_count, r.deleted);
	check(sql_num("SELECT count(*) FROM dir_user") == 94, "persist guard: "
	    "the 5 are still mirrored");
	check_sql("persist guard: the cookie of the held batch is stored",
	    "68656c64", "SELECT encode(cookie, 'hex') FROM dir_sync_state "
	    "WHERE source = 'default'");
	store_batch_add_deleted(&b, "p00050");
	r = write_batch(&b);
	check(r.result == STORE_GUARD_TRIPPED && r.guard_count == 6,
	    "persist guard: a later single deletion joins it (guard_count=%u)",
	    r.guard_count);
	add_users(&b, "p", 7, 8);
	check(write_batch(&b).result == STORE_OK, "persist guard: a held-back "
	    "user is written again");
	check(store_confirm_deletes(T.s, on_done, &d) == 0 && wait_for(&d.done)
	    && d.ok, "persist guard: confirm-deletes succeeds");
	check(sql_num("SELECT count(*) FROM dir_user") == 89, "persist guard: "
	    "5 deleted, the user written again kept");
	check_sql("persist guard: confirmed: window and guard cleared",
	    "0|true|true", "SELECT persist_deleted || '|' || (delete_guard_count "
	    "IS NULL) || '|' || (persist_deleted_since IS NULL) FROM "
	    "dir_sync_state WHERE source = 'default'");
	store_batch_add_deleted(&b, "p00060");
	r = write_batch(&b);
	check(r.result == STORE_OK && r.deleted == 1, "persist guard: after "
	    "the confirmation a deletion goes at once");

	/* Active Directory: a held-back deletion takes its memberships with
	 * it when confirmed (AD does not change the groups); an entry that
	 * only left the filter keeps them. */
	{
		const char *list[] = { "uid=p.00070,ou=people,dc=example,dc=com",
		    "uid=p.00071,ou=people,dc=example,dc=com",
		    "uid=p.00072,ou=people,dc=example,dc=com", NULL };
		struct dres d2 = { 0 };

		store_set_deletes_remove_memberships(T.s, true);
		add_group(&b, "p-group", "pgroup", list);
		check(write_batch(&b).result == STORE_OK, "persist guard, AD: "
		    "group of 3");
		store_set_max_delete_ratio(T.s, 0.0);
		store_batch_add_deleted(&b, "p00070");
		store_batch_add_left(&b, "p00071");
		r = write_batch(&b);
		check(r.result == STORE_GUARD_TRIPPED && r.guard_count == 2,
		    "persist guard, AD: held back (guard_count=%u)",
		    r.guard_count);
		check_sql("persist guard, AD: memberships kept while held", "3",
		    "SELECT count(*) FROM dir_group_member WHERE group_id = "
		    "'p-group'");
		check(store_confirm_deletes(T.s, on_done, &d2) == 0 &&
		    wait_for(&d2.done) && d2.ok, "persist guard, AD: confirmed");
		check_sql("persist guard, AD: the deleted user's membership "
		    "went, the one that left keeps its own",
		    "uid=p.00071,ou=people,dc=example,dc=com "
		    "uid=p.00072,ou=people,dc=example,dc=com",
		    "SELECT string_agg(member_dn_norm, ' ' ORDER BY "
		    "member_dn_norm) FROM dir_group_member WHERE group_id = "
		    "'p-group'");
		store_set_deletes_remove_memberships(T.s, false);
	}
	store_set_max_delete_ratio(T.s, 1.0);
	store_batch_free(&b);
}

/* A row the database refuses (dn is NOT NULL): the whole batch and its
 * cookie are rolled back, and the next batch works. */
static void
test_failure(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	const char *cookie = "SELECT coalesce(encode(cookie, 'hex'), 'none') "
	    "FROM dir_sync_state WHERE source = 'default'";
	char *before = sql(cookie), *after;
	struct store_user *u;

	add_user(&b, "f-ok", "fine", NULL);
	u = add_user(&b, "f-bad", "bad", NULL);
	free(u->dn);
	u->dn = NULL;
	add_group(&b, "f-group", "fgroup", NULL);
	store_batch_set_cookie(&b, "bad", 3);
	printf("# the store logs the next error on purpose\n");
	r = write_batch(&b);
	check(r.result == STORE_FAILED, "failure: batch reported failed");
	check(strstr(r.error, "23502") != NULL && strstr(r.error, "\"dn\"") !=
	    NULL, "failure: first error with its SQL state: %s", r.error);
	after = sql(cookie);
	check_str("failure: cookie not changed", before, after);
	check(sql_num("SELECT count(*) FROM dir_user WHERE id LIKE 'f-%'") +
	    sql_num("SELECT count(*) FROM dir_group WHERE id LIKE 'f-%'") == 0,
	    "failure: no partial rows");
	add_user(&b, "f-ok", "fine", NULL);
	check(write_batch(&b).result == STORE_OK, "failure: next batch works "
	    "(no transaction left open)");
	/* The DN's uniqueness is checked at COMMIT (deferred). */
	add_user(&b, "f-twin1", "twin", NULL);
	add_user(&b, "f-twin2", "twin", NULL);
	r = write_batch(&b);
	check(r.result == STORE_FAILED && strstr(r.error, "step commit") &&
	    strstr(r.error, "23505") && sql_num("SELECT count(*) FROM dir_user "
	    "WHERE id LIKE 'f-twin%'") == 0, "failure: a duplicate DN fails "
	    "at COMMIT, nothing written");
	free(before);
	free(after);
	store_batch_free(&b);
}

static void
test_state(void)
{
	struct store_batch b = { 0 };
	struct sres s;

	store_batch_set_cookie(&b, "\x01\x00\xff", 3);
	check(write_batch(&b).result == STORE_OK, "state: binary cookie "
	    "written alone");
	s = load_state("ldap://one");
	check(s.ok && s.st.found && s.st.cookie_len == 3 &&
	    memcmp(s.st.cookie, "\x01\x00\xff", 3) == 0 &&
	    strcmp(s.st.server_id, "ldap://one") == 0, "state: same server "
	    "keeps the cookie");
	store_state_clear(&s.st);
	s = load_state("ldap://two");
	check(s.ok && s.st.cookie == NULL && s.st.cookie_len == 0 &&
	    strcmp(s.st.server_id, "ldap://two") == 0, "state: another server "
	    "discards the cookie");
	store_state_clear(&s.st);
	check_sql("state: discarded in the database too", "none|ldap://two",
	    "SELECT coalesce(encode(cookie, 'hex'), 'none') || '|' || server_id FROM "
	    "dir_sync_state WHERE source = 'default'");
	store_batch_set_cookie(&b, "x", 1);
	check(write_batch(&b).result == STORE_OK, "state: cookie set again");
	b.clear_cookie = true;
	check(write_batch(&b).result == STORE_OK &&
	    sql_num("SELECT count(*) FROM dir_sync_state WHERE cookie IS NULL")
	    == 1, "state: clear_cookie forgets it");
	store_batch_free(&b);
}

/* Every character the array literal must protect, and NULL against the
 * word NULL. */
/* Bytes that are not UTF-8 (a server with syntax checks off, a binary
 * attribute mapped by mistake) would make PostgreSQL refuse the whole
 * batch, and the mirror would retry the same entry for ever.  Each bad
 * byte is stored as U+FFFD instead, and well-formed text around it is
 * kept. */
static void
test_invalid_utf8(void)
{
	static const char *const bad[] = {
		"J\xf6rg",                 /* Latin-1 */
		"\xc3",                    /* cut short */
		"a\xc0\x80z",              /* overlong NUL */
		"\xed\xa0\x80",            /* surrogate */
		"\xf4\x90\x80\x80 \xc3\xa9", /* above U+10FFFF, then é */
	};
	static const char *const want[] = {
		"J\xef\xbf\xbdrg",
		"\xef\xbf\xbd",
		"a\xef\xbf\xbd\xef\xbf\xbdz",
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
		"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xc3\xa9",
	};
	struct store_batch b = { 0 };
	struct store_user *u;
	char id[32];
	bool all = true;
	const char *member[] = { "cn=\xff,ou=groups,dc=example,dc=com", NULL };

	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		snprintf(id, sizeof(id), "utf-%zu", i);
		u = add_user(&b, id, id, NULL);
		free(u->full_name);
		u->full_name = xdup(bad[i]);
	}
	add_group(&b, "utf-group", "utf-group", member);
	printf("# the store logs the next warning on purpose\n");
	check(write_batch(&b).result == STORE_OK, "invalid UTF-8: the batch "
	    "is written");
	for (size_t i = 0; i < DS_ARRAY_SIZE(bad); i++) {
		const char *p[1] = { id };
		char *got;

		snprintf(id, sizeof(id), "utf-%zu", i);
		got = sqlp("SELECT full_name FROM dir_user WHERE id = $1", 1, p);
		if (strcmp(got, want[i]) != 0) {
			printf("#   %s: got '%s'\n", id, got);
			all = false;
		}
		free(got);
	}
	check(all, "invalid UTF-8: each bad byte is U+FFFD, the rest kept");
	check_sql("invalid UTF-8: in a member DN too",
	    "cn=\xef\xbf\xbd,ou=groups,dc=example,dc=com",
	    "SELECT member_dn FROM dir_group_member WHERE group_id = "
	    "'utf-group'");
	store_batch_free(&b);
}

static void
test_roundtrip(void)
{
	static const char *const names[] = {
		"Ann \"Quote\" O'Hara", "back\\slash\\\\ end\\",
		"comma, {brace} }{ ,", "\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9 "
		"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89", "NULL", "",
		" leading and trailing ", "tab\tnew\nline", "\\\"", "{}",
		"a\"b\\c,d{e}f g",
	};
	struct store_batch b = { 0 };
	struct store_user *u;
	char id[32];
	bool all = true;
	const char *member[] = { "cn=a\\,b \"x\" {y},ou=groups,dc=example,dc=com",
	    NULL };

	for (size_t i = 0; i < DS_ARRAY_SIZE(names); i++) {
		snprintf(id, sizeof(id), "t-%zu", i);
		u = add_user(&b, id, id, NULL);
		free(u->full_name);
		u->full_name = xdup(names[i]);
		u->email = xdup(names[i]);
	}
	u = add_user(&b, "t-null", "t-null", NULL);
	free(u->full_name);
	u->full_name = NULL;
	add_group(&b, "t-group", "t-group", member);
	check(write_batch(&b).result == STORE_OK, "roundtrip: hostile names "
	    "written");
	for (size_t i = 0; i < DS_ARRAY_SIZE(names); i++) {
		const char *p[1] = { id };
		char want[256], *got;

		snprintf(id, sizeof(id), "t-%zu", i);
		snprintf(want, sizeof(want), "%s|%s", names[i], names[i]);
		got = sqlp("SELECT full_name || '|' || email FROM dir_user "
		    "WHERE id = $1", 1, p);
		if (strcmp(got, want) != 0) {
			printf("#   %s: want '%s' got '%s'\n", id, want, got);
			all = false;
		}
		free(got);
	}
	check(all, "roundtrip: every name read back exactly");
	check_sql("roundtrip: NULL pointer is SQL NULL ('' for full_name)",
	    "|true", "SELECT full_name || '|' || (email IS NULL) FROM dir_user "
	    "WHERE id = 't-null'");
	check_sql("roundtrip: the word NULL is a string", "false",
	    "SELECT (email IS NULL)::text FROM dir_user WHERE id = 't-4'");
	check_sql("roundtrip: member DN", member[0], "SELECT member_dn FROM "
	    "dir_group_member WHERE group_id = 't-group'");
	store_batch_free(&b);
}

static void
test_duplicates(void)
{
	struct store_batch b = { 0 };
	const char *twice[] = { PEOPLE("x"), PEOPLE("X"), NULL };

	add_user(&b, "dup-1", "dup.first", NULL);
	add_user(&b, "dup-1", "dup.last", NULL);
	add_group(&b, "dup-g", "dupg", twice);
	check(write_batch(&b).result == STORE_OK, "duplicates: an entry twice "
	    "in one batch is accepted");
	check_sql("duplicates: the last copy wins", "dup.last",
	    "SELECT uid FROM dir_user WHERE id = 'dup-1'");
	check_sql("duplicates: one membership per normalised DN", "1",
	    "SELECT count(*) FROM dir_group_member WHERE group_id = 'dup-g'");
	store_batch_free(&b);
}

/* The same group sent three times in one batch, each time with its
 * whole list (refint removing members one modify at a time): the last
 * list is the group's, not the union of the three. */
static void
test_group_resent(void)
{
	struct store_batch b = { 0 };
	const char *first[] = { PEOPLE("r1"), PEOPLE("r2"), PEOPLE("r3"), NULL };
	const char *second[] = { PEOPLE("r2"), PEOPLE("r3"), NULL };
	const char *third[] = { PEOPLE("r3"), NULL };

	add_group(&b, "resent-g", "resent", first);
	check(write_batch(&b).result == STORE_OK, "resent: group stored");
	add_group(&b, "resent-g", "resent", second);
	add_group(&b, "resent-g", "resent", third);
	add_group(&b, "resent-h", "other", first);
	check(write_batch(&b).result == STORE_OK, "resent: sent twice more in "
	    "one batch");
	check_sql("resent: the last list counts", PEOPLE("r3"),
	    "SELECT string_agg(member_dn_norm, ' ' ORDER BY member_dn_norm) "
	    "FROM dir_group_member WHERE group_id = 'resent-g'");
	check_sql("resent: another group of the batch keeps its list", "3",
	    "SELECT count(*) FROM dir_group_member WHERE group_id = 'resent-h'");
	store_batch_free(&b);
}

/* A group rewritten with a member gone, one new, one respelled and one
 * sent twice; members listed before their entries exist are linked when
 * the entries arrive; one member less in a big group is a small write,
 * not a pass per member over the list. */
static void
test_member_diff(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	const char *before[] = { PEOPLE("md.a"), PEOPLE("md.b"),
	    GROUPS("mdsub"), PEOPLE("md.late"), NULL };
	const char *after[] = { PEOPLE("MD.A"), GROUPS("mdsub"),
	    PEOPLE("md.d"), PEOPLE("md.late"), PEOPLE("Md.D"), NULL };
	const char *links = "SELECT string_agg(member_dn || ':' || "
	    "coalesce(member_user_id, '') || ':' || coalesce(member_group_id, "
	    "''), ' ' ORDER BY member_dn_norm) FROM dir_group_member WHERE "
	    "group_id = 'md-g'";
	enum { BIG = 10000 };
	char **big = calloc(BIG + 1, sizeof(char *));
	double ms;

	add_user(&b, "md-a", "md.a", NULL);
	add_user(&b, "md-b", "md.b", NULL);
	add_user(&b, "md-d", "md.d", NULL);
	add_group(&b, "md-sub", "mdsub", NULL);
	add_group(&b, "md-g", "mdg", before);
	check(write_batch(&b).result == STORE_OK, "member diff: group with 4 "
	    "members written");
	check_sql("member diff: a member not mirrored yet stays unlinked",
	    GROUPS("mdsub") "::md-sub " PEOPLE("md.a") ":md-a: "
	    PEOPLE("md.b") ":md-b: " PEOPLE("md.late") "::", links);
	add_group(&b, "md-g", "mdg", after);
	r = write_batch(&b);
	check(r.result == STORE_OK, "member diff: group rewritten");
	check_sql("member diff: gone, kept, respelled, added once (last "
	    "spelling)", GROUPS("mdsub") "::md-sub " PEOPLE("MD.A") ":md-a: "
	    PEOPLE("Md.D") ":md-d: " PEOPLE("md.late") "::", links);
	add_user(&b, "md-late", "md.late", NULL);
	check(write_batch(&b).result == STORE_OK, "member diff: the late "
	    "member arrives");
	check_sql("member diff: the late member is linked", "md-late",
	    "SELECT member_user_id FROM dir_group_member WHERE group_id = "
	    "'md-g' AND member_dn_norm = '" PEOPLE("md.late") "'");
	add_user(&b, "md-late", "md.later", NULL);
	check(write_batch(&b).result == STORE_OK, "member diff: the late "
	    "member renamed");
	check_sql("member diff: the renamed member's old DN is unlinked",
	    "(null)", "SELECT member_user_id FROM dir_group_member WHERE "
	    "group_id = 'md-g' AND member_dn_norm = '" PEOPLE("md.late") "'");

	for (int i = 0; i < BIG; i++) {
		char dn[128];

		snprintf(dn, sizeof(dn), "uid=big.%05d,ou=people,dc=example,"
		    "dc=com", i);
		big[i] = strdup(dn);
	}
	add_group(&b, "md-big", "mdbig", (const char *const *)big);
	check(write_batch(&b).result == STORE_OK, "member diff: a group of "
	    "%d members", BIG);
	free(big[BIG / 2]);
	big[BIG / 2] = big[BIG - 1];
	big[BIG - 1] = NULL;
	add_group(&b, "md-big", "mdbig", (const char *const *)big);
	ms = now_ms();
	r = write_batch(&b);
	ms = now_ms() - ms;
	printf("# one member less in a group of %d: %.1f ms\n", BIG, ms);
	check(r.result == STORE_OK && ms < 1000, "member diff: one member "
	    "less in %d in %.0f ms", BIG, ms);
	check_sql("member diff: exactly that member gone", "9999|0",
	    "SELECT count(*) || '|' || count(*) FILTER (WHERE member_dn_norm = "
	    "'uid=big.05000,ou=people,dc=example,dc=com') FROM "
	    "dir_group_member WHERE group_id = 'md-big'");
	for (int i = 0; i < BIG; i++)
		free(big[i]);
	free(big);
	store_batch_free(&b);
}

static void
test_busy(void)
{
	struct store_batch b = { 0 };
	struct wres w = { 0 };
	int second;

	add_user(&b, "busy-1", "busy", NULL);
	check(store_write(T.s, &b, on_write, &w) == 0 && store_busy(T.s),
	    "busy: write in flight");
	second = store_write(T.s, &b, on_write, &w);
	check(second == -1, "busy: a second write is refused");
	/* The store copied what it needs: the batch may be refilled now. */
	store_batch_reset(&b);
	wait_for(&w.done);
	check(w.r.result == STORE_OK && !store_busy(T.s), "busy: first write "
	    "completes");
	store_batch_free(&b);
}

static double
timed_write(struct store_batch *b, struct store_write_report *r)
{
	double t0 = now_ms();

	*r = write_batch(b);
	return now_ms() - t0;
}

/* The same 20,000 rows by one plain INSERT ... SELECT, rolled back: what
 * the table's indexes and foreign keys cost on this machine right now. */
static double
raw_insert_ms(void)
{
	double t0 = now_ms();

	free(sql("BEGIN; INSERT INTO dir_user (id, dn, dn_norm, uid, full_name, "
	    "manager_dn, manager_dn_norm, manager_id) SELECT 'p' || "
	    "lpad(i::text, 5, '0'), 'uid=p.' || lpad(i::text, 5, '0') || "
	    "',ou=people,dc=example,dc=com', 'uid=p.' || lpad(i::text, 5, '0') "
	    "|| ',ou=people,dc=example,dc=com', 'p.' || i, 'p.' || i, "
	    "'uid=p.00000,ou=People,dc=example,dc=com', "
	    "'uid=p.00000,ou=people,dc=example,dc=com', CASE WHEN i > 0 THEN "
	    "'p00000' END FROM generate_series(0, 19999) i ORDER BY i; "
	    "ROLLBACK"));
	return now_ms() - t0;
}

/* 20,000 users in one batch, then the same again (a refresh that finds
 * nothing changed), then a refresh end over all of them.  Timed against
 * the raw INSERT, so a loaded machine does not fail it but a quadratic
 * plan (minutes) or a per-row round trip does. */
static void
test_performance(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	double ms, raw;

	reset_tables();
	raw = raw_insert_ms();
	add_users(&b, "p", 0, 20000);
	ms = timed_write(&b, &r);
	printf("# 20000 new users: %.0f ms (raw INSERT of the same rows: %.0f "
	    "ms; building the parameters: %.0f ms)\n", ms, raw, last_queue_ms);
	check(r.result == STORE_OK && r.users_written == 20000 &&
	    ms < 2 * raw + 500, "performance: 20000 users in %.0f ms (raw "
	    "INSERT %.0f ms)", ms, raw);
	check_sql("performance: managers resolved", "0", "SELECT count(*) FROM "
	    "dir_user WHERE manager_dn IS NOT NULL AND manager_id IS NULL");
	b.refresh = STORE_REFRESH_BEGIN;
	add_users(&b, "p", 0, 20000);
	ms = timed_write(&b, &r);
	printf("# 20000 unchanged users in a new refresh: %.0f ms\n", ms);
	check(r.result == STORE_OK && r.users_written == 0 && ms < 2 * raw + 500,
	    "performance: unchanged batch in %.0f ms", ms);
	b.refresh = STORE_REFRESH_END_PRESENT;
	for (int i = 0; i < 20000; i++) {
		char id[16];

		snprintf(id, sizeof(id), "p%05d", i);
		store_batch_add_present(&b, id);
	}
	ms = timed_write(&b, &r);
	printf("# 20000 present marks and refresh end: %.0f ms\n", ms);
	check(r.result == STORE_OK && r.marked_present == 20000 &&
	    r.deleted == 0, "performance: refresh end in %.0f ms", ms);
	/* Persist mode: one change per batch, into the 20,000. */
	ms = now_ms();
	for (int i = 0; i < 100; i++) {
		add_users(&b, "q", i, i + 1);
		r = write_batch(&b);
	}
	ms = (now_ms() - ms) / 100;
	printf("# one-user batches into 20000 users: %.1f ms each\n", ms);
	check(r.result == STORE_OK && ms < 100, "performance: one-user batch "
	    "in %.1f ms", ms);
	store_batch_free(&b);
}

/* The session dies while the write waits on a lock: STORE_FAILED,
 * nothing written, and the store works again after the reconnect. */
static void
test_connection_lost(void)
{
	struct store_batch b = { 0 };
	struct pgconn *other = pg_connect();
	struct wres w = { 0 };
	char *pid = sql("SELECT pg_backend_pid()"), *v;
	const char *p[1] = { pid };
	double t0;

	if (!check(pg_ready(other), "lost: second connection ready"))
		goto out;
	free(sqlp_on(other, "BEGIN", 0, NULL));
	free(sqlp_on(other, "SELECT 1 FROM dir_sync_state WHERE source = "
	    "'default' FOR UPDATE", 0, NULL));
	add_user(&b, "lost-1", "lost", NULL);
	store_batch_set_cookie(&b, "lost", 4);
	check(store_write(T.s, &b, on_write, &w) == 0, "lost: write queued");
	t0 = now_ms();
	for (;;) {
		v = sqlp_on(other, "SELECT wait_event_type FROM "
		    "pg_stat_activity WHERE pid = $1", 1, p);
		if (strcmp(v, "Lock") == 0 || now_ms() - t0 > 5000)
			break;
		free(v);
	}
	check_str("lost: write waits on the state row", "Lock", v);
	free(v);
	free(sqlp_on(other, "SELECT pg_terminate_backend($1)", 1, p));
	free(sqlp_on(other, "ROLLBACK", 0, NULL));
	wait_for(&w.done);
	check(w.r.result == STORE_FAILED && strstr(w.r.error,
	    "connection lost") != NULL, "lost: reported as %s",
	    w.r.error);
	check(pg_ready(T.pg), "lost: reconnected");
	check_sql("lost: nothing written", "0|false", "SELECT (SELECT count(*) "
	    "FROM dir_user WHERE id = 'lost-1') || '|' || (SELECT cookie IS "
	    "NOT DISTINCT FROM 'lost' FROM dir_sync_state WHERE source = "
	    "'default')");
	store_batch_reset(&b);
	add_user(&b, "lost-1", "lost", NULL);
	check(write_batch(&b).result == STORE_OK, "lost: next write works");
out:
	free(pid);
	store_batch_free(&b);
	pgconn_free(other);
}

/* ---- main ----------------------------------------------------------------- */

struct mres {
	bool done;
	enum migrate_state state;
};

static void
on_migrated(struct migrate *m, enum migrate_state state, void *arg)
{
	struct mres *r = arg;

	r->done = true;
	r->state = state;
}

static char *
read_password(const char *path)
{
	char buf[512] = "";
	FILE *f = path != NULL ? fopen(path, "r") : NULL;

	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static bool
setup(const char *source)
{
	struct mres m = { 0 };
	struct migrate *mig;
	struct sres s;

	T.pg = pg_connect();
	if (!check(pg_ready(T.pg), "setup: connected to %s", T.conninfo))
		return false;
	mig = migrate_new(T.pg, on_migrated, &m);
	migrate_start(mig);
	wait_for(&m.done);
	migrate_free(mig);
	if (!check(m.state == MIGRATE_DONE, "setup: schema migrated"))
		return false;
	T.s = store_new(T.pg, source, "syncrepl", 1.0);
	s = load_state("ldap://one");
	store_state_clear(&s.st);
	return check(s.ok, "setup: sync state loaded");
}

/* One batch for store.sh, which LISTENs with psql meanwhile. */
static void
notify_once(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;

	add_user(&b, "notify-1", "notify.one", NULL);
	add_user(&b, "notify-2", "notify.two", NULL);
	r = write_batch(&b);
	check(r.result == STORE_OK, "notify: batch of 2 new users written");
	store_batch_free(&b);
}

/* ---- the initial load in bulk (004_initial_load.sql) ---------------------- */

/* Every index and constraint of the mirror tables, as definitions: the
 * bulk load drops and rebuilds most of them. */
static const char mirror_schema_sql[] =
    "SELECT string_agg(d, E'\\n' ORDER BY d) FROM ("
    "SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid "
    "IN ('dir_user'::regclass, 'dir_group'::regclass, "
    "'dir_group_member'::regclass) UNION ALL SELECT conrelid::regclass || "
    "' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE conrelid IN ('dir_user'::regclass, 'dir_group'::regclass, "
    "'dir_group_member'::regclass) OR confrelid IN ('dir_user'::regclass, "
    "'dir_group'::regclass, 'dir_group_member'::regclass)) x";

/* An empty mirror with no cookie, and a fresh store that has loaded it:
 * its next refresh is a bulk load (a store that saw a bulk load fail
 * never tries again, so each scenario gets its own). */
static struct store *
bulk_store(void)
{
	struct store *prev = T.s;
	struct sres st;

	reset_tables();
	free(sql("UPDATE dir_sync_state SET cookie = NULL"));
	T.s = store_new(T.pg, "default", "syncrepl", 1.0);
	st = load_state("bulk-server");
	check(st.ok && st.st.mirror_empty && st.st.cookie == NULL,
	    "bulk: state loaded, mirror empty, no cookie");
	free(st.st.cookie);
	return prev;
}

static void
bulk_store_done(struct store *prev)
{
	store_free(T.s);
	T.s = prev;
}

static void
test_bulk_load(void)
{
	const char *staff[] = { PEOPLE("alice"), PEOPLE("Bob"), PEOPLE("carol"),
	    PEOPLE("nobody"), GROUPS("sub"), NULL };
	const char *sub[] = { PEOPLE("erin"), NULL };
	const char *sub_old[] = { PEOPLE("dave"), NULL };
	char *schema_before = sql(mirror_schema_sql), *schema_after;
	struct store *prev = bulk_store();
	struct store_batch b = { 0 };
	struct store_write_report r;
	struct store_user *u;

	b.refresh = STORE_REFRESH_BEGIN;
	u = add_user(&b, "b-alice", "alice", NULL);
	free(u->full_name);
	u->full_name = xdup("Alice Old");
	add_user(&b, "b-bob", "bob", "carol");          /* manager comes later */
	add_group(&b, "b-sub", "sub", sub_old);
	store_batch_add_present(&b, "b-unknown");       /* means nothing here */
	r = write_batch(&b);
	check(r.result == STORE_OK, "bulk: first batch staged");
	check(sql_num("SELECT count(*) FROM dir_user") == 0 &&
	    sql_num("SELECT count(*) FROM dir_stage_user") == 2,
	    "bulk: staged rows are not in the mirror yet");

	b.refresh = STORE_REFRESH_CONTINUE;
	add_user(&b, "b-carol", "carol", "alice");
	free(add_user(&b, "b-alice", "alice", NULL)->full_name);
	b.users[b.user_count - 1].full_name = xdup("Alice New");
	add_user(&b, "b-dave", "dave", NULL);
	store_batch_add_deleted(&b, "b-dave");          /* after it: gone */
	add_group(&b, "b-staff", "staff", staff);
	add_group(&b, "b-sub", "sub", sub);             /* sent again */
	store_batch_set_cookie(&b, "c9", 2);
	r = write_batch(&b);
	check(r.result == STORE_OK, "bulk: second batch staged");
	check_sql("bulk: no cookie stored before the end", "none",
	    "SELECT coalesce(encode(cookie, 'hex'), 'none') FROM "
	    "dir_sync_state WHERE source = 'default'");

	b.refresh = STORE_REFRESH_END_PRESENT;
	add_user(&b, "b-erin", "erin", "bob");
	r = write_batch(&b);
	check(r.result == STORE_OK && r.users_written == 4 &&
	    r.groups_written == 2, "bulk: last batch loads the mirror "
	    "(users=%u groups=%u)", r.users_written, r.groups_written);
	check_sql("bulk: latest sending wins, deleted entry left out",
	    "b-alice:Alice New:,b-bob:bob:b-carol,b-carol:carol:b-alice,"
	    "b-erin:erin:b-bob",
	    "SELECT string_agg(id || ':' || full_name || ':' || "
	    "coalesce(manager_id, ''), ',' ORDER BY id) FROM dir_user");
	check_sql("bulk: members of the latest sending, with links",
	    "b-staff:cn=sub,ou=groups,dc=example,dc=com::b-sub "
	    "b-staff:uid=alice,ou=people,dc=example,dc=com:b-alice: "
	    "b-staff:uid=bob,ou=people,dc=example,dc=com:b-bob: "
	    "b-staff:uid=carol,ou=people,dc=example,dc=com:b-carol: "
	    "b-staff:uid=nobody,ou=people,dc=example,dc=com:: "
	    "b-sub:uid=erin,ou=people,dc=example,dc=com:b-erin:",
	    "SELECT string_agg(group_id || ':' || member_dn_norm || ':' || "
	    "coalesce(member_user_id, '') || ':' || coalesce(member_group_id, "
	    "''), ' ' ORDER BY group_id, member_dn_norm) FROM dir_group_member");
	check_sql("bulk: member DN kept as sent", PEOPLE("Bob"),
	    "SELECT member_dn FROM dir_group_member WHERE member_user_id = "
	    "'b-bob'");
	check_sql("bulk: cookie of the staged batch stored at the end", "6339",
	    "SELECT encode(cookie, 'hex') FROM dir_sync_state WHERE source = "
	    "'default'");
	check_sql("bulk: rows carry the refresh generation", "t",
	    "SELECT bool_and(u.sync_gen = s.refresh_gen) FROM dir_user u, "
	    "dir_sync_state s WHERE s.source = 'default'");
	check(sql_num("SELECT (SELECT count(*) FROM dir_stage_user) + (SELECT "
	    "count(*) FROM dir_stage_group) + (SELECT count(*) FROM "
	    "dir_stage_member) + (SELECT count(*) FROM dir_stage_deleted)") == 0,
	    "bulk: staging tables emptied");
	check_sql("bulk: load lock released", "f",
	    "SELECT dir_stage_lock_held()");
	schema_after = sql(mirror_schema_sql);
	check_str("bulk: every index and constraint rebuilt as it was",
	    schema_before, schema_after);

	/* The store is back on the batch path: a plain change. */
	add_user(&b, "b-frank", "frank", "erin");
	r = write_batch(&b);
	check(r.result == STORE_OK && sql_num("SELECT count(*) FROM dir_user "
	    "WHERE id = 'b-frank' AND manager_id = 'b-erin'") == 1,
	    "bulk: the next batch is an ordinary one");
	free(schema_before);
	free(schema_after);
	store_batch_free(&b);
	bulk_store_done(prev);
}

/* 007_bulk_plain.sql: staged rows with nothing to sort out are loaded as
 * they are; an id or a group staged twice with no deletion staged makes
 * the plain attempt fail on a key, and the load is sorted out instead,
 * in the same transaction: the latest sending wins, a group's earlier
 * list is not loaded.  Either way every key and index comes back as it
 * was, foreign keys of other tables on dir_user included. */
static void
test_bulk_plain(void)
{
	const char *both[] = { PEOPLE("pa"), PEOPLE("pb"), GROUPS("py"), NULL };
	const char *old_list[] = { PEOPLE("pa"), NULL };
	const char *new_list[] = { PEOPLE("pb"), NULL };
	char *schema_before = sql(mirror_schema_sql), *schema_after;
	struct store *prev = bulk_store();
	struct store_batch b = { 0 };
	struct store_write_report r;

	b.refresh = STORE_REFRESH_BEGIN;
	add_user(&b, "p-b", "pb", "pa");                /* manager comes later */
	add_group(&b, "p-x", "px", both);
	store_batch_set_cookie(&b, "c1", 2);
	check(write_batch(&b).result == STORE_OK, "bulk plain: staged");
	b.refresh = STORE_REFRESH_END_PRESENT;
	add_user(&b, "p-a", "pa", NULL);
	add_group(&b, "p-y", "py", NULL);
	r = write_batch(&b);
	check(r.result == STORE_OK && r.users_written == 2 &&
	    r.groups_written == 2, "bulk plain: loaded (users=%u groups=%u)",
	    r.users_written, r.groups_written);
	check_sql("bulk plain: links resolved among the loaded rows",
	    "p-b:p-a|p-x:py::p-y,p-x:pa:p-a:,p-x:pb:p-b:",
	    "SELECT (SELECT id || ':' || manager_id FROM dir_user WHERE id = "
	    "'p-b') || '|' || string_agg(group_id || ':' || "
	    "split_part(split_part(member_dn_norm, ',', 1), '=', 2) || ':' || "
	    "coalesce(member_user_id, '') || ':' || coalesce(member_group_id, "
	    "''), ',' ORDER BY member_dn_norm) FROM dir_group_member");
	schema_after = sql(mirror_schema_sql);
	check_str("bulk plain: every key, index and foreign key as it was",
	    schema_before, schema_after);
	free(schema_after);
	store_batch_free(&b);
	bulk_store_done(prev);

	prev = bulk_store();
	b.refresh = STORE_REFRESH_BEGIN;
	free(add_user(&b, "p-a", "pa", NULL)->full_name);
	b.users[b.user_count - 1].full_name = xdup("Old");
	add_group(&b, "p-x", "px", old_list);
	check(write_batch(&b).result == STORE_OK, "bulk resent: staged");
	b.refresh = STORE_REFRESH_END_PRESENT;
	free(add_user(&b, "p-a", "pa", NULL)->full_name);
	b.users[b.user_count - 1].full_name = xdup("New");
	add_user(&b, "p-b", "pb", NULL);
	add_group(&b, "p-x", "px", new_list);
	r = write_batch(&b);
	check(r.result == STORE_OK && r.users_written == 2 &&
	    r.groups_written == 1, "bulk resent: loaded (users=%u groups=%u)",
	    r.users_written, r.groups_written);
	check_sql("bulk resent: the latest sending of the user and of the "
	    "group's list", "New|uid=pb,ou=people,dc=example,dc=com",
	    "SELECT (SELECT full_name FROM dir_user WHERE id = 'p-a') || '|' || "
	    "string_agg(member_dn_norm, ' ') FROM dir_group_member");
	schema_after = sql(mirror_schema_sql);
	check_str("bulk resent: every key, index and foreign key as it was",
	    schema_before, schema_after);
	free(schema_before);
	free(schema_after);
	store_batch_free(&b);
	bulk_store_done(prev);
}

/* A row appearing in the mirror behind the load's back (here: another
 * session) makes the end refuse: nothing is loaded, nothing dropped, no
 * cookie; the store then writes batch by batch. */
static void
test_bulk_not_empty(void)
{
	char *schema_before = sql(mirror_schema_sql), *schema_after;
	struct store *prev = bulk_store();
	struct pgconn *other = pg_connect();
	struct store_batch b = { 0 };
	struct store_write_report r;
	struct sres st;

	b.refresh = STORE_REFRESH_BEGIN;
	add_user(&b, "n-alice", "alice", NULL);
	check(write_batch(&b).result == STORE_OK, "bulk refused: staged");
	check(pg_ready(other), "bulk refused: second session");
	free(sqlp_on(other, "INSERT INTO dir_user (id, dn, dn_norm) VALUES "
	    "('n-intruder', 'uid=x', 'uid=x')", 0, NULL));
	b.refresh = STORE_REFRESH_END_PRESENT;
	add_user(&b, "n-bob", "bob", NULL);
	store_batch_set_cookie(&b, "c1", 2);
	printf("# the store logs the next error on purpose\n");
	r = write_batch(&b);
	check(r.result == STORE_FAILED && strstr(r.error, "not empty") != NULL,
	    "bulk refused: the end fails: %s", r.error);
	check_sql("bulk refused: nothing loaded, no cookie", "n-intruder|none",
	    "SELECT string_agg(id, ',') || '|' || (SELECT coalesce(encode("
	    "cookie, 'hex'), 'none') FROM dir_sync_state WHERE source = "
	    "'default') FROM dir_user");
	schema_after = sql(mirror_schema_sql);
	check_str("bulk refused: indexes and constraints untouched",
	    schema_before, schema_after);
	st = load_state("bulk-server");
	free(st.st.cookie);
	b.refresh = STORE_REFRESH_BEGIN;
	add_user(&b, "n-alice", "alice", NULL);
	check(write_batch(&b).result == STORE_OK && sql_num("SELECT count(*) "
	    "FROM dir_user WHERE id = 'n-alice'") == 1, "bulk refused: the "
	    "refresh is written batch by batch");
	free(schema_before);
	free(schema_after);
	store_batch_free(&b);
	pgconn_free(other);
	bulk_store_done(prev);
}

/* Another session loading (holding the load lock): this one does not
 * stage into the same tables; it falls back to the batch path. */
static void
test_bulk_locked(void)
{
	struct store *prev = bulk_store();
	struct pgconn *other = pg_connect();
	struct store_batch b = { 0 };
	struct store_write_report r;
	char *v;

	check(pg_ready(other), "bulk lock: second session");
	v = sqlp_on(other, "SELECT pg_try_advisory_lock(110446903255396)", 0,
	    NULL);
	check_str("bulk lock: the other session holds the load lock", "t", v);
	free(v);
	b.refresh = STORE_REFRESH_BEGIN;
	add_user(&b, "l-alice", "alice", NULL);
	printf("# the store logs the next error on purpose\n");
	r = write_batch(&b);
	check(r.result == STORE_FAILED && strstr(r.error, "another session") !=
	    NULL, "bulk lock: staging refused: %s", r.error);
	b.refresh = STORE_REFRESH_BEGIN;
	add_user(&b, "l-alice", "alice", NULL);
	b.refresh = STORE_REFRESH_BEGIN;
	check(write_batch(&b).result == STORE_OK && sql_num("SELECT count(*) "
	    "FROM dir_user WHERE id = 'l-alice'") == 1, "bulk lock: written "
	    "batch by batch instead");
	store_batch_free(&b);
	pgconn_free(other);
	bulk_store_done(prev);
}

/* Member lists by difference and memberships that go with a deleted
 * entry (005_member_changes.sql): the AD change sources. */
static const char staff_members_sql[] =
    "SELECT string_agg(member_dn_norm || ':' || coalesce(member_user_id, "
    "'') || ':' || coalesce(member_group_id, ''), ' ' ORDER BY "
    "member_dn_norm) FROM dir_group_member WHERE group_id = 'g-staff'";

static void
test_member_changes(void)
{
	struct store_batch b = { 0 };
	struct store_write_report r;
	struct store_group *g;
	struct store *prev;
	struct sres st;

	reset_tables();
	add_basic(&b);
	check(write_batch(&b).result == STORE_OK, "changes: basic written");
	store_batch_add_member_change(&b, "g-staff", PEOPLE("alice"),
	    "uid=alice,ou=people,dc=example,dc=com", false);
	store_batch_add_member_change(&b, "g-staff", PEOPLE("Carol"),
	    "uid=carol,ou=people,dc=example,dc=com", true);
	store_batch_add_member_change(&b, "g-staff", PEOPLE("Bob"),
	    "uid=bob,ou=people,dc=example,dc=com", true);  /* listed already */
	store_batch_add_member_change(&b, "g-staff", PEOPLE("nobody"),
	    "uid=nobody,ou=people,dc=example,dc=com", false);
	store_batch_add_member_change(&b, "g-staff", PEOPLE("nobody"),
	    "uid=nobody,ou=people,dc=example,dc=com", true); /* last wins */
	store_batch_add_member_change(&b, "g-none", PEOPLE("alice"),
	    "uid=alice,ou=people,dc=example,dc=com", true);  /* not mirrored */
	r = write_batch(&b);
	check(r.result == STORE_OK, "changes: batch of member changes");
	check_sql("changes: removed, added, kept; last change of a pair wins",
	    "cn=sub,ou=groups,dc=example,dc=com::g-sub "
	    "uid=bob,ou=people,dc=example,dc=com:u-bob: "
	    "uid=carol,ou=people,dc=example,dc=com:: "
	    "uid=nobody,ou=people,dc=example,dc=com::", staff_members_sql);
	check(sql_num("SELECT count(*) FROM dir_group_member WHERE group_id "
	    "= 'g-none'") == 0, "changes: a group not mirrored is ignored");
	add_user(&b, "u-carol", "carol", NULL);
	check(write_batch(&b).result == STORE_OK && sql_num("SELECT count(*) "
	    "FROM dir_group_member WHERE member_user_id = 'u-carol'") == 1,
	    "changes: an added member arriving later is linked");

	g = add_group(&b, "g-staff", "staff", NULL);
	g->description = xdup("renamed attributes only");
	g->keep_members = true;
	check(write_batch(&b).result == STORE_OK, "changes: group without "
	    "its members written");
	check_sql("changes: the stored member list stays",
	    "cn=sub,ou=groups,dc=example,dc=com::g-sub "
	    "uid=bob,ou=people,dc=example,dc=com:u-bob: "
	    "uid=carol,ou=people,dc=example,dc=com:u-carol: "
	    "uid=nobody,ou=people,dc=example,dc=com::", staff_members_sql);
	check_sql("changes: ... and the attributes change",
	    "renamed attributes only",
	    "SELECT description FROM dir_group WHERE id = 'g-staff'");

	add_user(&b, "u-dora", "dora", "bob");
	add_user(&b, "u-eve", "eve", "alice");
	check(write_batch(&b).result == STORE_OK, "changes: reports of bob");
	store_set_deletes_remove_memberships(T.s, true);
	store_batch_add_deleted(&b, "u-bob");
	check(write_batch(&b).result == STORE_OK, "changes: delete (AD)");
	check(sql_num("SELECT count(*) FROM dir_group_member WHERE "
	    "member_dn_norm = 'uid=bob,ou=people,dc=example,dc=com'") == 0,
	    "changes: AD: the deleted user's memberships go with it");
	check_sql("changes: AD: ... and so does the manager of its reports",
	    "u-dora::|u-eve:uid=alice,ou=people,dc=example,dc=com:u-alice",
	    "SELECT string_agg(id || ':' || coalesce(manager_dn_norm, '') || "
	    "':' || coalesce(manager_id, ''), '|' ORDER BY id) FROM dir_user "
	    "WHERE id IN ('u-dora', 'u-eve')");
	store_set_deletes_remove_memberships(T.s, false);
	store_batch_add_deleted(&b, "u-carol");
	check(write_batch(&b).result == STORE_OK && sql_num("SELECT count(*) "
	    "FROM dir_group_member WHERE member_dn_norm = "
	    "'uid=carol,ou=people,dc=example,dc=com' AND member_user_id IS "
	    "NULL") == 1, "changes: other servers: the membership stays, "
	    "unlinked");

	/* An initial load cannot stage differences: refused once, then
	 * batch by batch. */
	prev = bulk_store();
	b.refresh = STORE_REFRESH_BEGIN;
	add_group(&b, "g-x", "x", NULL);
	store_batch_add_member_change(&b, "g-x", PEOPLE("alice"),
	    "uid=alice,ou=people,dc=example,dc=com", true);
	printf("# the store logs the next warning on purpose\n");
	r = write_batch(&b);
	check(r.result == STORE_FAILED, "changes: not staged in a bulk load");
	store_batch_reset(&b);
	/* As the mirror does before it starts the refresh again: the state
	 * says "empty, no cookie" once more, and must not loop. */
	st = load_state("bulk-server");
	free(st.st.cookie);
	b.refresh = STORE_REFRESH_BEGIN;
	add_group(&b, "g-x", "x", NULL);
	store_batch_add_member_change(&b, "g-x", PEOPLE("alice"),
	    "uid=alice,ou=people,dc=example,dc=com", true);
	check(write_batch(&b).result == STORE_OK && sql_num("SELECT count(*) "
	    "FROM dir_group_member WHERE group_id = 'g-x'") == 1,
	    "changes: the refresh then goes batch by batch");
	bulk_store_done(prev);
	store_batch_free(&b);
}

int
main(int argc, char **argv)
{
	bool notify = argc > 1 && strcmp(argv[1], "--notify") == 0;
	const char *level = getenv("TEST_STORE_LOG");

	log_init("test_store");
	log_set_target(LOG_TARGET_STDERR);
	log_set_level(level != NULL && log_level_parse(level) >= 0 ?
	    (enum log_level)log_level_parse(level) : LOG_LEVEL_ERROR);
	if (getenv("PG_CONNINFO") == NULL) {
		printf("# SKIP PG_CONNINFO is not set (run store.sh)\n");
		return 77;
	}
	T.conninfo = strdup(getenv("PG_CONNINFO"));
	T.password = read_password(getenv("PG_PASSWORD_FILE"));
	T.base = event_base_new();
	if (setup(notify ? "notify" : "default")) {
		if (notify) {
			notify_once();
		} else {
			test_basic();
			test_idempotent();
			test_managers();
			test_rename();
			test_dn_takeover();
			test_failure();
			test_state();
			test_roundtrip();
			test_invalid_utf8();
			test_duplicates();
			test_group_resent();
			test_member_diff();
			test_busy();
			test_refresh_present();
			test_refresh_delete();
			test_guard();
			test_persist_guard();
			test_connection_lost();
			test_bulk_load();
			test_bulk_plain();
			test_bulk_not_empty();
			test_bulk_locked();
			test_member_changes();
			test_performance();
		}
	}
	store_free(T.s);
	pgconn_free(T.pg);
	event_base_free(T.base);
	free(T.conninfo);
	free(T.password);
	return tap_done();
}
