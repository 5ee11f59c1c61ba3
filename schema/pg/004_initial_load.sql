-- 004_initial_load.sql - the initial sync of an empty mirror as a bulk
-- load.
--
-- Written batch by batch into the indexed, constrained tables, an initial
-- sync of 100,000 users and 200,000 memberships spent nearly all its time
-- in PostgreSQL maintaining twelve indexes row by row and checking a
-- foreign key per link (docs/BENCHMARKS.md).  An initial sync - no
-- cookie, nothing mirrored yet - has nothing to merge with, so it is
-- loaded the way pg_restore loads a table:
--
--   * each batch of the refresh appends its rows to unlogged staging
--     tables in a short transaction of its own (no index, no WAL, no
--     lookup), while the directory is still sending;
--   * the batch that ends the refresh moves everything into the mirror in
--     ONE transaction (dir_store_bulk_finish): it drops the secondary
--     indexes, the unique constraints and the foreign keys among the three
--     mirror tables, inserts the rows with their links resolved by hash
--     joins, builds the indexes by sorting, adds the constraints back
--     (each checked by one pass) and stores the cookie.
--
-- A crash anywhere before that COMMIT leaves the mirror empty and no
-- cookie stored: the daemon starts the initial sync again, and the first
-- batch of a bulk refresh empties the staging tables (after a crash of
-- PostgreSQL itself they are empty anyway: unlogged).  Other sessions
-- that read the mirror wait for the finishing transaction's locks (a few
-- seconds for 100,000 users); they would have found it empty before.
--
-- The store decides (store.c): a refresh is loaded this way only when
-- the stored state has no cookie and the mirror tables are empty, and
-- dir_store_bulk_finish checks the second condition again under its
-- locks.  Every other refresh, and everything after it, goes through the
-- batch functions of 002.

-- ord: the order the directory sent things in, across batches (the
-- store numbers them).  The latest event of an id wins, as it does when
-- batches are written one after another.
CREATE UNLOGGED TABLE dir_stage_user (
	ord             bigint NOT NULL,
	id              text NOT NULL,
	dn              text NOT NULL,
	dn_norm         text NOT NULL,
	uid             text,
	login_alt       text,
	full_name       text,
	given_name      text,
	surname         text,
	email           text,
	manager_dn      text,
	manager_dn_norm text,
	user_type       text,
	disabled        boolean
);

CREATE UNLOGGED TABLE dir_stage_group (
	ord         bigint NOT NULL,
	id          text NOT NULL,
	dn          text NOT NULL,
	dn_norm     text NOT NULL,
	name        text,
	description text
);

-- The member list of one sending of a group (group_ord = that sending's
-- ord): only the list of the group's latest sending counts.
CREATE UNLOGGED TABLE dir_stage_member (
	group_ord      bigint NOT NULL,
	group_id       text NOT NULL,
	member_dn      text NOT NULL,
	member_dn_norm text NOT NULL
);

CREATE UNLOGGED TABLE dir_stage_deleted (
	ord bigint NOT NULL,
	id  text NOT NULL
);

-- One load at a time.  Two daemons pointed at one database by mistake
-- write the same rows through the batch path harmlessly (each batch locks
-- the source's row), but one emptying the staging tables under the other
-- would make the other load a partial directory with a cookie that says
-- it is whole.  So staging needs this session advisory lock ("dsload" in
-- ASCII read as a number; a literal, like the migration lock's key):
-- taken by the first batch, checked by every later one, released by the
-- end of the load or the next load of the state (store.c).  Session
-- locks survive a rollback and stack, hence the checks of pg_locks.
CREATE FUNCTION dir_stage_lock_held()
RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT FROM pg_locks
	               WHERE locktype = 'advisory' AND granted
	                 AND pid = pg_backend_pid() AND objsubid = 1
	                 AND (classid::bigint << 32 | objid::bigint)
	                     = 110446903255396)
$$;

CREATE FUNCTION dir_stage_check()
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT dir_stage_lock_held() THEN
		RAISE EXCEPTION 'staging an initial load without its lock'
		    USING ERRCODE = 'lock_not_available',
		    HINT = 'the load was interrupted; it starts again';
	END IF;
END $$;

CREATE FUNCTION dir_stage_release()
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	WHILE dir_stage_lock_held() LOOP
		PERFORM pg_advisory_unlock(110446903255396);
	END LOOP;
	RETURN true;
END $$;

-- The first batch of a bulk refresh: takes the lock, and whatever an
-- earlier, interrupted load left behind goes.
CREATE FUNCTION dir_store_stage_reset()
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT dir_stage_lock_held()
	    AND NOT pg_try_advisory_lock(110446903255396) THEN
		RAISE EXCEPTION 'another session is loading the mirror'
		    USING ERRCODE = 'lock_not_available',
		    HINT = 'is a second dirsyncd using this database?';
	END IF;
	TRUNCATE dir_stage_user, dir_stage_group, dir_stage_member,
	    dir_stage_deleted;
	RETURN dir_store_tally(0);
END $$;

-- Appends users; p_ord is the ord of the first (the next ones follow).
CREATE FUNCTION dir_store_stage_users(p_ord bigint, p_id text[],
    p_dn text[], p_dn_norm text[], p_uid text[], p_login_alt text[],
    p_full_name text[], p_given_name text[], p_surname text[],
    p_email text[], p_manager_dn text[], p_manager_dn_norm text[],
    p_user_type text[], p_disabled boolean[])
RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM dir_stage_check();
	INSERT INTO dir_stage_user
	SELECT p_ord + x.i - 1, x.id, x.dn, x.dn_norm, x.uid, x.login_alt,
	    x.full_name, x.given_name, x.surname, x.email, x.manager_dn,
	    x.manager_dn_norm, x.user_type, x.disabled
	FROM unnest(p_id, p_dn, p_dn_norm, p_uid, p_login_alt, p_full_name,
	    p_given_name, p_surname, p_email, p_manager_dn, p_manager_dn_norm,
	    p_user_type, p_disabled) WITH ORDINALITY
	    AS x(id, dn, dn_norm, uid, login_alt, full_name, given_name, surname,
	        email, manager_dn, manager_dn_norm, user_type, disabled, i);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN dir_store_tally(0) + n;
END $$;

-- Appends groups and their member lists (parallel arrays: the group id
-- of each member, its DN and normalised DN).  Of a group sent twice in
-- one batch the store sends only the last list (store_batch.c).
CREATE FUNCTION dir_store_stage_groups(p_ord bigint, p_id text[],
    p_dn text[], p_dn_norm text[], p_name text[], p_description text[],
    p_member_group text[], p_member_dn text[], p_member_dn_norm text[])
RETURNS bigint
LANGUAGE plpgsql SET jit = off SET enable_nestloop = off
SET enable_mergejoin = off AS $$
DECLARE
	n bigint;
BEGIN
	PERFORM dir_stage_check();
	INSERT INTO dir_stage_group
	SELECT p_ord + x.i - 1, x.id, x.dn, x.dn_norm, x.name, x.description
	FROM unnest(p_id, p_dn, p_dn_norm, p_name, p_description)
	    WITH ORDINALITY AS x(id, dn, dn_norm, name, description, i);
	GET DIAGNOSTICS n = ROW_COUNT;
	INSERT INTO dir_stage_member
	SELECT g.ord, m.gid, m.dn, m.dn_norm
	FROM unnest(p_member_group, p_member_dn, p_member_dn_norm)
	    AS m(gid, dn, dn_norm)
	JOIN (SELECT x.id, max(p_ord + x.i - 1) AS ord
	      FROM unnest(p_id) WITH ORDINALITY AS x(id, i)
	      GROUP BY x.id) g ON g.id = m.gid;
	RETURN dir_store_tally(0) + n;
END $$;

CREATE FUNCTION dir_store_stage_deleted(p_ord bigint, p_ids text[])
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM dir_stage_check();
	INSERT INTO dir_stage_deleted
	SELECT p_ord + x.i - 1, x.id
	FROM unnest(p_ids) WITH ORDINALITY AS x(id, i);
	RETURN dir_store_tally(0);
END $$;

-- Moves the staged refresh into the empty mirror (see the top of this
-- file) and empties the staging tables.  The latest sending of each id
-- wins; an id whose latest event is a deletion is left out; of two ids
-- that end with the same DN the later keeps it and the other is left
-- out, as the batch path would park it and delete it at the refresh end.
-- Links are resolved among the rows loaded: users before groups for a
-- DN that is both, as everywhere in the store.
CREATE FUNCTION dir_store_bulk_finish(p_source text, OUT users bigint,
    OUT groups bigint, OUT members bigint)
LANGUAGE plpgsql
SET jit = off SET work_mem = '256MB' SET maintenance_work_mem = '256MB'
SET enable_nestloop = off SET enable_mergejoin = off AS $$
DECLARE
	gen bigint;
	mirror regclass[] := ARRAY['dir_user', 'dir_group',
	    'dir_group_member']::regclass[];
	fkeys text[] := '{}';
	uniques text[] := '{}';     -- primary keys too
	indexes text[] := '{}';
	def text;
	r record;
BEGIN
	PERFORM dir_stage_check();
	SELECT refresh_gen INTO gen FROM dir_sync_state WHERE source = p_source;
	LOCK TABLE dir_user, dir_group, dir_group_member IN ACCESS EXCLUSIVE MODE;
	IF EXISTS (SELECT FROM dir_user) OR EXISTS (SELECT FROM dir_group)
	    OR EXISTS (SELECT FROM dir_group_member) THEN
		RAISE EXCEPTION 'bulk load into a mirror that is not empty'
		    USING ERRCODE = 'object_not_in_prerequisite_state',
		    HINT = 'the store loads only an empty mirror in bulk';
	END IF;

	-- Foreign keys among the mirror tables first (a key constraint cannot
	-- go while a foreign key uses its index); then the primary keys and
	-- unique constraints no other foreign key uses (dir_user's primary key
	-- stays: person references it); then the plain indexes.
	FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname,
	             pg_get_constraintdef(c.oid) AS def
	         FROM pg_constraint c
	         WHERE c.conrelid = ANY (mirror) AND c.contype = 'f'
	           AND c.confrelid = ANY (mirror)
	LOOP
		fkeys := fkeys || format('ALTER TABLE %s ADD CONSTRAINT %I %s',
		    r.tbl, r.conname, r.def);
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl,
		    r.conname);
	END LOOP;
	FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname,
	             pg_get_constraintdef(c.oid) AS def
	         FROM pg_constraint c
	         WHERE c.conrelid = ANY (mirror) AND c.contype IN ('p', 'u')
	           AND NOT EXISTS (SELECT FROM pg_constraint f
	                           WHERE f.contype = 'f'
	                             AND f.conindid = c.conindid)
	LOOP
		uniques := uniques || format('ALTER TABLE %s ADD CONSTRAINT %I %s',
		    r.tbl, r.conname, r.def);
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.tbl,
		    r.conname);
	END LOOP;
	FOR r IN SELECT i.indexrelid::regclass AS idx,
	             pg_get_indexdef(i.indexrelid) AS def
	         FROM pg_index i
	         WHERE i.indrelid = ANY (mirror)
	           AND NOT EXISTS (SELECT FROM pg_constraint c
	                           WHERE c.conindid = i.indexrelid
	                             AND c.contype IN ('p', 'u', 'x'))
	LOOP
		indexes := indexes || r.def;
		EXECUTE format('DROP INDEX %s', r.idx);
	END LOOP;

	CREATE TEMP TABLE bulk_user ON COMMIT DROP AS
	SELECT DISTINCT ON (u.dn_norm) u.*
	FROM (SELECT DISTINCT ON (s.id) s.* FROM dir_stage_user s
	      ORDER BY s.id, s.ord DESC) u
	LEFT JOIN (SELECT id, max(ord) AS ord FROM dir_stage_deleted
	           GROUP BY id) d ON d.id = u.id
	WHERE d.ord IS NULL OR d.ord < u.ord
	ORDER BY u.dn_norm, u.ord DESC;
	ANALYZE bulk_user;

	INSERT INTO dir_user (id, dn, dn_norm, uid, login_alt, full_name,
	    given_name, surname, email, manager_dn, manager_dn_norm, manager_id,
	    user_type, disabled, sync_gen)
	SELECT a.id, a.dn, a.dn_norm, a.uid, a.login_alt,
	    coalesce(a.full_name, ''), a.given_name, a.surname, a.email,
	    a.manager_dn, a.manager_dn_norm, m.id, a.user_type,
	    coalesce(a.disabled, false), gen
	FROM bulk_user a
	LEFT JOIN bulk_user m ON m.dn_norm = a.manager_dn_norm
	ORDER BY a.id;      -- the order of the one index kept
	GET DIAGNOSTICS users = ROW_COUNT;

	CREATE TEMP TABLE bulk_group ON COMMIT DROP AS
	SELECT DISTINCT ON (g.dn_norm) g.*
	FROM (SELECT DISTINCT ON (s.id) s.* FROM dir_stage_group s
	      ORDER BY s.id, s.ord DESC) g
	LEFT JOIN (SELECT id, max(ord) AS ord FROM dir_stage_deleted
	           GROUP BY id) d ON d.id = g.id
	WHERE d.ord IS NULL OR d.ord < g.ord
	ORDER BY g.dn_norm, g.ord DESC;
	ANALYZE bulk_group;

	INSERT INTO dir_group (id, dn, dn_norm, name, description, sync_gen)
	SELECT id, dn, dn_norm, coalesce(name, ''), description, gen
	FROM bulk_group;
	GET DIAGNOSTICS groups = ROW_COUNT;

	INSERT INTO dir_group_member (group_id, member_dn_norm, member_dn,
	    member_user_id, member_group_id)
	SELECT x.group_id, x.member_dn_norm, x.member_dn, u.id,
	    CASE WHEN u.id IS NULL THEN g.id END
	FROM (SELECT DISTINCT ON (m.group_id, m.member_dn_norm) m.*
	      FROM dir_stage_member m
	      JOIN bulk_group k ON k.id = m.group_id AND k.ord = m.group_ord
	      ORDER BY m.group_id, m.member_dn_norm) x
	LEFT JOIN bulk_user u ON u.dn_norm = x.member_dn_norm
	LEFT JOIN bulk_group g ON g.dn_norm = x.member_dn_norm;
	GET DIAGNOSTICS members = ROW_COUNT;

	FOREACH def IN ARRAY indexes || uniques || fkeys LOOP
		EXECUTE def;
	END LOOP;

	TRUNCATE dir_stage_user, dir_stage_group, dir_stage_member,
	    dir_stage_deleted;
	PERFORM dir_stage_release();
	UPDATE dir_sync_state
	SET delete_guard_count = NULL, delete_guard_since = NULL,
	    delete_guard_mode = NULL, delete_guard_gen = NULL,
	    last_full_sync_at = now()
	WHERE source = p_source;
	PERFORM dir_store_tally(users + groups + members);
END $$;
