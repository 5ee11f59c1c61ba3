/* store_batch.c - the store's batches (store.h: adding rows, resetting,
 * freeing) and their conversion into statement parameters
 * (store_params.h). */
#include "store.h"
#include "store_params.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* ---- array literals ---------------------------------------------------- */

/* One growing buffer: doubling keeps appends amortised O(1).  Its size
 * follows the batch, so running out of memory fails the write instead
 * of aborting the daemon. */
struct store_buf {
	char *p;
	size_t len, cap;
	bool oom;
	unsigned repaired;       /* elements that were not valid UTF-8 */
	char first_repaired[STORE_REPAIRED_SHOWN]; /* the first, as sent */
};

static void
store_buf_add(struct store_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* s for a log line: as it is, but each byte that is not part of
 * well-formed UTF-8 written as \xNN; cut to fit size. */
static void
store_show_bytes(char *out, size_t size, const char *s)
{
	size_t o = 0;

	while (*s != '\0' && o + 5 < size) {
		size_t len = utf8_char_len(s, strnlen(s, 4));

		if (len == 0) {
			o += (size_t)snprintf(out + o, size - o, "\\x%02x",
			    (unsigned char)*s++);
			continue;
		}
		if (o + len + 1 > size)
			break;
		memcpy(out + o, s, len);
		o += len;
		s += len;
	}
	out[o] = '\0';
}

/* Appends one element of an array literal: "..." with \ and " escaped
 * (the array parser's quoting, which also protects commas, braces,
 * spaces and the word NULL), or a bare NULL for a NULL pointer.  The
 * first element opens the literal; store_arr_end() closes it.  A byte
 * that is not part of well-formed UTF-8 becomes U+FFFD: the database
 * would refuse the whole batch, and the same entry would stop the
 * mirror at every retry. */
static void
store_arr_add(struct store_buf *b, const char *s)
{
	const char *start = s;
	bool bad = false;

	store_buf_add(b, b->len == 0 ? "{" : ",", 1);
	if (s == NULL) {
		store_buf_add(b, "NULL", 4);
		return;
	}
	store_buf_add(b, "\"", 1);
	while (*s != '\0') {
		size_t run = 0, len;

		while (s[run] != '\0' && s[run] != '\\' && s[run] != '"' &&
		    (unsigned char)s[run] < 0x80)
			run++;
		store_buf_add(b, s, run);
		s += run;
		if (*s == '\0')
			break;
		if (*s == '\\' || *s == '"') {
			store_buf_add(b, "\\", 1);
			store_buf_add(b, s++, 1);
		} else if ((len = utf8_char_len(s, strnlen(s, 4))) != 0) {
			store_buf_add(b, s, len);
			s += len;
		} else {
			store_buf_add(b, UTF8_REPLACEMENT, 3);
			s++;
			bad = true;
		}
	}
	store_buf_add(b, "\"", 1);
	if (bad && b->repaired++ == 0)
		store_show_bytes(b->first_repaired, sizeof(b->first_repaired),
		    start);
}

/* A parameter of p; NULL (out of memory) marks p as failed. */
static char *
store_param(struct store_params *p, char *s)
{
	if (s == NULL)
		p->oom = true;
	return s;
}

/* The finished literal (malloc'd) as a parameter of p, which also counts
 * the elements repaired; NULL when memory ran out. */
static char *
store_arr_end(struct store_params *p, struct store_buf *b)
{
	store_buf_add(b, b->len == 0 ? "{}" : "}", b->len == 0 ? 2 : 1);
	if (b->repaired > 0 && p->repaired == 0)
		memcpy(p->first_repaired, b->first_repaired,
		    sizeof(p->first_repaired));
	p->repaired += b->repaired;
	if (!b->oom)
		return store_param(p, b->p);
	free(b->p);
	return store_param(p, NULL);
}

/* A text[] literal of the char * found at offset within each of n
 * records stride bytes apart: plain string arrays (stride sizeof(char
 * *), offset 0) and one field of a struct array alike. */
static char *
store_array(struct store_params *p, const void *base, size_t n,
    size_t stride, size_t offset)
{
	struct store_buf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		const char *s;

		memcpy(&s, (const char *)base + i * stride + offset, sizeof(s));
		store_arr_add(&b, s);
	}
	return store_arr_end(p, &b);
}

/* bytea in its hex text form, \x..., for a text parameter. */
char *
store_hex(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * len + 3), *p = s;

	if (s == NULL)
		return NULL;
	*p++ = '\\';
	*p++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*p++ = digits[data[i] >> 4];
		*p++ = digits[data[i] & 15];
	}
	*p = '\0';
	return s;
}

/* The text fields of a store_user, in the order of sql_upsert_users'
 * parameters $2..$13 (uid is the login).  Also what reset frees. */
static const size_t store_user_fields[] = {
	offsetof(struct store_user, id),
	offsetof(struct store_user, dn),
	offsetof(struct store_user, dn_norm),
	offsetof(struct store_user, login),
	offsetof(struct store_user, login_alt),
	offsetof(struct store_user, full_name),
	offsetof(struct store_user, given_name),
	offsetof(struct store_user, surname),
	offsetof(struct store_user, email),
	offsetof(struct store_user, manager_dn),
	offsetof(struct store_user, manager_dn_norm),
	offsetof(struct store_user, user_type),
};
_Static_assert(DS_ARRAY_SIZE(store_user_fields) == STORE_NUSER,
    "store_params.h: STORE_NUSER");

static const size_t store_group_fields[] = {
	offsetof(struct store_group, id),
	offsetof(struct store_group, dn),
	offsetof(struct store_group, dn_norm),
	offsetof(struct store_group, name),
	offsetof(struct store_group, description),
};
_Static_assert(DS_ARRAY_SIZE(store_group_fields) == STORE_NGROUP,
    "store_params.h: STORE_NGROUP");


struct store_sending {
	const char *id;
	size_t index;
};

static int
store_sending_cmp(const void *a, const void *b)
{
	const struct store_sending *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Which groups of the batch a later sending of the same group, with its
 * own list, supersedes (superseded[i]).  Each sending carries the whole
 * list: when refint removes six members from a group one modify at a
 * time, the batch holds six sendings, and only the last one is the
 * directory's list (their union kept the removed members).  Sorting makes
 * it O(n log n) in the batch's groups.  NULL when nothing is superseded
 * or out of memory (p->oom). */
static bool *
store_superseded_groups(struct store_params *p, const struct store_batch *b)
{
	struct store_sending *v;
	bool *superseded = NULL;
	size_t n = 0;

	v = malloc(b->group_count * sizeof(*v));
	if (v == NULL) {
		p->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < b->group_count; i++)
		if (!b->groups[i].keep_members)
			v[n++] = (struct store_sending){ b->groups[i].id, i };
	qsort(v, n, sizeof(*v), store_sending_cmp);
	for (size_t k = 0; k + 1 < n; k++) {
		if (strcmp(v[k].id, v[k + 1].id) != 0)
			continue;
		if (superseded == NULL)
			superseded = calloc(b->group_count, sizeof(bool));
		if (superseded == NULL) {
			p->oom = true;
			break;
		}
		superseded[v[k].index] = true;
	}
	free(v);
	return superseded;
}

/* The members of the batch's groups, flattened into three parallel
 * arrays: group id, member DN, member DN normalised; and the groups
 * whose lists these are (not those that keep their stored list).  Of a
 * group sent more than once, the last list counts. */
static void
store_params_members(struct store_params *p, const struct store_batch *b)
{
	struct store_buf m[3] = { { 0 } }, ids = { 0 };
	bool *superseded = store_superseded_groups(p, b);

	for (size_t i = 0; i < b->group_count; i++) {
		const struct store_group *g = &b->groups[i];

		if (g->keep_members || (superseded != NULL && superseded[i]))
			continue;
		store_arr_add(&ids, g->id);
		for (size_t j = 0; j < g->member_count; j++) {
			store_arr_add(&m[0], g->id);
			store_arr_add(&m[1], g->member_dn[j]);
			store_arr_add(&m[2], g->member_dn_norm[j]);
		}
	}
	free(superseded);
	p->member_groups = store_arr_end(p, &ids);
	for (size_t i = 0; i < 3; i++)
		p->members[i] = store_arr_end(p, &m[i]);
}

static void
store_params_changes(struct store_params *p, const struct store_batch *b)
{
	struct store_buf c[4] = { { 0 } };

	for (size_t i = 0; i < b->member_change_count; i++) {
		const struct store_member_change *mc = &b->member_changes[i];

		store_arr_add(&c[0], mc->group_id);
		store_arr_add(&c[1], mc->dn);
		store_arr_add(&c[2], mc->dn_norm);
		store_arr_add(&c[3], mc->add ? "t" : "f");
	}
	for (size_t i = 0; i < 4; i++)
		p->changes[i] = store_arr_end(p, &c[i]);
}

void
store_params_build(struct store_params *p, const struct store_batch *b)
{
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; b->user_count > 0 && i < STORE_NUSER; i++)
		p->user[i] = store_array(p, b->users,
		    b->user_count, sizeof(*b->users), store_user_fields[i]);
	if (b->user_count > 0) {
		struct store_buf d = { 0 };

		for (size_t i = 0; i < b->user_count; i++)
			store_arr_add(&d, b->users[i].disabled ? "t" : "f");
		p->user[STORE_NUSER] = store_arr_end(p, &d);
	}
	for (size_t i = 0; b->group_count > 0 && i < STORE_NGROUP; i++)
		p->group[i] = store_array(p, b->groups,
		    b->group_count, sizeof(*b->groups), store_group_fields[i]);
	if (b->group_count > 0)
		store_params_members(p, b);
	if (b->member_change_count > 0)
		store_params_changes(p, b);
	if (b->deleted_count > 0) {
		struct store_buf gone = { 0 };

		p->deleted = store_array(p, b->deleted_ids,
		    b->deleted_count, sizeof(char *), 0);
		for (size_t i = 0; i < b->deleted_count; i++)
			if (!b->deleted_left[i])
				store_arr_add(&gone, b->deleted_ids[i]);
		if (gone.len > 0)
			p->deleted_gone = store_arr_end(p, &gone);
	}
	if (b->present_count > 0)
		p->present = store_array(p, b->present_ids,
		    b->present_count, sizeof(char *), 0);
	if (b->cookie_len > 0)
		p->cookie = store_param(p, store_hex(b->cookie, b->cookie_len));
}

void
store_params_free(struct store_params *p)
{
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->user); i++)
		free(p->user[i]);
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->group); i++)
		free(p->group[i]);
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->members); i++)
		free(p->members[i]);
	for (size_t i = 0; i < DS_ARRAY_SIZE(p->changes); i++)
		free(p->changes[i]);
	free(p->member_groups);
	free(p->deleted);
	free(p->deleted_gone);
	free(p->present);
	free(p->cookie);
}

/* ---- batches ------------------------------------------------------------ */

static void *
store_grow(void *arr, size_t count, size_t *cap, size_t elem)
{
	if (count < *cap)
		return arr;
	*cap = *cap > 0 ? 2 * *cap : 64;
	return ds_realloc(arr, *cap * elem);
}

struct store_user *
store_batch_add_user(struct store_batch *b)
{
	struct store_user *u;

	b->users = store_grow(b->users, b->user_count, &b->user_cap,
	    sizeof(*b->users));
	u = &b->users[b->user_count++];
	memset(u, 0, sizeof(*u));
	return u;
}

struct store_group *
store_batch_add_group(struct store_batch *b)
{
	struct store_group *g;

	b->groups = store_grow(b->groups, b->group_count, &b->group_cap,
	    sizeof(*b->groups));
	g = &b->groups[b->group_count++];
	memset(g, 0, sizeof(*g));
	return g;
}

static void
store_push_id(char ***ids, size_t *count, size_t *cap, const char *id)
{
	*ids = store_grow(*ids, *count, cap, sizeof(char *));
	(*ids)[(*count)++] = ds_strdup(id);
}

static void
store_push_deleted(struct store_batch *b, const char *id, bool left)
{
	b->deleted_left = store_grow(b->deleted_left, b->deleted_count,
	    &b->deleted_left_cap, sizeof(bool));
	b->deleted_left[b->deleted_count] = left;
	store_push_id(&b->deleted_ids, &b->deleted_count, &b->deleted_cap, id);
}

void
store_batch_add_deleted(struct store_batch *b, const char *id)
{
	store_push_deleted(b, id, false);
}

void
store_batch_add_left(struct store_batch *b, const char *id)
{
	store_push_deleted(b, id, true);
}

void
store_batch_add_present(struct store_batch *b, const char *id)
{
	store_push_id(&b->present_ids, &b->present_count, &b->present_cap, id);
}

void
store_batch_set_cookie(struct store_batch *b, const void *cookie, size_t len)
{
	free(b->cookie);
	b->cookie = NULL;
	b->cookie_len = 0;
	if (cookie == NULL || len == 0)
		return;
	b->cookie = ds_calloc(1, len);
	memcpy(b->cookie, cookie, len);
	b->cookie_len = len;
}

void
store_batch_add_member_change(struct store_batch *b, const char *group_id,
    const char *dn, const char *dn_norm, bool add)
{
	struct store_member_change *mc;

	b->member_changes = store_grow(b->member_changes,
	    b->member_change_count, &b->member_change_cap,
	    sizeof(*b->member_changes));
	mc = &b->member_changes[b->member_change_count++];
	mc->group_id = ds_strdup(group_id);
	mc->dn = ds_strdup(dn);
	mc->dn_norm = ds_strdup(dn_norm);
	mc->add = add;
}

size_t
store_batch_size(const struct store_batch *b)
{
	size_t n = b->user_count + b->group_count + b->deleted_count +
	    b->present_count + b->member_change_count;

	for (size_t i = 0; i < b->group_count; i++)
		n += b->groups[i].member_count;
	return n;
}

static void
store_free_fields(void *rec, const size_t *offsets, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char **field = (char **)((char *)rec + offsets[i]);

		free(*field);
	}
}

void
store_batch_reset(struct store_batch *b)
{
	for (size_t i = 0; i < b->user_count; i++)
		store_free_fields(&b->users[i], store_user_fields, STORE_NUSER);
	for (size_t i = 0; i < b->group_count; i++) {
		struct store_group *g = &b->groups[i];

		store_free_fields(g, store_group_fields, STORE_NGROUP);
		for (size_t j = 0; j < g->member_count; j++) {
			free(g->member_dn[j]);
			free(g->member_dn_norm[j]);
		}
		free(g->member_dn);
		free(g->member_dn_norm);
	}
	for (size_t i = 0; i < b->deleted_count; i++)
		free(b->deleted_ids[i]);
	for (size_t i = 0; i < b->present_count; i++)
		free(b->present_ids[i]);
	for (size_t i = 0; i < b->member_change_count; i++) {
		free(b->member_changes[i].group_id);
		free(b->member_changes[i].dn);
		free(b->member_changes[i].dn_norm);
	}
	b->member_change_count = 0;
	store_batch_set_cookie(b, NULL, 0);
	b->user_count = b->group_count = 0;
	b->deleted_count = b->present_count = 0;
	b->refresh = STORE_REFRESH_NONE;
	b->clear_cookie = false;
}

void
store_batch_free(struct store_batch *b)
{
	if (b == NULL)
		return;
	store_batch_reset(b);
	free(b->users);
	free(b->groups);
	free(b->deleted_ids);
	free(b->deleted_left);
	free(b->present_ids);
	free(b->member_changes);
	memset(b, 0, sizeof(*b));
}

void
store_state_clear(struct store_state *st)
{
	if (st == NULL)
		return;
	free(st->cookie);
	memset(st, 0, sizeof(*st));
}
