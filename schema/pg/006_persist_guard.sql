-- 006_persist_guard.sql - the delete guard for deletions that arrive one
-- by one in the steady state.
--
-- Until now only the end of a refresh was guarded.  But the accident the
-- guard is for - a subtree deleted in the directory by mistake - reaches
-- a daemon in persist mode (or polling with tombstones) as a stream of
-- single deletions, one batch after another, and each of them alone is
-- far below max_delete_ratio.  So deletions outside a refresh are counted
-- over a window (dirsync.conf: mirror.delete_guard_window, default 1 h):
-- the batch that would take the users deleted within the window above
-- max_delete_ratio of the users there were at its start deletes nothing.
-- Its rows are marked (sync_gen = -1, as a refresh in delete mode marks
-- them) and the guard is recorded in mode 'delete', so the existing
-- `dirsyncctl sync --confirm-deletes` (dir_store_confirm_deletes) deletes
-- exactly them.  While a guard is pending, every later deletion is held
-- back the same way: the operator sees one number grow, and confirms once.
--
-- The batch still commits with its cookie: the held-back rows are stored
-- as held back, so a crash or restart keeps them held, and nothing is
-- fetched twice.  An entry held back and then changed again in the
-- directory is written again and so stops being doomed (its sync_gen is
-- no longer -1): it exists after all.
--
-- Groups are held back or deleted with the users of their batch; only
-- users count towards the ratio, as at a refresh end.

ALTER TABLE dir_sync_state
	-- Users deleted outside a refresh since persist_deleted_since.
	ADD COLUMN persist_deleted bigint NOT NULL DEFAULT 0
	    CHECK (persist_deleted >= 0),
	ADD COLUMN persist_deleted_since timestamptz;

-- dir_store_delete_links (005) without the statement tally, so that
-- dir_store_persist_delete can remove the links of what it deletes and
-- still count as one statement.
CREATE FUNCTION dir_store_unlink_deleted(p_ids text[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
DECLARE
	dns text[];
	members bigint;
	managed bigint;
BEGIN
	SELECT coalesce(array_agg(x.dn_norm), '{}') INTO dns
	FROM (SELECT dn_norm FROM dir_user WHERE id = ANY (p_ids)
	      UNION ALL
	      SELECT dn_norm FROM dir_group WHERE id = ANY (p_ids)) x;
	DELETE FROM dir_group_member
	WHERE member_user_id = ANY (p_ids) OR member_group_id = ANY (p_ids)
	   OR member_dn_norm = ANY (dns);
	GET DIAGNOSTICS members = ROW_COUNT;
	UPDATE dir_user
	SET manager_dn = NULL, manager_dn_norm = NULL, manager_id = NULL,
	    updated_at = now()
	WHERE manager_id = ANY (p_ids) OR manager_dn_norm = ANY (dns);
	GET DIAGNOSTICS managed = ROW_COUNT;
	RETURN members + managed;
END $$;

CREATE OR REPLACE FUNCTION dir_store_delete_links(p_ids text[])
RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
	RETURN dir_store_tally(dir_store_unlink_deleted(p_ids));
END $$;

-- Deletions outside a refresh, guarded (see the top of this file).
-- p_ratio is max_delete_ratio, p_window_s the window in seconds; the
-- memberships and manager links that name the entries p_link_ids go too
-- (Active Directory, see 005; NULL: none).  Returns whether the guard holds
-- them back (tripped: also when an earlier guard is still pending), how
-- many users it holds back in all (held) out of how many (total), and
-- the rows deleted.
CREATE FUNCTION dir_store_persist_delete(p_source text, p_ids text[],
    p_ratio float8, p_window_s float8, p_link_ids text[],
    OUT tripped boolean, OUT held bigint, OUT total bigint,
    OUT deleted bigint)
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	st record;
	recent bigint;
	doomed bigint;
	users bigint;
	groups bigint;
	links bigint := 0;
BEGIN
	-- dir_store_begin() has locked the row.
	SELECT persist_deleted, persist_deleted_since, refresh_gen,
	    delete_guard_count, delete_guard_mode, delete_guard_gen
	INTO st FROM dir_sync_state WHERE source = p_source;
	recent := CASE WHEN st.persist_deleted_since
	    > now() - make_interval(secs => greatest(p_window_s, 0))
	    THEN st.persist_deleted ELSE 0 END;
	SELECT count(*) FILTER (WHERE id = ANY (p_ids) AND sync_gen <> -1),
	    count(*)
	INTO doomed, total
	FROM dir_user;
	deleted := 0;
	held := 0;
	-- The users there were when the window started: those still here and
	-- those it deleted.  "More than" the ratio, as at a refresh end.
	tripped := st.delete_guard_count IS NOT NULL OR (doomed > 0 AND
	    recent + doomed > greatest(p_ratio, 0) * (total + recent));
	IF tripped THEN
		UPDATE dir_user SET sync_gen = -1
		WHERE id = ANY (p_ids) AND sync_gen <> -1;
		UPDATE dir_group SET sync_gen = -1
		WHERE id = ANY (p_ids) AND sync_gen <> -1;
		INSERT INTO dir_guard_unlink (source, id)
		SELECT p_source, x.id FROM unnest(p_link_ids) AS x(id)
		ON CONFLICT DO NOTHING;
		IF st.delete_guard_count IS NULL THEN
			st.delete_guard_mode := 'delete';
			st.delete_guard_gen := st.refresh_gen;
		END IF;
		-- Counted by the rule the confirmation will delete by, so a user
		-- both missing from a refresh and deleted since counts once.
		SELECT count(*) INTO held FROM dir_user
		WHERE CASE WHEN st.delete_guard_mode = 'present'
		    THEN sync_gen < st.delete_guard_gen ELSE sync_gen = -1 END;
		UPDATE dir_sync_state
		SET delete_guard_count = least(held, 2147483647)::int,
		    delete_guard_since = coalesce(delete_guard_since, now()),
		    delete_guard_mode = st.delete_guard_mode,
		    delete_guard_gen = st.delete_guard_gen
		WHERE source = p_source;
		PERFORM dir_store_tally(0);
		RETURN;
	END IF;
	IF p_link_ids IS NOT NULL THEN
		links := dir_store_unlink_deleted(p_link_ids);
	END IF;
	DELETE FROM dir_user WHERE id = ANY (p_ids);
	GET DIAGNOSTICS users = ROW_COUNT;
	DELETE FROM dir_group WHERE id = ANY (p_ids);
	GET DIAGNOSTICS groups = ROW_COUNT;
	deleted := users + groups;
	IF users > 0 THEN
		UPDATE dir_sync_state
		SET persist_deleted = recent + users,
		    persist_deleted_since = CASE WHEN recent > 0
		        THEN persist_deleted_since ELSE now() END
		WHERE source = p_source;
	END IF;
	PERFORM dir_store_tally(deleted + links);
END $$;

-- Entries held back whose links go with them when they are deleted
-- (p_link_ids of dir_store_persist_delete, Active Directory): AD removes
-- a deleted user from its groups without changing the groups, so the
-- confirmation must remove those memberships itself.  Rows of entries
-- written again since, or deleted by a refresh end, are skipped and
-- cleared by the next confirmation.
CREATE TABLE dir_guard_unlink (
	source text NOT NULL REFERENCES dir_sync_state (source)
	    ON DELETE CASCADE,
	id     text NOT NULL,
	PRIMARY KEY (source, id)
);

-- `dirsyncctl sync --confirm-deletes`: deletes what the pending guard
-- held back, by the mode and generation it recorded, with the links of
-- dir_guard_unlink's entries, and clears the guard.  A confirmation also
-- starts a new window: the operator has seen what went before.  held is
-- false when there was no guard.
CREATE OR REPLACE FUNCTION dir_store_confirm_deletes(p_source text,
    OUT held boolean, OUT deleted bigint)
LANGUAGE plpgsql AS $$
DECLARE
	st record;
	ids text[];
BEGIN
	SELECT delete_guard_mode AS mode, delete_guard_gen AS gen INTO st
	FROM dir_sync_state
	WHERE source = p_source AND delete_guard_count IS NOT NULL;
	held := FOUND;
	deleted := 0;
	IF held THEN
		SELECT coalesce(array_agg(l.id), '{}') INTO ids
		FROM dir_guard_unlink l
		WHERE l.source = p_source
		  AND (EXISTS (SELECT FROM dir_user u
		               WHERE u.id = l.id AND u.sync_gen = -1)
		    OR EXISTS (SELECT FROM dir_group g
		               WHERE g.id = l.id AND g.sync_gen = -1));
		IF cardinality(ids) > 0 THEN
			deleted := dir_store_unlink_deleted(ids);
		END IF;
		deleted := deleted + dir_store_purge(st.mode, st.gen);
		DELETE FROM dir_guard_unlink WHERE source = p_source;
		UPDATE dir_sync_state
		SET delete_guard_count = NULL, delete_guard_since = NULL,
		    delete_guard_mode = NULL, delete_guard_gen = NULL,
		    persist_deleted = 0, persist_deleted_since = NULL
		WHERE source = p_source;
	END IF;
	PERFORM dir_store_tally(deleted);
END $$;
