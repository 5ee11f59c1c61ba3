/* test_status_doc.c - unit tests for the status socket documents
 * (status_doc.h): status, health and error replies are validated against
 * schema/status.xsd, parsed back with xmlin, and hostile text round-trips. */
#include "status_doc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connstatus.h"
#include "status_proto.h"
#include "xmlin.h"
#include "xmlout.h"

/* The protocol version as the documents write it. */
#define PROTO_STR_(x) #x
#define PROTO_STR(x) PROTO_STR_(x)
#define PROTO_TEXT PROTO_STR(STATUS_PROTO_VERSION)

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* 2023-11-14T22:13:20Z */
#define T0 ((time_t)1700000000)

/* Hostile text from a server: markup, a newline and a Latin-1 byte. */
#define HOSTILE "FATAL: <role> & \"sync\" failed\nDETAIL: caf\xff end"
#define HOSTILE_CLEAN "FATAL: <role> & \"sync\" failed\nDETAIL: caf? end"

struct fixture {
	struct connstatus conns[2];
	struct status_snapshot snap;
};

static const char *
xsd_path(void)
{
	static char path[4096];
	const char *top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/schema/status.xsd",
	    top != NULL && *top != '\0' ? top : ".");
	return path;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->conns[0].name = "ldap";
	f->conns[0].state = "ready";
	snprintf(f->conns[0].server, sizeof(f->conns[0].server),
	    "ldap://dir.example");
	f->conns[0].since = T0 + 10;
	f->conns[1].name = "postgresql";
	f->conns[1].state = "backoff";
	snprintf(f->conns[1].server, sizeof(f->conns[1].server),
	    "db.example:5432");
	f->conns[1].retries = 3;
	snprintf(f->conns[1].last_error, sizeof(f->conns[1].last_error), "%s",
	    HOSTILE);
	f->conns[1].last_error_at = T0 + 60;
	f->snap = (struct status_snapshot){
		.version = "0.1.0",
		.pid = 4242,
		.started = T0,
		.now = T0 + 3600,
		.config_path = "/etc/dirsync/dirsync.conf",
		.config_generation = 2,
		.config_loaded = T0 + 120,
		.schema_state = "done",
		.schema_version = 3,
		.schema_binary_version = 3,
		.schema_applied = 0,
		.schema_error = "",
		.conns = f->conns,
		.nconns = 2,
	};
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	free(*state);
	return 0;
}

/* ---- helpers ----------------------------------------------------------- */

enum doc_kind { DOC_STATUS, DOC_HEALTH, DOC_ERROR };

/* Render one document; the caller frees the copy. */
static char *
render(enum doc_kind kind, const struct status_snapshot *s, const char *code,
    const char *message)
{
	struct xmlout *x = xmlout_new();
	const char *doc;
	char *copy;

	switch (kind) {
	case DOC_STATUS:
		status_doc_render_status(x, s);
		break;
	case DOC_HEALTH:
		status_doc_render_health(x, s);
		break;
	case DOC_ERROR:
		status_doc_render_error(x, code, message);
		break;
	}
	doc = xmlout_finish(x, NULL);
	assert_non_null(doc);
	copy = strdup(doc);
	xmlout_free(x);
	assert_non_null(copy);
	return copy;
}

static void
assert_valid(const char *doc)
{
	struct ds_error err = { "" };

	if (xmlin_validate(doc, strlen(doc), xsd_path(), &err) != 0)
		fail_msg("invalid against %s: %s\n%s", xsd_path(), err.msg, doc);
}

static struct xmlin_doc *
parse(const char *doc)
{
	struct ds_error err = { "" };
	struct xmlin_doc *d = xmlin_parse(doc, strlen(doc), &err);

	if (d == NULL)
		fail_msg("cannot parse: %s\n%s", err.msg, doc);
	return d;
}

static void
assert_attr(const struct xmlin_doc *d, const struct xmlin_node *n,
    const char *name, const char *want)
{
	const char *got;

	assert_non_null(n);
	got = xmlin_attr(d, n, name);
	if (got == NULL)
		fail_msg("<%s> has no attribute %s", xmlin_name(n), name);
	assert_string_equal(got, want);
}

/* ---- status ------------------------------------------------------------ */

static void
test_status_document(void **state)
{
	struct fixture *f = *state;
	char *doc = render(DOC_STATUS, &f->snap, NULL, NULL);
	struct xmlin_doc *d;
	const struct xmlin_node *root, *n, *err;

	assert_valid(doc);
	d = parse(doc);
	root = xmlin_root(d);
	assert_string_equal(xmlin_name(root), "dirsync");
	assert_attr(d, root, "protocol", PROTO_TEXT);

	n = xmlin_first_child(root);
	assert_string_equal(xmlin_name(n), "daemon");
	assert_attr(d, n, "version", "0.1.0");
	assert_attr(d, n, "pid", "4242");
	assert_attr(d, n, "started", "2023-11-14T22:13:20Z");
	assert_attr(d, n, "uptime", "3600");

	n = xmlin_next(n);
	assert_string_equal(xmlin_name(n), "config");
	assert_attr(d, n, "path", "/etc/dirsync/dirsync.conf");
	assert_attr(d, n, "generation", "2");
	assert_attr(d, n, "loaded", "2023-11-14T22:15:20Z");

	n = xmlin_next(n);
	assert_string_equal(xmlin_name(n), "schema");
	assert_attr(d, n, "state", "done");
	assert_attr(d, n, "version", "3");
	assert_attr(d, n, "binary-version", "3");
	assert_attr(d, n, "applied", "0");
	assert_null(xmlin_child(n, "last-error"));

	n = xmlin_next(n);
	assert_string_equal(xmlin_name(n), "connection");
	assert_attr(d, n, "name", "ldap");
	assert_attr(d, n, "state", "ready");
	assert_attr(d, n, "server", "ldap://dir.example");
	assert_attr(d, n, "since", "2023-11-14T22:13:30Z");
	assert_attr(d, n, "retries", "0");
	assert_null(xmlin_child(n, "last-error"));

	n = xmlin_next(n);
	assert_string_equal(xmlin_name(n), "connection");
	assert_attr(d, n, "name", "postgresql");
	assert_attr(d, n, "state", "backoff");
	assert_attr(d, n, "server", "db.example:5432");
	assert_null(xmlin_attr(d, n, "since")); /* since == 0: omitted */
	assert_attr(d, n, "retries", "3");
	err = xmlin_child(n, "last-error");
	assert_non_null(err);
	assert_attr(d, err, "at", "2023-11-14T22:14:20Z");
	assert_string_equal(xmlin_text(d, err), HOSTILE_CLEAN);

	assert_null(xmlin_next(n));
	xmlin_free(d);
	free(doc);
}

/* Hostile text in attributes, the schema error and an empty list. */
static void
test_status_hostile_attributes(void **state)
{
	struct fixture *f = *state;
	char *doc;
	struct xmlin_doc *d;
	const struct xmlin_node *root, *schema, *conn;

	f->snap.config_path = "/etc/<dir>&\"sync\"'\xff.conf";
	f->snap.version = "1.0\n<beta>";
	f->snap.schema_state = "failed";
	f->snap.schema_version = -1;
	f->snap.schema_error = HOSTILE;
	snprintf(f->conns[1].server, sizeof(f->conns[1].server),
	    "host=\"a&b\" <x>\ttab");
	doc = render(DOC_STATUS, &f->snap, NULL, NULL);
	assert_valid(doc);
	d = parse(doc);
	root = xmlin_root(d);
	assert_attr(d, xmlin_child(root, "config"), "path",
	    "/etc/<dir>&\"sync\"'?.conf");
	assert_attr(d, xmlin_child(root, "daemon"), "version", "1.0\n<beta>");
	schema = xmlin_child(root, "schema");
	assert_attr(d, schema, "state", "failed");
	assert_attr(d, schema, "version", "-1");
	assert_non_null(xmlin_child(schema, "last-error"));
	assert_string_equal(xmlin_text(d, xmlin_child(schema, "last-error")),
	    HOSTILE_CLEAN);
	conn = xmlin_next(xmlin_child(root, "connection"));
	assert_attr(d, conn, "server", "host=\"a&b\" <x>\ttab");
	xmlin_free(d);
	free(doc);

	f->snap.nconns = 0;
	doc = render(DOC_STATUS, &f->snap, NULL, NULL);
	assert_valid(doc);
	d = parse(doc);
	assert_null(xmlin_child(xmlin_root(d), "connection"));
	xmlin_free(d);
	free(doc);
}

/* ---- health ------------------------------------------------------------ */

static void
test_health_documents(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *ldap_state, *pg_state, *schema_state, *schema_error;
		const char *ok;
		const char *why;
	} cases[] = {
		{ "ready", "ready", "done", "", "true", "ok" },
		{ "ready", "backoff", "done", "", "false",
		  "postgresql is backoff: " HOSTILE_CLEAN },
		{ "connecting", "backoff", "done", "", "false",
		  "ldap is connecting" },
		{ "ready", "ready", "running", "", "false", "schema is running" },
		{ "ready", "ready", "failed", "relation \"x\" exists", "false",
		  "schema is failed: relation \"x\" exists" },
		{ "ready", "ready", "too-new", NULL, "false",
		  "schema is too-new" },
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		char *doc;
		struct xmlin_doc *d;
		const struct xmlin_node *health;

		f->conns[0].state = cases[i].ldap_state;
		f->conns[1].state = cases[i].pg_state;
		f->snap.schema_state = cases[i].schema_state;
		f->snap.schema_error = cases[i].schema_error;
		doc = render(DOC_HEALTH, &f->snap, NULL, NULL);
		assert_valid(doc);
		d = parse(doc);
		assert_attr(d, xmlin_root(d), "protocol", PROTO_TEXT);
		health = xmlin_first_child(xmlin_root(d));
		assert_string_equal(xmlin_name(health), "health");
		assert_null(xmlin_next(health));
		assert_attr(d, health, "ok", cases[i].ok);
		assert_string_equal(xmlin_text(d, health), cases[i].why);
		xmlin_free(d);
		free(doc);
	}
}

static void
test_healthy(void **state)
{
	struct fixture *f = *state;
	char why[32];

	assert_false(status_doc_healthy(&f->snap, NULL, 0));
	/* A long reason is cut to the buffer, still terminated. */
	memset(why, 'x', sizeof(why));
	assert_false(status_doc_healthy(&f->snap, why, sizeof(why)));
	assert_int_equal(strlen(why), sizeof(why) - 1);
	assert_memory_equal(why, "postgresql is backoff: ", 23);

	f->conns[1].state = "ready";
	assert_true(status_doc_healthy(&f->snap, why, sizeof(why)));
	assert_string_equal(why, "ok");
	assert_true(status_doc_healthy(&f->snap, NULL, 0));

	f->snap.nconns = 0;
	f->snap.schema_state = "idle";
	assert_false(status_doc_healthy(&f->snap, why, sizeof(why)));
	assert_string_equal(why, "schema is idle");
}

/* ---- error ------------------------------------------------------------- */

static void
test_error_documents(void **state)
{
	static const struct {
		const char *code;
		const char *message;
		const char *want;
	} cases[] = {
		{ "unknown-command", "unknown command 'frobnicate'",
		  "unknown command 'frobnicate'" },
		{ "bad-request", "request longer than 4096 bytes",
		  "request longer than 4096 bytes" },
		{ "internal", HOSTILE, HOSTILE_CLEAN },
		{ "internal", "", "" },
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		char *doc = render(DOC_ERROR, NULL, cases[i].code,
		    cases[i].message);
		struct xmlin_doc *d;
		const struct xmlin_node *e;

		assert_valid(doc);
		d = parse(doc);
		e = xmlin_first_child(xmlin_root(d));
		assert_string_equal(xmlin_name(e), "error");
		assert_attr(d, e, "code", cases[i].code);
		assert_string_equal(xmlin_text(d, e), cases[i].want);
		xmlin_free(d);
		free(doc);
	}
}

/* ---- the validation is real -------------------------------------------- */

static void
assert_invalid(const char *doc, const char *mention)
{
	struct ds_error err = { "" };

	if (xmlin_validate(doc, strlen(doc), xsd_path(), &err) == 0)
		fail_msg("accepted by %s:\n%s", xsd_path(), doc);
	assert_true(err.msg[0] != '\0');
	if (mention != NULL && strstr(err.msg, mention) == NULL)
		fail_msg("error '%s' does not mention '%s'", err.msg, mention);
}

static void
test_invalid_documents(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *conn_state, *conn_name, *schema_state;
		long pid;
		unsigned generation;
		const char *mention;
	} cases[] = {
		{ "bogus", "postgresql", "done", 1, 1, "bogus" },
		{ "backoff", "mysql", "done", 1, 1, "mysql" },
		{ "backoff", "postgresql", "weird", 1, 1, "weird" },
		{ "READY", "postgresql", "done", 1, 1, "READY" },
		{ "backoff", "postgresql", "done", 0, 1, "pid" },
		{ "backoff", "postgresql", "done", 1, 0, "generation" },
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		char *doc;

		f->conns[1].state = cases[i].conn_state;
		f->conns[1].name = cases[i].conn_name;
		f->snap.schema_state = cases[i].schema_state;
		f->snap.pid = cases[i].pid;
		f->snap.config_generation = cases[i].generation;
		doc = render(DOC_STATUS, &f->snap, NULL, NULL);
		assert_invalid(doc, cases[i].mention);
		free(doc);
	}
	{
		char *doc = render(DOC_ERROR, NULL, "no-such-code", "x");
		assert_invalid(doc, "no-such-code");
		free(doc);
	}
	assert_invalid("<dirsync protocol=\"1\"><health/><error code=\"internal\"/>"
	    "</dirsync>", NULL);
	assert_invalid("<dirsync><health ok=\"true\">ok</health></dirsync>",
	    "protocol");
	assert_invalid("<dirsync protocol=\"1\"><health ok=\"maybe\"/></dirsync>",
	    "maybe");
	assert_invalid("<dirsync protocol=\"1\"><health ok=\"true\">", NULL);
}

/* ---- the mirror: <sync> in status and as the reply to "sync" ---------- */

static void
test_sync_documents(void **state)
{
	struct fixture *f = *state;
	struct status_sync sync = {
		.mode = "syncrepl", .phase = "persist", .phase_since = 1764100000,
		.server = "ldap://127.0.0.1:389", .base = "dc=example,dc=com",
		.users = 100000, .groups = 5000, .memberships = 200000,
		.dangling_managers = 3, .last_change = 1764100100,
		.cookie_saved = 1764100100, .lag = 0, .entries_received = 105000,
		.batches_written = 60, .guard_count = 0,
		.last_error = "sync search ended: <Server is unwilling> & \"gone\"",
		.last_error_at = 1764100050,
	};
	struct xmlout *x;
	struct xmlin_doc *d;
	const struct xmlin_node *n;
	const char *doc;
	char *copy;

	f->snap.sync = &sync;
	f->snap.now = 1764100160;
	copy = render(DOC_STATUS, &f->snap, NULL, NULL);
	assert_valid(copy);
	d = parse(copy);
	n = xmlin_child(xmlin_root(d), "sync");
	assert_attr(d, n, "phase", "persist");
	assert_attr(d, n, "users", "100000");
	assert_attr(d, n, "dangling-managers", "3");
	assert_attr(d, n, "cookie-age", "60");
	assert_string_equal(xmlin_text(d, xmlin_child(n, "last-error")),
	    sync.last_error);
	xmlin_free(d);
	free(copy);

	/* The reply to "sync" carries only the mirror; unknown counts (-1)
	 * are left out rather than sent as a number. */
	sync.users = sync.groups = sync.memberships = sync.dangling_managers = -1;
	sync.phase = "guard";
	sync.guard_count = 42;
	x = xmlout_new();
	status_doc_render_sync(x, &f->snap);
	doc = xmlout_finish(x, NULL);
	assert_non_null(doc);
	assert_valid(doc);
	d = parse(doc);
	n = xmlin_first_child(xmlin_root(d));
	assert_string_equal(xmlin_name(n), "sync");
	assert_null(xmlin_attr(d, n, "users"));
	assert_attr(d, n, "guard", "42");
	xmlin_free(d);
	xmlout_free(x);

	/* A guard makes the daemon unhealthy: a person must act. */
	assert_false(status_doc_healthy(&f->snap, NULL, 0));

	/* No mirror: "sync" answers with an error element. */
	f->snap.sync = NULL;
	x = xmlout_new();
	status_doc_render_sync(x, &f->snap);
	doc = xmlout_finish(x, NULL);
	assert_valid(doc);
	assert_non_null(strstr(doc, "code=\"not-running\""));
	xmlout_free(x);

	x = xmlout_new();
	status_doc_render_result(x, false, "no deletions are held back");
	doc = xmlout_finish(x, NULL);
	assert_valid(doc);
	assert_non_null(strstr(doc, "<result ok=\"false\">no deletions are held back</result>"));
	xmlout_free(x);
}

static void
test_missing_schema(void **state)
{
	struct ds_error err = { "" };
	const char *doc = "<dirsync protocol=\"1\"><health ok=\"true\"/></dirsync>";

	assert_int_equal(xmlin_validate(doc, strlen(doc),
	    "/nonexistent/status.xsd", &err), -1);
	assert_string_equal(err.msg,
	    "cannot load schema /nonexistent/status.xsd");
	/* ... and the same document is valid with the real schema. */
	assert_valid(doc);
}

/* Whatever bytes a value holds (a server's error text, a DN), the
 * document must parse again: dirsyncctl and monitoring read it.  Random
 * strings over bytes that break UTF-8 or XML in every known way -
 * overlong forms, surrogates, code points above U+10FFFF, U+FFFE/FFFF,
 * C0 and C1 controls, truncated sequences, markup - go into an
 * attribute and a text node; the result must parse, and a value of
 * plain ASCII must come back unchanged. */
static void
test_hostile_bytes_round_trip(void **state)
{
	static const char *const pieces[] = { "a", "<", ">", "&", "\"", "'",
		"]]>", "\t", "\n", "\r", "\x01", "\x1f", "\x7f", "\xc0\x80",
		"\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xed\xbf\xbf",
		"\xef\xbf\xbe", "\xef\xbf\xbf", "\xf0\x80\x80\x80",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
		"\xc3", "\xe2\x82", "\xc2\x80", "\xc2\x9f", "\xc3\xa9",
		"\xe2\x82\xac", "\xf0\x9f\x98\x80", "&#1;", "&amp;" };
	uint32_t seed = 4711;

	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		char value[256] = "";
		size_t len = 0;
		bool ascii = true;
		struct xmlout *x = xmlout_new();
		struct xmlin_doc *doc;
		struct ds_error err = { "" };
		const char *text;
		size_t text_len;

		seed = seed * 1103515245u + 12345u;
		for (unsigned n = (seed >> 16) % 12; n > 0; n--) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			p = pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))];
			if (len + strlen(p) >= sizeof(value))
				break;
			memcpy(value + len, p, strlen(p) + 1);
			len += strlen(p);
			for (const char *c = p; *c; c++)
				if ((unsigned char)*c >= 0x80 ||
				    ((unsigned char)*c < 0x20 && *c != '\t' && *c != '\n') ||
				    *c == '\r' || *c == 0x7f)
					ascii = false;
		}
		xmlout_start(x, "dirsync");
		xmlout_attr(x, "v", value);
		xmlout_text_element(x, "t", value);
		xmlout_end(x);
		text = xmlout_finish(x, &text_len);
		assert_non_null(text);
		doc = xmlin_parse(text, text_len, &err);
		if (doc == NULL)
			fail_msg("iteration %d: does not parse (%s):\n%s", iter,
			    err.msg, text);
		if (ascii && strcmp(xmlin_text(doc,
		    xmlin_child(xmlin_root(doc), "t")), value) != 0)
			fail_msg("iteration %d: text changed:\n%s", iter, text);
		xmlin_free(doc);
		xmlout_free(x);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_document, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_status_hostile_attributes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_documents, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_healthy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_documents, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_invalid_documents, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sync_documents, setup,
		    teardown),
		cmocka_unit_test(test_missing_schema),
		cmocka_unit_test(test_hostile_bytes_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
