-- 007_bulk_plain.sql - the initial load's last transaction without the
-- sorting-out it almost never needs.
--
-- 004's dir_store_bulk_finish sorted every staged row out before loading
-- it: the latest sending of each id, minus ids deleted after it, one row
-- per DN, one member list per group.  On 100,000 users that took about
-- 0.7 s before the users were inserted and 0.3 s more in the membership
-- insert (docs/BENCHMARKS.md).  But an initial sync nearly always stages
-- each entry exactly once: syncrepl's refresh is one snapshot of the
-- directory and holds no deletions, and the mirror sends a group's list
-- once per batch.  So the staged rows are now loaded as they are, and
-- the constraints the load rebuilds anyway decide whether that was
-- right:
--
--   * an id staged twice (a user or a group sent again) breaks the
--     primary key of dir_user or dir_group - and a group sent again is
--     the only way two member lists of one group get staged;
--   * two ids with one DN break the unique key on dn_norm, and make the
--     joins that resolve links return a row twice, which breaks a key;
--   * one member DN twice in a list breaks dir_group_member's key.
--
-- Any of these rolls the plain attempt back (a subtransaction) and the
-- load is done 004's way, sorted out, in the same transaction.  A refresh
-- that staged a deletion goes 004's way at once.
--
-- The plain attempt also drops and rebuilds dir_user's primary key (with
-- the foreign keys of the other tables that use it), so the users need
-- not be inserted in key order.

-- Inserts the rows of the three tables named (shaped like the staging
-- tables) into the mirror.  Links are resolved among the rows loaded,
-- users before groups for a DN that is both, as everywhere in the store.
-- The names are text, not regclass: a constant regclass would be
-- resolved once into the plan cached for the session, and the temporary
-- tables of the sorted-out load are new at every load.  Only the two
-- fixed sets of names below are ever passed.
CREATE FUNCTION dir_bulk_insert(p_gen bigint, p_users text,
    p_groups text, p_members text, OUT users bigint,
    OUT groups bigint, OUT members bigint)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO dir_user (id, dn, dn_norm, uid, login_alt,
	    full_name, given_name, surname, email, manager_dn, manager_dn_norm,
	    manager_id, user_type, disabled, sync_gen)
	SELECT a.id, a.dn, a.dn_norm, a.uid, a.login_alt,
	    coalesce(a.full_name, %L), a.given_name, a.surname, a.email,
	    a.manager_dn, a.manager_dn_norm, m.id, a.user_type,
	    coalesce(a.disabled, false), $1
	FROM %s a LEFT JOIN %s m ON m.dn_norm = a.manager_dn_norm',
	    '', p_users, p_users) USING p_gen;
	GET DIAGNOSTICS users = ROW_COUNT;

	EXECUTE format('INSERT INTO dir_group (id, dn, dn_norm, name,
	    description, sync_gen)
	SELECT id, dn, dn_norm, coalesce(name, %L), description, $1
	FROM %s', '', p_groups) USING p_gen;
	GET DIAGNOSTICS groups = ROW_COUNT;

	EXECUTE format('INSERT INTO dir_group_member (group_id, member_dn_norm,
	    member_dn, member_user_id, member_group_id)
	SELECT x.group_id, x.member_dn_norm, x.member_dn, u.id,
	    CASE WHEN u.id IS NULL THEN g.id END
	FROM %s x
	LEFT JOIN %s u ON u.dn_norm = x.member_dn_norm
	LEFT JOIN %s g ON g.dn_norm = x.member_dn_norm',
	    p_members, p_users, p_groups);
	GET DIAGNOSTICS members = ROW_COUNT;
END $$;

-- The staged rows sorted out as 004 did, into temporary tables of the
-- staging tables' shape: the latest sending of each id not deleted after
-- it, one id per DN (the latest), the latest sending's member list with
-- each DN once.
CREATE FUNCTION dir_bulk_sort_out()
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	CREATE TEMP TABLE bulk_user ON COMMIT DROP AS
	SELECT DISTINCT ON (u.dn_norm) u.*
	FROM (SELECT DISTINCT ON (s.id) s.* FROM dir_stage_user s
	      ORDER BY s.id, s.ord DESC) u
	LEFT JOIN (SELECT id, max(ord) AS ord FROM dir_stage_deleted
	           GROUP BY id) d ON d.id = u.id
	WHERE d.ord IS NULL OR d.ord < u.ord
	ORDER BY u.dn_norm, u.ord DESC;
	ANALYZE bulk_user;

	CREATE TEMP TABLE bulk_group ON COMMIT DROP AS
	SELECT DISTINCT ON (g.dn_norm) g.*
	FROM (SELECT DISTINCT ON (s.id) s.* FROM dir_stage_group s
	      ORDER BY s.id, s.ord DESC) g
	LEFT JOIN (SELECT id, max(ord) AS ord FROM dir_stage_deleted
	           GROUP BY id) d ON d.id = g.id
	WHERE d.ord IS NULL OR d.ord < g.ord
	ORDER BY g.dn_norm, g.ord DESC;
	ANALYZE bulk_group;

	CREATE TEMP TABLE bulk_member ON COMMIT DROP AS
	SELECT DISTINCT ON (m.group_id, m.member_dn_norm) m.*
	FROM dir_stage_member m
	JOIN bulk_group k ON k.id = m.group_id AND k.ord = m.group_ord
	ORDER BY m.group_id, m.member_dn_norm;
END $$;

-- Moves the staged refresh into the empty mirror, as 004 describes, and
-- empties the staging tables.
CREATE OR REPLACE FUNCTION dir_store_bulk_finish(p_source text,
    OUT users bigint, OUT groups bigint, OUT members bigint)
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
	plain boolean := NOT EXISTS (SELECT FROM dir_stage_deleted);
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

	-- Every foreign key that uses a mirror table (among them those of the
	-- approval tables on dir_user's primary key: nothing can reference an
	-- empty mirror), then the mirror's primary and unique keys, then its
	-- plain indexes.  Each is added back from the catalog's own text.
	FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname,
	             pg_get_constraintdef(c.oid) AS def
	         FROM pg_constraint c
	         WHERE c.contype = 'f' AND (c.conrelid = ANY (mirror)
	             OR c.confrelid = ANY (mirror))
	         ORDER BY c.oid
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
	         ORDER BY c.oid
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
	         ORDER BY i.indexrelid
	LOOP
		indexes := indexes || r.def;
		EXECUTE format('DROP INDEX %s', r.idx);
	END LOOP;

	IF plain THEN
		BEGIN
			SELECT * INTO users, groups, members
			FROM dir_bulk_insert(gen, 'dir_stage_user', 'dir_stage_group',
			    'dir_stage_member');
			FOREACH def IN ARRAY indexes || uniques || fkeys LOOP
				EXECUTE def;
			END LOOP;
		EXCEPTION WHEN unique_violation THEN
			-- Rolled back to the empty tables without their keys.
			plain := false;
		END;
	END IF;
	IF NOT plain THEN
		PERFORM dir_bulk_sort_out();
		SELECT * INTO users, groups, members
		FROM dir_bulk_insert(gen, 'pg_temp.bulk_user', 'pg_temp.bulk_group',
		    'pg_temp.bulk_member');
		FOREACH def IN ARRAY indexes || uniques || fkeys LOOP
			EXECUTE def;
		END LOOP;
	END IF;

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
