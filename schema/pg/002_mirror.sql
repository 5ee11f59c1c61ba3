-- 002_mirror.sql - what the batched writer of the directory mirror
-- (src/dirsyncd/store.c) needs: the remaining mapped attributes, refresh
-- generations, the pending delete guard, and the dir_store_* functions
-- the store calls, one per statement of its write transaction.
--
-- Applied by migrate.c inside one transaction with its schema_version
-- row: no BEGIN/COMMIT here, nothing that cannot run in a transaction.

-- ---- the rest of the attribute map -----------------------------------------

-- uid (001) holds the login; these are the other attributes of the map
-- (src/dirsyncd/attrmap.h).  user_type is stored as the directory sent
-- it: validation interprets it, the mirror does not.
ALTER TABLE dir_user
	ADD COLUMN login_alt  text,
	ADD COLUMN given_name text,
	ADD COLUMN surname    text,
	ADD COLUMN user_type  text;

-- ---- refresh generations ----------------------------------------------------

-- A refresh (RFC 4533 refresh phase, or a polling source's full
-- reconcile) has a generation number, dir_sync_state.refresh_gen.  Every
-- row written or reported present stores the generation it was last seen
-- in; a deletion reported during a refresh only marks the row (-1), so
-- the delete guard can still hold it back.  At the end of the refresh:
--   present mode: rows with sync_gen < refresh_gen were not sent: gone;
--   delete mode:  rows with sync_gen = -1 were reported deleted: gone.
-- Rows written outside a refresh get the current generation too: they
-- exist now, so a held-back deletion confirmed later must not take them.
--
-- No index on sync_gen, on purpose: each refresh rewrites sync_gen of
-- every row, and an index on it (even a partial one: predicate columns
-- count) would turn every one of those rewrites into a non-HOT update
-- that also writes every other index of the table.  The two end-of-
-- refresh statements scan the table once per refresh instead; that is
-- milliseconds for 100,000 users.
ALTER TABLE dir_user ADD COLUMN sync_gen bigint NOT NULL DEFAULT 0;
ALTER TABLE dir_group ADD COLUMN sync_gen bigint NOT NULL DEFAULT 0;
-- Room on each page for the new version of a row whose only change is
-- sync_gen, so those stay HOT updates (no index writes).  Only pages
-- written from now on get the room.
ALTER TABLE dir_user SET (fillfactor = 90);
ALTER TABLE dir_group SET (fillfactor = 90);

ALTER TABLE dir_sync_state
	ADD COLUMN refresh_gen bigint NOT NULL DEFAULT 0
	    CHECK (refresh_gen >= 0),
	-- What a pending guard holds back, so `dirsyncctl sync
	-- --confirm-deletes` deletes exactly what the refresh would have,
	-- even after a restart or later persist-mode changes.
	ADD COLUMN delete_guard_mode text
	    CHECK (delete_guard_mode IN ('present', 'delete')),
	ADD COLUMN delete_guard_gen bigint,
	ADD CONSTRAINT dir_sync_state_guard_what
	    CHECK ((delete_guard_count IS NULL) = (delete_guard_mode IS NULL)
	        AND (delete_guard_count IS NULL) = (delete_guard_gen IS NULL));

-- The status socket reports users whose manager could not be resolved;
-- they are few, so a partial index makes that count cheap.
CREATE INDEX dir_user_dangling_manager_idx ON dir_user (id)
    WHERE manager_dn IS NOT NULL AND manager_id IS NULL;

-- ---- the write transaction ----------------------------------------------------

-- store.c queues a whole batch at once on the daemon's shared connection
-- (so no other module's query can land inside the transaction):
--
--   BEGIN; SELECT dir_store_begin(...); SELECT * FROM dir_store_...(...);
--   ...; SELECT dir_store_finish(...); COMMIT;
--
-- Each batch statement calls one function below with the batch as
-- parallel arrays (one element per row), so a batch costs a dozen round
-- trips whatever its size.  Every such function passes its count of
-- changed rows through dir_store_tally, which also counts the statements
-- that ran; dir_store_finish refuses to store the cookie unless all of
-- them did.  A statement the client failed to send therefore aborts the
-- transaction instead of committing a cookie without its changes.
--
-- The batch functions run with plan_cache_mode = force_custom_plan (a
-- batch holds one row or a hundred thousand, and a plan cached for one
-- size is wrong for the other; planning costs well under a millisecond),
-- jit = off (compiling costs more than these short statements run) and
-- enough work_mem to sort a batch in memory.
--
-- Links (manager_id, member_user_id/member_group_id) are resolved while
-- the rows are written, not by a later UPDATE: updating a row inserted
-- in the same transaction makes PostgreSQL check every foreign key of it
-- again, which doubled the cost of an initial sync.

-- Locks the source's row for the transaction (two daemons on one source
-- serialise), resets the counters, starts a new refresh generation when
-- asked, and returns the current one.
CREATE FUNCTION dir_store_begin(p_source text, p_new_refresh boolean)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	gen bigint;
BEGIN
	PERFORM set_config('dirsync.store_rows', '0', true);
	PERFORM set_config('dirsync.store_steps', '0', true);
	UPDATE dir_sync_state
	SET refresh_gen = refresh_gen + CASE WHEN p_new_refresh THEN 1 ELSE 0 END
	WHERE source = p_source
	RETURNING refresh_gen INTO gen;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'dir_sync_state has no row for source "%"', p_source
		    USING ERRCODE = 'no_data_found',
		    HINT = 'store_load_state() creates it';
	END IF;
	RETURN gen;
END $$;

-- Adds n to the rows changed by this transaction and counts one
-- statement; returns n.  The counters are transaction-local settings.
CREATE FUNCTION dir_store_tally(n bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('dirsync.store_rows',
	    (coalesce(nullif(current_setting('dirsync.store_rows', true), ''),
	        '0')::bigint + n)::text, true);
	PERFORM set_config('dirsync.store_steps',
	    (coalesce(nullif(current_setting('dirsync.store_steps', true), ''),
	        '0')::int + 1)::text, true);
	RETURN n;
END $$;

-- Upserts users.  An entry sent twice in one batch is written once, the
-- last copy winning (ON CONFLICT refuses to touch a row twice).  Only a
-- change of directory data moves updated_at; a new sync_gen alone is
-- bookkeeping and is not counted as a change.
--
-- Parking: the DN must be unique at COMMIT, and a row of another id that
-- holds a DN this batch assigns is stale - its rename or delete is still
-- to come (a refresh sends entries in any order) or was lost.  It gets a
-- DN no normalised DN can equal ('#' cannot start an RFC 4514 attribute
-- type) and the deleted mark: if it comes back under its new DN the
-- upsert restores it, otherwise the next refresh end removes it.
CREATE FUNCTION dir_store_upsert_users(p_source text, p_id text[],
    p_dn text[], p_dn_norm text[], p_uid text[], p_login_alt text[],
    p_full_name text[], p_given_name text[], p_surname text[],
    p_email text[], p_manager_dn text[], p_manager_dn_norm text[],
    p_user_type text[], p_disabled boolean[],
    OUT rows_changed bigint, OUT rows_parked bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB'
AS $$
DECLARE
	gen bigint := (SELECT refresh_gen FROM dir_sync_state
	    WHERE source = p_source);
BEGIN
	UPDATE dir_user o
	SET dn_norm = '#parked:' || o.id, sync_gen = -1, updated_at = now()
	FROM unnest(p_dn_norm) AS b(dn_norm)
	WHERE o.dn_norm = b.dn_norm
	  AND NOT EXISTS (SELECT FROM unnest(p_id) AS x(id) WHERE x.id = o.id);
	GET DIAGNOSTICS rows_parked = ROW_COUNT;

	-- The manager is looked up in the batch first (its DN there is
	-- current), then among the rows the batch does not rewrite.
	WITH b AS (
		SELECT DISTINCT ON (id) *
		FROM unnest(p_id, p_dn, p_dn_norm, p_uid, p_login_alt,
		    p_full_name, p_given_name, p_surname, p_email, p_manager_dn,
		    p_manager_dn_norm, p_user_type, p_disabled) WITH ORDINALITY
		    AS b(id, dn, dn_norm, uid, login_alt, full_name, given_name,
		        surname, email, manager_dn, manager_dn_norm, user_type,
		        disabled, ord)
		ORDER BY id, ord DESC
	), bn AS (
		SELECT dn_norm, min(id) AS id FROM b GROUP BY dn_norm
	), w AS (
		INSERT INTO dir_user AS u (id, dn, dn_norm, uid, login_alt,
		    full_name, given_name, surname, email, manager_dn,
		    manager_dn_norm, manager_id, user_type, disabled, sync_gen)
		SELECT b.id, b.dn, b.dn_norm, b.uid, b.login_alt,
		    coalesce(b.full_name, ''), b.given_name, b.surname, b.email,
		    b.manager_dn, b.manager_dn_norm, coalesce(bn.id, t.id),
		    b.user_type, coalesce(b.disabled, false), gen
		FROM b
		LEFT JOIN bn ON bn.dn_norm = b.manager_dn_norm
		LEFT JOIN dir_user t ON bn.id IS NULL
		    AND t.dn_norm = b.manager_dn_norm
		    AND t.id NOT IN (SELECT id FROM b)
		ON CONFLICT (id) DO UPDATE
		SET (dn, dn_norm, uid, login_alt, full_name, given_name, surname,
		    email, manager_dn, manager_dn_norm, manager_id, user_type,
		    disabled, sync_gen, updated_at) =
		    (EXCLUDED.dn, EXCLUDED.dn_norm, EXCLUDED.uid,
		    EXCLUDED.login_alt, EXCLUDED.full_name, EXCLUDED.given_name,
		    EXCLUDED.surname, EXCLUDED.email, EXCLUDED.manager_dn,
		    EXCLUDED.manager_dn_norm, EXCLUDED.manager_id,
		    EXCLUDED.user_type, EXCLUDED.disabled, EXCLUDED.sync_gen,
		    CASE WHEN (u.dn, u.dn_norm, u.uid, u.login_alt, u.full_name,
		        u.given_name, u.surname, u.email, u.manager_dn,
		        u.manager_dn_norm, u.user_type, u.disabled)
		        IS DISTINCT FROM (EXCLUDED.dn, EXCLUDED.dn_norm, EXCLUDED.uid,
		        EXCLUDED.login_alt, EXCLUDED.full_name, EXCLUDED.given_name,
		        EXCLUDED.surname, EXCLUDED.email, EXCLUDED.manager_dn,
		        EXCLUDED.manager_dn_norm, EXCLUDED.user_type,
		        EXCLUDED.disabled)
		    THEN now() ELSE u.updated_at END)
		WHERE (u.dn, u.dn_norm, u.uid, u.login_alt, u.full_name,
		    u.given_name, u.surname, u.email, u.manager_dn, u.manager_dn_norm,
		    u.manager_id, u.user_type, u.disabled, u.sync_gen)
		    IS DISTINCT FROM (EXCLUDED.dn, EXCLUDED.dn_norm, EXCLUDED.uid,
		    EXCLUDED.login_alt, EXCLUDED.full_name, EXCLUDED.given_name,
		    EXCLUDED.surname, EXCLUDED.email, EXCLUDED.manager_dn,
		    EXCLUDED.manager_dn_norm, EXCLUDED.manager_id,
		    EXCLUDED.user_type, EXCLUDED.disabled, EXCLUDED.sync_gen)
		RETURNING u.updated_at = now() AS data_changed
	)
	SELECT count(*) FILTER (WHERE data_changed) INTO rows_changed FROM w;
	PERFORM dir_store_tally(rows_changed + rows_parked);
END $$;

-- Upserts groups, the same way as users.
CREATE FUNCTION dir_store_upsert_groups(p_source text, p_id text[],
    p_dn text[], p_dn_norm text[], p_name text[], p_description text[],
    OUT rows_changed bigint, OUT rows_parked bigint)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB'
AS $$
DECLARE
	gen bigint := (SELECT refresh_gen FROM dir_sync_state
	    WHERE source = p_source);
BEGIN
	UPDATE dir_group o
	SET dn_norm = '#parked:' || o.id, sync_gen = -1, updated_at = now()
	FROM unnest(p_dn_norm) AS b(dn_norm)
	WHERE o.dn_norm = b.dn_norm
	  AND NOT EXISTS (SELECT FROM unnest(p_id) AS x(id) WHERE x.id = o.id);
	GET DIAGNOSTICS rows_parked = ROW_COUNT;

	WITH b AS (
		SELECT DISTINCT ON (id) *
		FROM unnest(p_id, p_dn, p_dn_norm, p_name, p_description)
		    WITH ORDINALITY AS b(id, dn, dn_norm, name, description, ord)
		ORDER BY id, ord DESC
	), w AS (
		INSERT INTO dir_group AS g (id, dn, dn_norm, name, description,
		    sync_gen)
		SELECT id, dn, dn_norm, coalesce(name, ''), description, gen
		FROM b
		ON CONFLICT (id) DO UPDATE
		SET (dn, dn_norm, name, description, sync_gen, updated_at) =
		    (EXCLUDED.dn, EXCLUDED.dn_norm, EXCLUDED.name,
		    EXCLUDED.description, EXCLUDED.sync_gen,
		    CASE WHEN (g.dn, g.dn_norm, g.name, g.description)
		        IS DISTINCT FROM (EXCLUDED.dn, EXCLUDED.dn_norm,
		        EXCLUDED.name, EXCLUDED.description)
		    THEN now() ELSE g.updated_at END)
		WHERE (g.dn, g.dn_norm, g.name, g.description, g.sync_gen)
		    IS DISTINCT FROM (EXCLUDED.dn, EXCLUDED.dn_norm, EXCLUDED.name,
		    EXCLUDED.description, EXCLUDED.sync_gen)
		RETURNING g.updated_at = now() AS data_changed
	)
	SELECT count(*) FILTER (WHERE data_changed) INTO rows_changed FROM w;
	PERFORM dir_store_tally(rows_changed + rows_parked);
END $$;

-- Makes the direct member lists of the groups p_groups exactly what the
-- flattened (group, member) pairs say, with their links.  A diff, not
-- delete-and-insert: an unchanged membership costs no write.  Runs after
-- both upserts, so a member arriving in the same batch is found.  A DN
-- that is both a user and a group (a stale row) links the user.
CREATE FUNCTION dir_store_set_members(p_groups text[], p_group_id text[],
    p_member_dn text[], p_member_dn_norm text[])
RETURNS bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB'
AS $$
DECLARE
	gone bigint;
	added bigint;
BEGIN
	DELETE FROM dir_group_member m
	WHERE m.group_id = ANY (p_groups)
	  AND NOT EXISTS (
		SELECT FROM unnest(p_group_id, p_member_dn_norm) AS b(gid, dn_norm)
		WHERE b.gid = m.group_id AND b.dn_norm = m.member_dn_norm);
	GET DIAGNOSTICS gone = ROW_COUNT;

	INSERT INTO dir_group_member AS m (group_id, member_dn_norm, member_dn,
	    member_user_id, member_group_id)
	SELECT b.gid, b.dn_norm, b.dn, u.id, CASE WHEN u.id IS NULL THEN g.id END
	FROM (
		SELECT DISTINCT ON (gid, dn_norm) gid, dn_norm, dn
		FROM unnest(p_group_id, p_member_dn, p_member_dn_norm)
		    WITH ORDINALITY AS b(gid, dn, dn_norm, ord)
		ORDER BY gid, dn_norm, ord DESC
	) b
	LEFT JOIN dir_user u ON u.dn_norm = b.dn_norm
	LEFT JOIN dir_group g ON g.dn_norm = b.dn_norm
	ON CONFLICT (group_id, member_dn_norm) DO UPDATE
	SET (member_dn, member_user_id, member_group_id) = (EXCLUDED.member_dn,
	    EXCLUDED.member_user_id, EXCLUDED.member_group_id)
	WHERE (m.member_dn, m.member_user_id, m.member_group_id)
	    IS DISTINCT FROM (EXCLUDED.member_dn, EXCLUDED.member_user_id,
	    EXCLUDED.member_group_id);
	GET DIAGNOSTICS added = ROW_COUNT;
	RETURN dir_store_tally(gone + added);
END $$;

-- Deletions by id, users or groups.  Outside a refresh they apply at
-- once (memberships cascade, manager links become NULL); inside one
-- (p_mark) the rows are only marked, for the refresh end and its guard.
-- Returns the rows deleted.
CREATE FUNCTION dir_store_delete(p_ids text[], p_mark boolean)
RETURNS bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB'
AS $$
DECLARE
	users bigint;
	groups bigint;
BEGIN
	IF p_mark THEN
		UPDATE dir_user SET sync_gen = -1
		WHERE id = ANY (p_ids) AND sync_gen <> -1;
		UPDATE dir_group SET sync_gen = -1
		WHERE id = ANY (p_ids) AND sync_gen <> -1;
		RETURN dir_store_tally(0);
	END IF;
	DELETE FROM dir_user WHERE id = ANY (p_ids);
	GET DIAGNOSTICS users = ROW_COUNT;
	DELETE FROM dir_group WHERE id = ANY (p_ids);
	GET DIAGNOSTICS groups = ROW_COUNT;
	RETURN dir_store_tally(users + groups);
END $$;

-- Presence marks (unchanged entries of a refresh).  Returns how many of
-- the ids exist: an id the mirror does not know means it missed an
-- entry.
CREATE FUNCTION dir_store_present(p_source text, p_ids text[])
RETURNS bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB'
AS $$
DECLARE
	gen bigint := (SELECT refresh_gen FROM dir_sync_state
	    WHERE source = p_source);
	users bigint;
	groups bigint;
BEGIN
	UPDATE dir_user SET sync_gen = gen
	WHERE id = ANY (p_ids) AND sync_gen <> gen;
	UPDATE dir_group SET sync_gen = gen
	WHERE id = ANY (p_ids) AND sync_gen <> gen;
	SELECT count(*) INTO users FROM dir_user WHERE id = ANY (p_ids);
	SELECT count(*) INTO groups FROM dir_group WHERE id = ANY (p_ids);
	PERFORM dir_store_tally(0);
	RETURN users + groups;
END $$;

-- Links that point at or should point at the batch's users and groups
-- from rows the batch did not write (those were linked as they were
-- written), never a pass over a whole table:
--   1. rows linked to a batch entry whose DN no longer matches (it was
--      renamed): looked up again, usually back to NULL;
--   2. rows naming a batch entry's DN: linked to it, whatever the order
--      in which the entries arrived.
-- Returns the links changed.
CREATE FUNCTION dir_store_link(p_user_ids text[], p_group_ids text[])
RETURNS bigint
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan SET jit = off SET work_mem = '64MB'
AS $$
DECLARE
	n bigint;
	total bigint := 0;
BEGIN
	UPDATE dir_user u
	SET manager_id = (SELECT m.id FROM dir_user m
	    WHERE m.dn_norm = u.manager_dn_norm LIMIT 1)
	FROM dir_user b
	WHERE b.id = ANY (p_user_ids) AND u.manager_id = b.id
	  AND u.manager_dn_norm IS DISTINCT FROM b.dn_norm;
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;

	UPDATE dir_user u SET manager_id = b.id
	FROM dir_user b
	WHERE b.id = ANY (p_user_ids) AND u.manager_dn_norm = b.dn_norm
	  AND u.manager_id IS DISTINCT FROM b.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;

	UPDATE dir_group_member m
	SET (member_user_id, member_group_id) = (
		SELECT u.id, CASE WHEN u.id IS NULL THEN g.id END
		FROM (SELECT) one
		LEFT JOIN dir_user u ON u.dn_norm = m.member_dn_norm
		LEFT JOIN dir_group g ON g.dn_norm = m.member_dn_norm
		LIMIT 1)
	WHERE (m.member_user_id = ANY (p_user_ids)
	       AND m.member_dn_norm IS DISTINCT FROM (SELECT dn_norm FROM dir_user
	           WHERE id = m.member_user_id))
	   OR (m.member_group_id = ANY (p_group_ids)
	       AND m.member_dn_norm IS DISTINCT FROM (SELECT dn_norm FROM dir_group
	           WHERE id = m.member_group_id));
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;

	UPDATE dir_group_member m SET (member_user_id, member_group_id) = (b.id, NULL)
	FROM dir_user b
	WHERE b.id = ANY (p_user_ids) AND m.member_dn_norm = b.dn_norm
	  AND (m.member_user_id, m.member_group_id) IS DISTINCT FROM (b.id, NULL);
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;

	UPDATE dir_group_member m SET (member_user_id, member_group_id) = (NULL, b.id)
	FROM dir_group b
	WHERE b.id = ANY (p_group_ids) AND m.member_dn_norm = b.dn_norm
	  AND (m.member_user_id, m.member_group_id) IS DISTINCT FROM (NULL, b.id)
	  AND NOT EXISTS (SELECT FROM dir_user u WHERE u.dn_norm = b.dn_norm);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN dir_store_tally(total + n);
END $$;

-- Deletes what a refresh end in p_mode ('present': not seen in
-- generation p_gen; 'delete': marked deleted) removes.  Returns the rows
-- deleted (users and groups).
CREATE FUNCTION dir_store_purge(p_mode text, p_gen bigint)
RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
	users bigint;
	groups bigint;
BEGIN
	IF p_mode = 'present' THEN
		DELETE FROM dir_user WHERE sync_gen < p_gen;
		GET DIAGNOSTICS users = ROW_COUNT;
		DELETE FROM dir_group WHERE sync_gen < p_gen;
		GET DIAGNOSTICS groups = ROW_COUNT;
	ELSIF p_mode = 'delete' THEN
		DELETE FROM dir_user WHERE sync_gen = -1;
		GET DIAGNOSTICS users = ROW_COUNT;
		DELETE FROM dir_group WHERE sync_gen = -1;
		GET DIAGNOSTICS groups = ROW_COUNT;
	ELSE
		RAISE EXCEPTION 'unknown refresh end mode "%"', p_mode;
	END IF;
	RETURN users + groups;
END $$;

-- The end of a refresh and the max_delete_ratio guard: unless more than
-- p_ratio of the users would go, delete and clear any pending guard;
-- otherwise delete nothing and record the guard (count, since, and what
-- it holds back, for dir_store_confirm_deletes).
CREATE FUNCTION dir_store_refresh_end(p_source text, p_mode text,
    p_ratio float8, OUT doomed bigint, OUT total bigint,
    OUT tripped boolean, OUT deleted bigint)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
	gen bigint := (SELECT refresh_gen FROM dir_sync_state
	    WHERE source = p_source);
BEGIN
	SELECT count(*) FILTER (WHERE CASE WHEN p_mode = 'present'
	    THEN sync_gen < gen ELSE sync_gen = -1 END), count(*)
	INTO doomed, total
	FROM dir_user;
	tripped := doomed > 0 AND doomed > greatest(p_ratio, 0) * total;
	deleted := 0;
	IF tripped THEN
		UPDATE dir_sync_state
		SET delete_guard_count = least(doomed, 2147483647)::int,
		    delete_guard_since = coalesce(delete_guard_since, now()),
		    delete_guard_mode = p_mode, delete_guard_gen = gen,
		    last_full_sync_at = now()
		WHERE source = p_source;
	ELSE
		deleted := dir_store_purge(p_mode, gen);
		UPDATE dir_sync_state
		SET delete_guard_count = NULL, delete_guard_since = NULL,
		    delete_guard_mode = NULL, delete_guard_gen = NULL,
		    last_full_sync_at = now()
		WHERE source = p_source;
	END IF;
	PERFORM dir_store_tally(deleted);
END $$;

-- `dirsyncctl sync --confirm-deletes`: deletes what the pending guard
-- held back, by the mode and generation it recorded, and clears it.
-- held is false when there was no guard.
CREATE FUNCTION dir_store_confirm_deletes(p_source text,
    OUT held boolean, OUT deleted bigint)
LANGUAGE plpgsql AS $$
DECLARE
	st record;
BEGIN
	SELECT delete_guard_mode AS mode, delete_guard_gen AS gen INTO st
	FROM dir_sync_state
	WHERE source = p_source AND delete_guard_count IS NOT NULL;
	held := FOUND;
	deleted := 0;
	IF held THEN
		deleted := dir_store_purge(st.mode, st.gen);
		UPDATE dir_sync_state
		SET delete_guard_count = NULL, delete_guard_since = NULL,
		    delete_guard_mode = NULL, delete_guard_gen = NULL
		WHERE source = p_source;
	END IF;
	PERFORM dir_store_tally(deleted);
END $$;

-- Checks that p_steps statements were tallied, stores the cookie when
-- p_set_cookie (a NULL p_cookie clears it), and notifies
-- dirsync_directory with the number of rows changed, which it returns.
-- The notification is delivered at COMMIT, and not at all on rollback.
CREATE FUNCTION dir_store_finish(p_source text, p_steps int,
    p_set_cookie boolean, p_cookie bytea)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	steps int := coalesce(nullif(current_setting('dirsync.store_steps',
	    true), ''), '-1')::int;
	changed bigint := coalesce(nullif(current_setting('dirsync.store_rows',
	    true), ''), '0')::bigint;
BEGIN
	IF steps <> p_steps THEN
		RAISE EXCEPTION 'store batch incomplete: % of % statements ran',
		    steps, p_steps
		    USING ERRCODE = 'transaction_integrity_constraint_violation';
	END IF;
	UPDATE dir_sync_state
	SET cookie = CASE WHEN p_set_cookie THEN p_cookie ELSE cookie END,
	    updated_at = now()
	WHERE source = p_source;
	PERFORM pg_notify('dirsync_directory', changed::text);
	RETURN changed;
END $$;
