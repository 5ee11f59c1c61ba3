-- 005_member_changes.sql - member lists by difference, and memberships
-- that go with a deleted entry (the Active Directory change sources).
--
-- AD DirSync with incremental values reports a change to a group's
-- member list as the values added and removed, not the whole list (a
-- group of 10,000 members would otherwise be resent for one change), and
-- a group whose other attributes changed may come without its members
-- (the stored list stays): store.c then leaves the group out of
-- dir_store_set_members and applies dir_store_member_changes.
--
-- Deleting a user in AD removes it from every group without reporting a
-- change to the groups (003_member_links.sql): for those sources the
-- store deletes the memberships of a deleted entry itself, with
-- dir_store_delete_memberships, before the entry (outside a refresh; a
-- refresh resends every group's whole list anyway).

-- Values added (p_add) and removed, in the order the directory reported
-- them: for each (group, member DN) the last one counts.  An added value
-- that is already listed, or a removed one that is not, changes nothing;
-- a change to a group that is not mirrored is ignored.  Returns the rows
-- changed.  By key, as every batch function (002_mirror.sql, "Plans").
CREATE FUNCTION dir_store_member_changes(p_group_id text[],
    p_member_dn text[], p_member_dn_norm text[], p_add boolean[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off
SET enable_mergejoin = off AS $$
DECLARE
	removed bigint;
	added bigint;
BEGIN
	-- One statement: the deletion and the insertion touch different
	-- (group, DN) pairs, one change per pair being left.
	WITH c AS (
		SELECT DISTINCT ON (c.gid, c.dn_norm) c.gid, c.dn, c.dn_norm,
		    c.is_add
		FROM unnest(p_group_id, p_member_dn, p_member_dn_norm, p_add)
		    WITH ORDINALITY AS c(gid, dn, dn_norm, is_add, ord)
		ORDER BY c.gid, c.dn_norm, c.ord DESC
	), d AS (
		DELETE FROM dir_group_member m
		USING c
		WHERE NOT c.is_add AND m.group_id = c.gid
		  AND m.member_dn_norm = c.dn_norm
		RETURNING 1
	), i AS (
		INSERT INTO dir_group_member (group_id, member_dn_norm, member_dn,
		    member_user_id, member_group_id)
		SELECT x.gid, x.dn_norm, x.dn, x.user_id,
		    CASE WHEN x.user_id IS NULL THEN
		        (SELECT g.id FROM dir_group g WHERE g.dn_norm = x.dn_norm
		         LIMIT 1) END
		FROM (SELECT c.*, (SELECT u.id FROM dir_user u
		          WHERE u.dn_norm = c.dn_norm LIMIT 1) AS user_id
		      FROM c
		      WHERE c.is_add
		        AND EXISTS (SELECT FROM dir_group g WHERE g.id = c.gid)) x
		ON CONFLICT (group_id, member_dn_norm) DO NOTHING
		RETURNING 1
	)
	SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM i)
	INTO removed, added;
	RETURN dir_store_tally(removed + added);
END $$;

-- The memberships that name the entries p_ids (users or groups, linked).
-- Returns the rows deleted.
CREATE FUNCTION dir_store_delete_memberships(p_ids text[])
RETURNS bigint
LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
DECLARE
	n bigint;
BEGIN
	DELETE FROM dir_group_member
	WHERE member_user_id = ANY (p_ids) OR member_group_id = ANY (p_ids);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN dir_store_tally(n);
END $$;
