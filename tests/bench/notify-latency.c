/* notify-latency.c - benchmark client for `make bench-sync`, measure (d):
 * the time from an LDAP modify returning to the change being visible
 * through LISTEN dirsync_directory.  One process, no spawn per sample.
 *
 * For each sample it replaces the mail of one entry with a new value,
 * takes t0 when ldap_modify_ext_s() returns, then waits on the
 * PostgreSQL socket for a notification on the channel; t1 is when one
 * arrives after which dir_user shows the new value (checked by id, the
 * entry's entryUUID), so a notification for some other batch does not
 * count.  Prints the percentiles in milliseconds on one line:
 *
 *   samples=1000 timeouts=0 min=0.81 p50=1.20 p90=1.90 p99=4.10 max=9.70
 *   mean=1.31 modify_p50=0.35
 *
 * Synchronous libldap and libpq on purpose: this is a measuring client,
 * not the daemon.  Build: cc -O2 notify-latency.c -lpq -lldap -llber
 * -I$(pg_config --includedir). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <ldap.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *uri, *bind_dn, *pw_file, *dn, *conninfo, *channel;
	const char *raw_file;
	int samples, warmup, timeout_ms;
	int guid;        /* -g: the row id is the objectGUID (AD) */
};

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("notify-latency: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: notify-latency -H URI -D BINDDN -y PWFILE -b ENTRY_DN -d CONNINFO\n"
	    "                      [-n SAMPLES] [-w WARMUP] [-t TIMEOUT_MS]\n"
	    "                      [-c CHANNEL] [-o RAW_FILE] [-g]\n"
	    "  modifies the mail of ENTRY_DN (bound as BINDDN, password in PWFILE)\n"
	    "  SAMPLES times (default 1000, after WARMUP = 20 unmeasured) and\n"
	    "  waits each time for NOTIFY CHANNEL (default dirsync_directory)\n"
	    "  with dir_user showing the new mail; TIMEOUT_MS (default 2000)\n"
	    "  per sample.  -o writes every sample (ms), one a line.  -g: the\n"
	    "  row id is the objectGUID (Active Directory), not entryUUID.\n");
	exit(2);
}

static void
parse_opts(int argc, char **argv, struct opts *o)
{
	int c;

	*o = (struct opts){ .channel = "dirsync_directory", .samples = 1000,
		.warmup = 20, .timeout_ms = 2000 };
	while ((c = getopt(argc, argv, "H:D:y:b:d:n:w:t:c:o:gh")) != -1) {
		switch (c) {
		case 'H': o->uri = optarg; break;
		case 'D': o->bind_dn = optarg; break;
		case 'y': o->pw_file = optarg; break;
		case 'b': o->dn = optarg; break;
		case 'd': o->conninfo = optarg; break;
		case 'n': o->samples = atoi(optarg); break;
		case 'w': o->warmup = atoi(optarg); break;
		case 't': o->timeout_ms = atoi(optarg); break;
		case 'c': o->channel = optarg; break;
		case 'o': o->raw_file = optarg; break;
		case 'g': o->guid = 1; break;
		default: usage();
		}
	}
	if (!o->uri || !o->bind_dn || !o->pw_file || !o->dn || !o->conninfo ||
	    o->samples < 1 || o->warmup < 0 || o->timeout_ms < 1)
		usage();
}

/* The password file's first line. */
static char *
read_password(const char *path)
{
	static char buf[1024];
	FILE *f = fopen(path, "r");

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	if (fgets(buf, sizeof buf, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf;
}

static LDAP *
ldap_open(const struct opts *o)
{
	LDAP *ld;
	int version = LDAP_VERSION3, rc;
	struct berval cred;

	if ((rc = ldap_initialize(&ld, o->uri)) != LDAP_SUCCESS)
		die("ldap_initialize %s: %s", o->uri, ldap_err2string(rc));
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	cred.bv_val = read_password(o->pw_file);
	cred.bv_len = strlen(cred.bv_val);
	rc = ldap_sasl_bind_s(ld, o->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, NULL);
	if (rc != LDAP_SUCCESS)
		die("bind as %s: %s", o->bind_dn, ldap_err2string(rc));
	return ld;
}

/* The entry's id in dir_user: its entryUUID, or its objectGUID as
 * canonical text (the GUID layout: the first three fields little-endian,
 * as the daemon's attrmap_guid_to_text writes it). */
static char *
entry_uuid(LDAP *ld, const char *dn, int guid)
{
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11,
	    12, 13, 14, 15 };
	char *attrs[] = { guid ? "objectGUID" : "entryUUID", NULL };
	LDAPMessage *res = NULL, *e;
	struct berval **vals;
	char *id;
	int rc;

	rc = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
	    attrs, 0, NULL, NULL, NULL, 0, &res);
	if (rc != LDAP_SUCCESS)
		die("read %s: %s", dn, ldap_err2string(rc));
	e = ldap_first_entry(ld, res);
	vals = e ? ldap_get_values_len(ld, e, attrs[0]) : NULL;
	if (vals == NULL || vals[0] == NULL)
		die("%s has no %s", dn, attrs[0]);
	if (guid) {
		const unsigned char *g = (const unsigned char *)vals[0]->bv_val;
		char *p;

		if (vals[0]->bv_len != 16)
			die("%s: objectGUID is not 16 bytes", dn);
		id = p = malloc(37);
		for (int i = 0; i < 16; i++) {
			p += sprintf(p, "%02x", g[order[i]]);
			if (i == 3 || i == 5 || i == 7 || i == 9)
				*p++ = '-';
		}
	} else {
		id = strndup(vals[0]->bv_val, vals[0]->bv_len);
	}
	for (char *p = id; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p += 'a' - 'A';
	ldap_value_free_len(vals);
	ldap_msgfree(res);
	return id;
}

static PGconn *
pg_open(const struct opts *o)
{
	PGconn *pg = PQconnectdb(o->conninfo);
	PGresult *r;
	char *chan, sql[256];

	if (PQstatus(pg) != CONNECTION_OK)
		die("PostgreSQL: %s", PQerrorMessage(pg));
	chan = PQescapeIdentifier(pg, o->channel, strlen(o->channel));
	snprintf(sql, sizeof sql, "LISTEN %s", chan);
	PQfreemem(chan);
	r = PQexec(pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("%s: %s", sql, PQerrorMessage(pg));
	PQclear(r);
	return pg;
}

/* Notifications already received: dropped before each sample. */
static void
drain(PGconn *pg)
{
	PGnotify *n;

	PQconsumeInput(pg);
	while ((n = PQnotifies(pg)) != NULL)
		PQfreemem(n);
}

static int
mail_is(PGconn *pg, const char *id, const char *mail)
{
	const char *params[] = { id, mail };
	PGresult *r = PQexecParams(pg,
	    "SELECT 1 FROM dir_user WHERE id = $1 AND email = $2", 2, NULL,
	    params, NULL, NULL, 0);
	int ok;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		die("checking dir_user: %s", PQerrorMessage(pg));
	ok = PQntuples(r) == 1;
	PQclear(r);
	return ok;
}

/* Wait for a notification on the channel after which the mail is
 * visible.  Returns the time it arrived, or -1 on timeout. */
static double
wait_visible(PGconn *pg, const struct opts *o, const char *id,
    const char *mail, double t0)
{
	struct pollfd p = { .fd = PQsocket(pg), .events = POLLIN };

	for (;;) {
		PGnotify *n;
		int left = (int)(t0 + o->timeout_ms - now_ms());

		while ((n = PQnotifies(pg)) != NULL) {
			int ours = strcmp(n->relname, o->channel) == 0;
			double t1 = now_ms();

			PQfreemem(n);
			if (ours && mail_is(pg, id, mail))
				return t1;
		}
		if (left <= 0)
			return -1;
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (!PQconsumeInput(pg))
			die("PostgreSQL: %s", PQerrorMessage(pg));
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double
pct(const double *v, int n, double p)
{
	int k = (int)(p / 100.0 * n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

int
main(int argc, char **argv)
{
	struct opts o;
	LDAP *ld;
	PGconn *pg;
	char *id, mail[128];
	double *lat, *mod, sum = 0;
	int got = 0, timeouts = 0, total, rc;

	parse_opts(argc, argv, &o);
	ld = ldap_open(&o);
	pg = pg_open(&o);
	id = entry_uuid(ld, o.dn, o.guid);
	lat = calloc(o.samples, sizeof *lat);
	mod = calloc(o.samples, sizeof *mod);
	if (lat == NULL || mod == NULL)
		die("out of memory");

	total = o.warmup + o.samples;
	for (int i = 0; i < total; i++) {
		char *vals[] = { mail, NULL };
		LDAPMod m = { .mod_op = LDAP_MOD_REPLACE, .mod_type = "mail",
			.mod_values = vals };
		LDAPMod *mods[] = { &m, NULL };
		double ts, t0, t1;

		snprintf(mail, sizeof mail, "latency.%ld.%d@example.com",
		    (long)getpid(), i);
		drain(pg);
		ts = now_ms();
		rc = ldap_modify_ext_s(ld, o.dn, mods, NULL, NULL);
		t0 = now_ms();
		if (rc != LDAP_SUCCESS)
			die("modify %s: %s", o.dn, ldap_err2string(rc));
		t1 = wait_visible(pg, &o, id, mail, t0);
		if (i < o.warmup)
			continue;
		if (t1 < 0) {
			timeouts++;
			continue;
		}
		mod[got] = t0 - ts;
		lat[got] = t1 - t0;
		sum += lat[got];
		got++;
	}
	if (o.raw_file != NULL) {
		FILE *f = fopen(o.raw_file, "w");

		if (f == NULL)
			die("%s: %s", o.raw_file, strerror(errno));
		for (int i = 0; i < got; i++)
			fprintf(f, "%.3f\n", lat[i]);
		fclose(f);
	}
	if (got == 0) {
		printf("samples=0 timeouts=%d\n", timeouts);
		return 1;
	}
	qsort(lat, got, sizeof *lat, cmp_double);
	qsort(mod, got, sizeof *mod, cmp_double);
	printf("samples=%d timeouts=%d min=%.3f p50=%.3f p90=%.3f p99=%.3f "
	    "max=%.3f mean=%.3f modify_p50=%.3f\n", got, timeouts, lat[0],
	    pct(lat, got, 50), pct(lat, got, 90), pct(lat, got, 99),
	    lat[got - 1], sum / got, pct(mod, got, 50));
	free(lat);
	free(mod);
	free(id);
	PQfinish(pg);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return timeouts > 0;
}
