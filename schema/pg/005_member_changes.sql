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
-- Deleting a user in AD removes it from every group, and from the
-- manager attribute of its reports, without reporting a change to the
-- groups or the reports (003_member_links.sql): for those sources the
-- store removes these links of a deleted entry itself, with
-- dir_store_delete_links, before the entry (outside a refresh; a refresh
-- resends every entry anyway).

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

-- What an Active Directory deletion takes with it without reporting it:
-- the memberships that name the entries p_ids (users or groups), and the
-- manager attribute of the users they managed (manager and directReports
-- are a linked pair: the forward link goes when its target does).
-- Matched by id and by the entries' DNs, so unlinked rows go too.  Runs
-- before the deletion, while the rows still say their DNs.  Returns the
-- rows changed.
CREATE FUNCTION dir_store_delete_links(p_ids text[])
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
	RETURN dir_store_tally(members + managed);
END $$;
