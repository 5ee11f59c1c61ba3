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
-- Room on each page for a new version of every row on it, so that a
-- refresh rewriting sync_gen makes HOT updates (no index writes): with
-- the default fillfactor almost none were HOT, and a refresh of 20,000
-- unchanged users took twice as long.  The tables grow to twice their
-- size, a few tens of megabytes for 100,000 users; page pruning gives
-- the room back before the next refresh.  Only pages written from now
-- on get the room.
ALTER TABLE dir_user SET (fillfactor = 50);
ALTER TABLE dir_group SET (fillfactor = 50);

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

-- ---- dir_user.zone without a per-row lookup ---------------------------

-- The mirror never sets dir_user.zone: every row it inserts gets the
-- DEFAULT, the built-in zone 'all'.  The foreign key to zone still
-- looked 'all' up once per inserted user (a query per row, about a
-- fifth of the cost of inserting a user) to prove what the DEFAULT
-- already guarantees.  The same integrity, without that lookup:
--   * a row naming any zone other than 'all' is checked as the key
--     checked it (the trigger's WHEN skips the mirror's rows without
--     calling anything);
--   * 'all' itself cannot be renamed or deleted: it is built in, and
--     every DEFAULT of the schema names it, so either would break the
--     next insert into any table with a zone;
--   * renaming another zone carries its users along (ON UPDATE CASCADE)
--     and deleting one that users name is refused (NO ACTION).
ALTER TABLE dir_user DROP CONSTRAINT dir_user_zone_fkey;

CREATE FUNCTION dir_user_zone_check()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	-- FOR KEY SHARE, as the foreign key: a concurrent delete or rename
	-- of the zone waits for this transaction.
	PERFORM FROM zone WHERE name = NEW.zone FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'insert or update on table "dir_user" violates '
		    'the zone reference'
		    USING ERRCODE = 'foreign_key_violation',
		    DETAIL = format('Key (zone)=(%s) is not present in table "zone".',
		        NEW.zone);
	END IF;
	RETURN NEW;
END $$;

CREATE TRIGGER dir_user_zone_check
    BEFORE INSERT OR UPDATE OF zone ON dir_user
    FOR EACH ROW WHEN (NEW.zone IS DISTINCT FROM 'all')
    EXECUTE FUNCTION dir_user_zone_check();

CREATE FUNCTION zone_dir_user_refs()
RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.name = 'all' THEN
		RAISE EXCEPTION 'the built-in zone "all" cannot be renamed or deleted'
		    USING ERRCODE = 'foreign_key_violation';
	END IF;
	IF TG_OP = 'UPDATE' THEN
		UPDATE dir_user SET zone = NEW.name WHERE zone = OLD.name;
		RETURN NEW;
	END IF;
	IF EXISTS (SELECT FROM dir_user WHERE zone = OLD.name) THEN
		RAISE EXCEPTION 'update or delete on table "zone" violates the '
		    'zone reference from table "dir_user"'
		    USING ERRCODE = 'foreign_key_violation',
		    DETAIL = format('Key (name)=(%s) is still referenced from '
		        'table "dir_user".', OLD.name);
	END IF;
	RETURN OLD;
END $$;

-- AFTER, as the foreign key's own triggers: the new name exists when
-- the users move to it.
CREATE TRIGGER zone_dir_user_rename
    AFTER UPDATE OF name ON zone
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION zone_dir_user_refs();
CREATE TRIGGER zone_dir_user_delete
    AFTER DELETE ON zone
    FOR EACH ROW EXECUTE FUNCTION zone_dir_user_refs();

-- ---- the write transaction ----------------------------------------------------

-- store.c queues a whole batch at once on the daemon's shared connection
-- (so no other module's query can land inside the transaction):
--
--   BEGIN; SELECT dir_store_begin(...); SELECT * FROM dir_store_...(...);
--   ...; SELECT dir_store_finish(...); COMMIT;
--
-- Each batch statement calls one function below with the batch as
-- parallel arrays (one element per row), so a batch costs a handful of
-- round trips whatever its size.  Every such function passes its count
-- of changed rows through dir_store_tally, which also counts the
-- statements that ran; dir_store_finish refuses to store the cookie
-- unless all of them did.  A statement the client failed to send
-- therefore aborts the transaction instead of committing a cookie
-- without its changes.
--
-- Plans.  A batch holds one row or a hundred thousand, and the tables
-- hold nothing (initial sync) or millions of rows, with statistics that
-- lag behind both.  A plan picked from row estimates is then wrong
-- sooner or later, and a wrong plan here is quadratic: a hash join that
-- reads a whole table per batch, or a nested loop over the batch inside
-- a loop over the batch, made an initial sync of 20,000 users take
-- minutes.  So the batch functions fix the shape of their plans instead,
-- and plan each statement once per session (plan_cache_mode =
-- force_generic_plan: no planning per batch):
--   * a table is only ever read by key: every lookup is a scalar
--     subquery or an = ANY (array) condition on an indexed column, and
--     enable_seqscan = off makes the index the path taken even over an
--     empty table without statistics;
--   * the batch is joined only with itself or with the rows it found by
--     key (deduplication, its own DNs, a group's current members):
--     enable_nestloop = off and enable_mergejoin = off make those hash
--     joins, linear whatever the estimates;
--   * the relink functions join rows they found by key back to their
--     table by primary key: there a nested loop over index lookups is
--     the plan wanted, and enable_hashjoin = off and enable_mergejoin =
--     off leave it the only one (a hash join would read the whole table
--     to build its other side).
-- A batch then costs O(batch × log table), nothing waits for fresh
-- statistics (autovacuum's ANALYZE keeps them for other queries), and
-- foreign key checks, planned under the same settings, are index
-- lookups too.  jit = off: compiling costs more than these statements
-- run.  work_mem: enough to hash and sort a large batch in memory.
--
-- Links (manager_id, member_user_id/member_group_id) are resolved while
-- the rows are written, not by a later UPDATE: updating a row inserted
-- in the same transaction makes PostgreSQL check every foreign key of it
-- again, which doubled the cost of an initial sync.  Rows the batch does
-- not write are relinked only around the entries that moved: a new DN
-- (a new entry, or a rename) may be what they name; a renamed or parked
-- entry is what they may point at wrongly now.  An unchanged entry costs
-- no link work, and nothing ever passes over a whole table.

-- Locks the source's row for the transaction (two daemons on one source
-- serialise), resets the counters, starts a new refresh generation when
-- asked, and returns the current one.
--
-- It also makes the transaction commit asynchronously (transaction-
-- local: the daemon's other queries share the session).  That is safe
-- for the mirror: a crash of PostgreSQL can lose only the transactions
-- committed in its last few hundred milliseconds (up to three times
-- wal_writer_delay), never half of one, and each of them stored its
-- cookie in the same transaction, so the cookie goes with them and the
-- daemon, which reloads the stored cookie whenever it reconnects,
-- fetches those changes from the directory again.  A lost confirmation
-- of held-back deletions leaves the guard pending, to be confirmed
-- again.  Listeners may have been notified of a lost batch; they are
-- notified again when it is written again.  In exchange no batch waits
-- for a disk flush.
CREATE FUNCTION dir_store_begin(p_source text, p_new_refresh boolean)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	gen bigint;
BEGIN
	PERFORM set_config('dirsync.store_rows', '0', true);
	PERFORM set_config('dirsync.store_steps', '0', true);
	PERFORM set_config('synchronous_commit', 'off', true);
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

-- Managers of the users that name one of the DNs p_dns, or point at one
-- of the entries p_ids, looked up again by DN; the users p_skip (the
-- batch's own, linked as they were written) are left alone.  Returns
-- the links changed.
CREATE FUNCTION dir_store_relink_managers(p_dns text[], p_ids text[],
    p_skip text[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off
SET enable_mergejoin = off AS $$
DECLARE
	n bigint;
BEGIN
	-- OFFSET 0 keeps the lookup from being evaluated twice (once for
	-- the comparison, once for the SET).
	UPDATE dir_user u
	SET manager_id = l.manager_id
	FROM (SELECT x.id, x.manager_id AS linked,
	          (SELECT m.id FROM dir_user m
	           WHERE m.dn_norm = x.manager_dn_norm LIMIT 1) AS manager_id
	      FROM dir_user x
	      WHERE (x.manager_dn_norm = ANY (p_dns) OR x.manager_id = ANY (p_ids))
	        AND x.id NOT IN (SELECT unnest(p_skip))
	      OFFSET 0) l
	WHERE u.id = l.id AND l.linked IS DISTINCT FROM l.manager_id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

-- Memberships that name one of the DNs p_dns, or point at one of the
-- entries p_ids (users or groups), looked up again by DN.  A DN that is
-- both a user and a group (a stale row) links the user.  Returns the
-- links changed.
CREATE FUNCTION dir_store_relink_members(p_dns text[], p_ids text[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off
SET enable_mergejoin = off AS $$
DECLARE
	n bigint;
BEGIN
	UPDATE dir_group_member m
	SET (member_user_id, member_group_id) = (l.user_id, l.group_id)
	FROM (SELECT x.group_id AS gid, x.member_dn_norm,
	          x.member_user_id AS linked_user,
	          x.member_group_id AS linked_group, x.user_id,
	          CASE WHEN x.user_id IS NULL THEN
	              (SELECT g.id FROM dir_group g
	               WHERE g.dn_norm = x.member_dn_norm LIMIT 1) END AS group_id
	      FROM (SELECT c.*, (SELECT u.id FROM dir_user u
	                WHERE u.dn_norm = c.member_dn_norm LIMIT 1) AS user_id
	            FROM dir_group_member c
	            WHERE c.member_dn_norm = ANY (p_dns)
	               OR c.member_user_id = ANY (p_ids)
	               OR c.member_group_id = ANY (p_ids)
	            OFFSET 0) x
	      OFFSET 0) l
	WHERE m.group_id = l.gid AND m.member_dn_norm = l.member_dn_norm
	  AND (l.linked_user, l.linked_group)
	      IS DISTINCT FROM (l.user_id, l.group_id);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

-- Upserts users.  An entry sent twice in one batch is written once, the
-- last copy winning.  Only a change of directory data moves updated_at;
-- a new sync_gen or link alone is bookkeeping and is not counted as a
-- change.
--
-- First, one primary key lookup per entry: which ids are known, and
-- which of the batch's entries "moved" (are new or change DN).  Only a
-- moved entry's DN can collide with another row, and only moved entries
-- (and the rows they push aside) can change the links of rows outside
-- the batch.
--
-- Parking: the DN must be unique at COMMIT, and a row of another id that
-- holds a DN this batch assigns is stale - its rename or delete is still
-- to come (a refresh sends entries in any order) or was lost.  It gets a
-- DN no normalised DN can equal ('#' cannot start an RFC 4514 attribute
-- type) and the deleted mark: if it comes back under its new DN the
-- upsert restores it, otherwise the next refresh end removes it.
--
-- Then new ids are INSERTed and known ones UPDATEd where anything
-- differs, rather than INSERT ... ON CONFLICT, whose speculative
-- insertion cost a third more per new row.  The ids known stay known
-- until COMMIT: nothing but the store writes the mirror, and
-- dir_store_begin's lock on the source's row serialises the store's
-- transactions.
--
-- The manager is looked up in the batch first (its DN there is
-- current), then among the DNs the batch's renamed entries leave (now
-- nobody's), then in the table.
CREATE FUNCTION dir_store_upsert_users(p_source text, p_id text[],
    p_dn text[], p_dn_norm text[], p_uid text[], p_login_alt text[],
    p_full_name text[], p_given_name text[], p_surname text[],
    p_email text[], p_manager_dn text[], p_manager_dn_norm text[],
    p_user_type text[], p_disabled boolean[],
    OUT rows_changed bigint, OUT rows_parked bigint)
LANGUAGE plpgsql
SET jit = off SET work_mem = '64MB' SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_nestloop = off
SET enable_mergejoin = off AS $$
DECLARE
	gen bigint;
	known text[];         -- the batch's ids that have a row
	moved_dns text[];     -- DNs the batch gives to a new id or a renamed one
	renamed text[];       -- ids whose DN changes
	vacated text[];       -- ... and the DNs they leave
	parked text[] := '{}';
BEGIN
	SELECT refresh_gen INTO gen FROM dir_sync_state WHERE source = p_source;

	SELECT coalesce(array_agg(b.id) FILTER (WHERE b.old IS NOT NULL), '{}'),
	    coalesce(array_agg(b.dn_norm)
	        FILTER (WHERE b.old IS DISTINCT FROM b.dn_norm), '{}'),
	    coalesce(array_agg(b.id)
	        FILTER (WHERE b.old <> b.dn_norm), '{}'),
	    coalesce(array_agg(b.old)
	        FILTER (WHERE b.old <> b.dn_norm), '{}')
	INTO known, moved_dns, renamed, vacated
	FROM (SELECT x.id, x.dn_norm, (SELECT t.dn_norm FROM dir_user t
	          WHERE t.id = x.id) AS old
	      FROM unnest(p_id, p_dn_norm) AS x(id, dn_norm)
	      OFFSET 0) b;

	IF cardinality(moved_dns) > 0 THEN
		WITH p AS (
			UPDATE dir_user o
			SET dn_norm = '#parked:' || o.id, sync_gen = -1,
			    updated_at = now()
			WHERE o.dn_norm = ANY (moved_dns)
			  AND o.id NOT IN (SELECT unnest(p_id))
			RETURNING o.id
		)
		SELECT coalesce(array_agg(id), '{}') INTO parked FROM p;
	END IF;
	rows_parked := cardinality(parked);

	WITH b AS (
		SELECT DISTINCT ON (id) *
		FROM unnest(p_id, p_dn, p_dn_norm, p_uid, p_login_alt, p_full_name,
		    p_given_name, p_surname, p_email, p_manager_dn,
		    p_manager_dn_norm, p_user_type, p_disabled) WITH ORDINALITY
		    AS b(id, dn, dn_norm, uid, login_alt, full_name, given_name,
		        surname, email, manager_dn, manager_dn_norm, user_type,
		        disabled, ord)
		ORDER BY id, ord DESC
	), bn AS (
		-- The batch's DNs, and the DNs its renamed entries leave
		-- (id NULL unless the batch gives them to someone).
		SELECT dn_norm, min(id) AS id
		FROM (SELECT dn_norm, id FROM b
		      UNION ALL SELECT unnest(vacated), NULL) x
		GROUP BY dn_norm
	), r AS (
		-- The rows as they are to be, linked; in DN order, which is
		-- more or less the order of most of the table's indexes too
		-- (DN, login, mail, name): a plain INSERT of 20,000 users in
		-- it took a quarter less than in id order.
		SELECT b.id, b.dn, b.dn_norm, b.uid, b.login_alt,
		    coalesce(b.full_name, '') AS full_name, b.given_name,
		    b.surname, b.email, b.manager_dn, b.manager_dn_norm,
		    CASE WHEN bn.dn_norm IS NOT NULL THEN bn.id
		    ELSE (SELECT t.id FROM dir_user t
		          WHERE t.dn_norm = b.manager_dn_norm LIMIT 1) END
		        AS manager_id,
		    b.user_type, coalesce(b.disabled, false) AS disabled,
		    b.id IN (SELECT unnest(known)) AS is_known
		FROM b
		LEFT JOIN bn ON bn.dn_norm = b.manager_dn_norm
		ORDER BY b.dn_norm
	), i AS (
		INSERT INTO dir_user (id, dn, dn_norm, uid, login_alt, full_name,
		    given_name, surname, email, manager_dn, manager_dn_norm,
		    manager_id, user_type, disabled, sync_gen)
		SELECT id, dn, dn_norm, uid, login_alt, full_name, given_name,
		    surname, email, manager_dn, manager_dn_norm, manager_id,
		    user_type, disabled, gen
		FROM r
		WHERE NOT r.is_known
		RETURNING 1
	), w AS (
		UPDATE dir_user u
		SET (dn, dn_norm, uid, login_alt, full_name, given_name, surname,
		    email, manager_dn, manager_dn_norm, manager_id, user_type,
		    disabled, sync_gen, updated_at) =
		    (r.dn, r.dn_norm, r.uid, r.login_alt, r.full_name,
		    r.given_name, r.surname, r.email, r.manager_dn,
		    r.manager_dn_norm, r.manager_id, r.user_type, r.disabled, gen,
		    CASE WHEN (u.dn, u.dn_norm, u.uid, u.login_alt, u.full_name,
		        u.given_name, u.surname, u.email, u.manager_dn,
		        u.manager_dn_norm, u.user_type, u.disabled)
		        IS DISTINCT FROM (r.dn, r.dn_norm, r.uid, r.login_alt,
		        r.full_name, r.given_name, r.surname, r.email, r.manager_dn,
		        r.manager_dn_norm, r.user_type, r.disabled)
		    THEN now() ELSE u.updated_at END)
		FROM r
		-- = ANY: the rows are fetched by key, then matched by hash.
		WHERE u.id = ANY (known) AND u.id = r.id AND r.is_known
		  AND (u.dn, u.dn_norm, u.uid, u.login_alt, u.full_name,
		    u.given_name, u.surname, u.email, u.manager_dn, u.manager_dn_norm,
		    u.manager_id, u.user_type, u.disabled, u.sync_gen)
		    IS DISTINCT FROM (r.dn, r.dn_norm, r.uid, r.login_alt,
		    r.full_name, r.given_name, r.surname, r.email, r.manager_dn,
		    r.manager_dn_norm, r.manager_id, r.user_type, r.disabled, gen)
		RETURNING u.updated_at = now() AS data_changed
	)
	SELECT (SELECT count(*) FROM i)
	    + (SELECT count(*) FROM w WHERE data_changed)
	INTO rows_changed;

	-- A new id cannot be pointed at yet (the foreign keys): only the DNs
	-- that moved, and the ids whose DN changed, matter to other rows.
	IF cardinality(moved_dns) > 0 THEN
		rows_changed := rows_changed
		    + dir_store_relink_managers(moved_dns, renamed || parked, p_id)
		    + dir_store_relink_members(moved_dns, renamed || parked);
	END IF;
	PERFORM dir_store_tally(rows_changed + rows_parked);
END $$;

-- Upserts groups, the same way as users except that a batch holds few
-- groups, so one INSERT ... ON CONFLICT writes them, and they have no
-- manager.
CREATE FUNCTION dir_store_upsert_groups(p_source text, p_id text[],
    p_dn text[], p_dn_norm text[], p_name text[], p_description text[],
    OUT rows_changed bigint, OUT rows_parked bigint)
LANGUAGE plpgsql
SET jit = off SET work_mem = '64MB' SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_nestloop = off
SET enable_mergejoin = off AS $$
DECLARE
	gen bigint;
	moved_dns text[];
	renamed text[];
	parked text[] := '{}';
BEGIN
	SELECT refresh_gen INTO gen FROM dir_sync_state WHERE source = p_source;

	SELECT coalesce(array_agg(b.dn_norm), '{}'),
	    coalesce(array_agg(b.id) FILTER (WHERE b.old IS NOT NULL), '{}')
	INTO moved_dns, renamed
	FROM (SELECT x.id, x.dn_norm, (SELECT t.dn_norm FROM dir_group t
	          WHERE t.id = x.id) AS old
	      FROM unnest(p_id, p_dn_norm) AS x(id, dn_norm)
	      OFFSET 0) b
	WHERE b.old IS DISTINCT FROM b.dn_norm;

	IF cardinality(moved_dns) > 0 THEN
		WITH p AS (
			UPDATE dir_group o
			SET dn_norm = '#parked:' || o.id, sync_gen = -1,
			    updated_at = now()
			WHERE o.dn_norm = ANY (moved_dns)
			  AND o.id NOT IN (SELECT unnest(p_id))
			RETURNING o.id
		)
		SELECT coalesce(array_agg(id), '{}') INTO parked FROM p;
	END IF;
	rows_parked := cardinality(parked);

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

	IF cardinality(moved_dns) > 0 THEN
		rows_changed := rows_changed
		    + dir_store_relink_members(moved_dns, renamed || parked);
	END IF;
	PERFORM dir_store_tally(rows_changed + rows_parked);
END $$;

-- Makes the direct member lists of the groups p_groups exactly what the
-- flattened (group, member) pairs say, with their links.  A diff, not
-- delete-and-insert: the groups' current rows are read once (by the
-- primary key's group_id prefix) and hash-joined with the batch in one
-- pass that collects what differs, and only that is written.  An
-- unchanged membership costs no write and no lookup, so a one-member
-- change to a big group costs one pass over its rows.  The links of rows
-- that stay are kept up to date by the upserts' relinking; a new row is
-- linked as it is written.  Runs after both upserts, so a member
-- arriving in the same batch is found.  A DN that is both a user and a
-- group (a stale row) links the user.  A pair sent twice is written
-- once, the last copy's DN spelling winning.
CREATE FUNCTION dir_store_set_members(p_groups text[], p_group_id text[],
    p_member_dn text[], p_member_dn_norm text[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET work_mem = '64MB' SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_nestloop = off
SET enable_mergejoin = off AS $$
DECLARE
	gone tid[];           -- rows no longer listed
	new_gid text[];       -- pairs not yet stored
	new_dn text[];
	new_dn_norm text[];
	new_ord bigint[];
	re_gid text[];        -- pairs kept whose DN spelling changes: rare
	re_dn_norm text[];
	added bigint := 0;
	respelled bigint := 0;
BEGIN
	-- One pass: the batch hashed, the groups' rows probed.
	SELECT coalesce(array_agg(c.tid) FILTER (WHERE b.gid IS NULL), '{}'),
	    coalesce(array_agg(b.gid) FILTER (WHERE c.tid IS NULL), '{}'),
	    array_agg(b.dn) FILTER (WHERE c.tid IS NULL),
	    array_agg(b.dn_norm) FILTER (WHERE c.tid IS NULL),
	    array_agg(b.ord) FILTER (WHERE c.tid IS NULL),
	    coalesce(array_agg(b.gid) FILTER (WHERE b.dn <> c.member_dn), '{}'),
	    array_agg(b.dn_norm) FILTER (WHERE b.dn <> c.member_dn)
	INTO gone, new_gid, new_dn, new_dn_norm, new_ord, re_gid, re_dn_norm
	FROM unnest(p_group_id, p_member_dn, p_member_dn_norm)
	    WITH ORDINALITY AS b(gid, dn, dn_norm, ord)
	FULL JOIN (SELECT ctid AS tid, group_id, member_dn_norm, member_dn
	           FROM dir_group_member
	           WHERE group_id = ANY (p_groups)) c
	    ON c.group_id = b.gid AND c.member_dn_norm = b.dn_norm;

	-- By the row versions just read (nothing else writes the mirror).
	IF cardinality(gone) > 0 THEN
		DELETE FROM dir_group_member WHERE ctid = ANY (gone);
	END IF;

	-- New pairs, deduplicated, in primary key order (a third cheaper to
	-- insert than the hash join's order).
	IF cardinality(new_gid) > 0 THEN
		INSERT INTO dir_group_member (group_id, member_dn_norm, member_dn,
		    member_user_id, member_group_id)
		SELECT n.gid, n.dn_norm, n.dn, n.user_id,
		    CASE WHEN n.user_id IS NULL THEN
		        (SELECT g.id FROM dir_group g WHERE g.dn_norm = n.dn_norm
		         LIMIT 1) END
		FROM (SELECT DISTINCT ON (gid, dn_norm) gid, dn_norm, dn,
		          (SELECT u.id FROM dir_user u WHERE u.dn_norm = x.dn_norm
		           LIMIT 1) AS user_id
		      FROM unnest(new_gid, new_dn, new_dn_norm, new_ord)
		          AS x(gid, dn, dn_norm, ord)
		      ORDER BY gid, dn_norm, ord DESC) n;
		GET DIAGNOSTICS added = ROW_COUNT;
	END IF;

	IF cardinality(re_gid) > 0 THEN
		UPDATE dir_group_member m
		SET member_dn = x.dn
		FROM (SELECT DISTINCT ON (b.gid, b.dn_norm) b.gid, b.dn_norm, b.dn
		      FROM unnest(p_group_id, p_member_dn, p_member_dn_norm)
		          WITH ORDINALITY AS b(gid, dn, dn_norm, ord)
		      JOIN unnest(re_gid, re_dn_norm) AS r(gid, dn_norm)
		          ON r.gid = b.gid AND r.dn_norm = b.dn_norm
		      ORDER BY b.gid, b.dn_norm, b.ord DESC) x
		WHERE m.group_id = ANY (re_gid)
		  AND m.group_id = x.gid AND m.member_dn_norm = x.dn_norm
		  AND m.member_dn <> x.dn;
		GET DIAGNOSTICS respelled = ROW_COUNT;
	END IF;
	RETURN dir_store_tally(cardinality(gone) + added + respelled);
END $$;

-- Deletions by id, users or groups.  Outside a refresh they apply at
-- once (memberships cascade, manager links become NULL); inside one
-- (p_mark) the rows are only marked, for the refresh end and its guard.
-- Returns the rows deleted.  By primary key, like every batch function
-- (see "Plans" above).
CREATE FUNCTION dir_store_delete(p_ids text[], p_mark boolean)
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
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
-- entry.  By primary key.
CREATE FUNCTION dir_store_present(p_source text, p_ids text[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
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
