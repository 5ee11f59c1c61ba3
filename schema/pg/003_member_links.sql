-- 003_member_links.sql - a group keeps listing a member whose entry was
-- deleted or left the mirrored scope.
--
-- 001 deleted such membership rows with the user (ON DELETE CASCADE).
-- But a directory without referential integrity (OpenLDAP without the
-- refint overlay, 389-ds with the plug-in off) still lists the DN in the
-- group, and when the entry comes back - re-added, or back inside the
-- filter - the group itself does not change, so nothing would restore the
-- row: the mirror would no longer equal the directory.  The row now stays,
-- by DN, with its link cleared; the store relinks it when an entry with
-- that DN arrives (it resolves links for every new or renamed entry).
--
-- Active Directory is the other way round: deleting a user removes it
-- from every group without reporting a change to the groups.  The AD
-- change sources therefore delete the memberships of a deleted user
-- themselves; the schema no longer guesses for them.
ALTER TABLE dir_group_member
	DROP CONSTRAINT dir_group_member_member_user_id_fkey,
	ADD CONSTRAINT dir_group_member_member_user_id_fkey
	    FOREIGN KEY (member_user_id) REFERENCES dir_user (id)
	    ON DELETE SET NULL,
	DROP CONSTRAINT dir_group_member_member_group_id_fkey,
	ADD CONSTRAINT dir_group_member_member_group_id_fkey
	    FOREIGN KEY (member_group_id) REFERENCES dir_group (id)
	    ON DELETE SET NULL;
