-- 008_stage_batch.sql - a batch of an initial load staged in one
-- statement.
--
-- Each staged batch was a transaction of four to six statements (BEGIN,
-- dir_store_begin, a staging call per kind of row, COMMIT), sent one
-- after the other, each waiting for the daemon to see the previous
-- answer: while the directory streams in, the daemon is busy reading it,
-- and PostgreSQL waited for the next statement a fifth of the time
-- (bench-sync, perf over the whole machine).  One call does the same
-- work as one statement, which PostgreSQL runs as its own transaction.
-- The batch that ends the refresh sends it after a BEGIN, followed by
-- dir_store_bulk_finish and dir_store_finish in the same transaction: it
-- then opens the store's transaction as dir_store_begin does.

-- p_new_refresh: the refresh's first batch (a new generation, and the
-- staging tables emptied).  p_ord numbers the batch's rows from its users
-- on, as the separate calls did: users, then groups, then deletions.
-- NULL arrays: none of that kind.  Returns the rows staged.
CREATE FUNCTION dir_store_stage_batch(p_source text, p_new_refresh boolean,
    p_ord bigint,
    p_id text[], p_dn text[], p_dn_norm text[], p_uid text[],
    p_login_alt text[], p_full_name text[], p_given_name text[],
    p_surname text[], p_email text[], p_manager_dn text[],
    p_manager_dn_norm text[], p_user_type text[], p_disabled boolean[],
    p_gid text[], p_gdn text[], p_gdn_norm text[], p_name text[],
    p_description text[],
    p_member_group text[], p_member_dn text[], p_member_dn_norm text[],
    p_deleted text[])
RETURNS bigint
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
	ord bigint := p_ord;
	n bigint := 0;
BEGIN
	PERFORM dir_store_begin(p_source, p_new_refresh);
	IF p_new_refresh THEN
		PERFORM dir_store_stage_reset();
	END IF;
	IF cardinality(p_id) > 0 THEN
		n := n + dir_store_stage_users(ord, p_id, p_dn, p_dn_norm, p_uid,
		    p_login_alt, p_full_name, p_given_name, p_surname, p_email,
		    p_manager_dn, p_manager_dn_norm, p_user_type, p_disabled);
		ord := ord + cardinality(p_id);
	END IF;
	IF cardinality(p_gid) > 0 THEN
		n := n + dir_store_stage_groups(ord, p_gid, p_gdn, p_gdn_norm,
		    p_name, p_description, p_member_group, p_member_dn,
		    p_member_dn_norm);
		ord := ord + cardinality(p_gid);
	END IF;
	IF cardinality(p_deleted) > 0 THEN
		PERFORM dir_store_stage_deleted(ord, p_deleted);
	END IF;
	-- Like dir_store_begin, this call opens the store's transaction and is
	-- not one of the statements dir_store_finish counts: the staging
	-- functions above tallied themselves.
	PERFORM set_config('dirsync.store_steps', '0', true);
	RETURN n;
END $$;
