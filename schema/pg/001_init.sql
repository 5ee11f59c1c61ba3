-- 001_init.sql - the first dirsync schema: the directory mirror, local
-- users, zones, teams, approval policies, requests and decisions, the
-- write-back intent log, the notification outbox and the audit trail.
--
-- dirsyncd applies this file in one transaction together with its
-- schema_version row (src/dirsyncd/migrate.c), so it must not contain
-- BEGIN/COMMIT or anything that cannot run in a transaction block
-- (CREATE INDEX CONCURRENTLY, CREATE DATABASE, ALTER TYPE ... ADD VALUE).
--
-- Conventions, and why:
-- * Enumerations are text with a CHECK, not CREATE TYPE ... AS ENUM: a
--   later migration changes the list by swapping a constraint, inside its
--   transaction, and the value can be used at once.
-- * Mirrored directory rows are keyed by the server's unique id
--   (entryUUID, AD objectGUID) as text: DNs change on rename, and AD and
--   OpenLDAP disagree on DN case.  They keep the DN as sent (for LDAP
--   operations) and dn_norm, lower-cased without spaces around separators,
--   for joins - the mirror normalises, SQL never has to.
-- * Everything that lives only here has a bigint identity key.
-- * Every time is timestamptz; the daemon and the clients may run in
--   different time zones.
-- * Every person taking part in the workflow (member, approver,
--   requester) is one row of person, whether the directory or this
--   database holds the account: one foreign key target for "who", so
--   "nobody decides twice" and "one mail per approver per batch" are
--   plain unique constraints.

-- ---- zones ------------------------------------------------------------

-- An administrative slice (the product documents' "work group").  Zone
-- admins see and decide only the requests of teams in their zone; the
-- built-in zone 'all' has no restriction.  The name is the key: it is
-- what people type and what logs show.
CREATE TABLE zone (
	name        text PRIMARY KEY
	            CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
	description text NOT NULL DEFAULT '',
	created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO zone (name, description)
VALUES ('all', 'built-in: every team and user, no restriction');

-- ---- the directory mirror (written only by dirsyncd) -----------------

-- Where each change source stands.  The cookie is updated in the same
-- transaction as the changes it covers, so a crash at any point resumes
-- without loss or double application.
CREATE TABLE dir_sync_state (
	source         text PRIMARY KEY,      -- the configured source name
	-- A cookie is meaningless on another server (or after a restore):
	-- the URI plus naming context, AD invocationId or similar.  When it
	-- differs from the server now answering, the cookie is discarded and
	-- a full refresh runs.
	server_id      text NOT NULL,
	base_dn        text NOT NULL,
	method         text NOT NULL
	               CHECK (method IN ('syncrepl', 'dirsync', 'usn', 'timestamp')),
	cookie         bytea,                 -- syncrepl/DirSync: opaque, binary
	high_water     text,                  -- usn / timestamp polling: last seen
	last_full_sync_at timestamptz,
	-- max_delete_ratio guard: a sync that would delete this many users
	-- waits for `dirsyncctl sync --confirm-deletes`; kept here so a
	-- restart does not forget it.
	delete_guard_count int CHECK (delete_guard_count > 0),
	delete_guard_since timestamptz,
	updated_at     timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT dir_sync_state_guard
	    CHECK ((delete_guard_count IS NULL) = (delete_guard_since IS NULL))
);

-- Person entries.  Never edited locally except by approved changes
-- (which go through ldap_change and come back through the mirror).
CREATE TABLE dir_user (
	id              text PRIMARY KEY,     -- entryUUID / objectGUID
	dn              text NOT NULL,        -- as the server sent it
	dn_norm         text NOT NULL,
	uid             text,                 -- login: uid / sAMAccountName
	full_name       text NOT NULL DEFAULT '',
	email           text,
	-- Stored twice: as sent, and resolved to the manager's row after
	-- every batch, so the order in which entries arrive does not matter.
	-- A dangling or self reference is stored as sent; the approval
	-- chain walker ends the chain there.
	manager_dn      text,
	manager_dn_norm text,
	manager_id      text REFERENCES dir_user (id) ON DELETE SET NULL,
	zone            text NOT NULL DEFAULT 'all'
	                REFERENCES zone (name) ON UPDATE CASCADE,
	disabled        boolean NOT NULL DEFAULT false,
	attrs           jsonb NOT NULL DEFAULT '{}'
	                CHECK (jsonb_typeof(attrs) = 'object'),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	-- Deferred: within one sync transaction a rename can briefly give
	-- two rows the same DN (A renamed to X before the delete of the old
	-- X arrives).  Only the end state must be unique.
	CONSTRAINT dir_user_dn_norm_key UNIQUE (dn_norm)
	    DEFERRABLE INITIALLY DEFERRED
);
-- Validation looks names up case-insensitively, exactly and by prefix;
-- text_pattern_ops serves both = and LIKE 'x%'.
CREATE INDEX dir_user_full_name_idx
    ON dir_user (lower(full_name) text_pattern_ops);
CREATE INDEX dir_user_email_idx ON dir_user (lower(email));
CREATE INDEX dir_user_uid_idx ON dir_user (lower(uid));
CREATE INDEX dir_user_manager_id_idx ON dir_user (manager_id);
CREATE INDEX dir_user_manager_dn_idx ON dir_user (manager_dn_norm)
    WHERE manager_dn_norm IS NOT NULL;

CREATE TABLE dir_group (
	id          text PRIMARY KEY,         -- entryUUID / objectGUID
	dn          text NOT NULL,
	dn_norm     text NOT NULL,
	name        text NOT NULL DEFAULT '', -- cn
	description text,
	attrs       jsonb NOT NULL DEFAULT '{}'
	            CHECK (jsonb_typeof(attrs) = 'object'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT dir_group_dn_norm_key UNIQUE (dn_norm)
	    DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX dir_group_name_idx ON dir_group (lower(name));

-- Direct members, as the group lists them: by DN, because that is what
-- the member attribute holds, and it may name an entry not mirrored (yet
-- or ever).  The ids are resolved after each batch.  Deleting a user or
-- group deletes its memberships: AD removes a deleted user from its
-- groups without reporting a change to the groups.
CREATE TABLE dir_group_member (
	group_id        text NOT NULL REFERENCES dir_group (id) ON DELETE CASCADE,
	member_dn_norm  text NOT NULL,
	member_dn       text NOT NULL,        -- as sent, for write-back
	member_user_id  text REFERENCES dir_user (id) ON DELETE CASCADE,
	member_group_id text REFERENCES dir_group (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, member_dn_norm),
	CONSTRAINT dir_group_member_one_kind
	    CHECK (member_user_id IS NULL OR member_group_id IS NULL)
);
CREATE INDEX dir_group_member_user_idx ON dir_group_member (member_user_id)
    WHERE member_user_id IS NOT NULL;
CREATE INDEX dir_group_member_group_idx ON dir_group_member (member_group_id)
    WHERE member_group_id IS NOT NULL;
CREATE INDEX dir_group_member_dn_idx ON dir_group_member (member_dn_norm);

-- Users of each group through nested groups.  UNION (not UNION ALL)
-- makes the recursion stop on membership cycles, which directories allow.
-- A view, so it is never stale; materialise it in a later migration if
-- large directories need that.
CREATE VIEW dir_group_member_flat (group_id, user_id) AS
WITH RECURSIVE nest (group_id, sub_group_id) AS (
	SELECT g.id, g.id FROM dir_group g
	UNION
	SELECT n.group_id, m.member_group_id
	FROM nest n
	JOIN dir_group_member m ON m.group_id = n.sub_group_id
	WHERE m.member_group_id IS NOT NULL
)
SELECT DISTINCT n.group_id, m.member_user_id
FROM nest n
JOIN dir_group_member m ON m.group_id = n.sub_group_id
WHERE m.member_user_id IS NOT NULL;

-- ---- people who live only here -----------------------------------------

-- A third party's organisation (partner, contractor).
CREATE TABLE partner_org (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name         text NOT NULL UNIQUE CHECK (name <> ''),
	email_domain text,
	created_at   timestamptz NOT NULL DEFAULT now()
);

-- Third-party users (always with an expiry, enforced by the expiry job
-- through ldap_change) and non-LDAP regular users.
CREATE TABLE local_user (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind           text NOT NULL CHECK (kind IN ('third_party', 'regular')),
	full_name      text NOT NULL CHECK (full_name <> ''),
	email          text,
	login          text UNIQUE,
	zone           text NOT NULL DEFAULT 'all'
	               REFERENCES zone (name) ON UPDATE CASCADE,
	partner_org_id bigint REFERENCES partner_org (id),
	expires_at     timestamptz,
	disabled_at    timestamptz,
	created_at     timestamptz NOT NULL DEFAULT now(),
	updated_at     timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT local_user_third_party_expires
	    CHECK (kind = 'regular' OR expires_at IS NOT NULL),
	CONSTRAINT local_user_regular_fields
	    CHECK (kind = 'third_party' OR
	        (expires_at IS NULL AND partner_org_id IS NULL))
);
CREATE INDEX local_user_full_name_idx
    ON local_user (lower(full_name) text_pattern_ops);
CREATE INDEX local_user_email_idx ON local_user (lower(email));
CREATE INDEX local_user_expiry_idx ON local_user (expires_at)
    WHERE kind = 'third_party' AND disabled_at IS NULL;
CREATE INDEX local_user_partner_idx ON local_user (partner_org_id)
    WHERE partner_org_id IS NOT NULL;

-- Everyone who takes part in the workflow, whichever side holds the
-- account.  Created when someone first takes part (not by the mirror,
-- which must not pay a second write per entry).  When a directory user
-- is deleted the link becomes NULL and the row stays, so history keeps
-- pointing at someone; label keeps the name readable then.
CREATE TABLE person (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	dir_user_id   text UNIQUE REFERENCES dir_user (id) ON DELETE SET NULL,
	local_user_id bigint UNIQUE REFERENCES local_user (id),
	label         text NOT NULL,          -- name when last seen
	created_at    timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT person_one_account
	    CHECK (num_nonnulls(dir_user_id, local_user_id) <= 1)
);

-- Who may administer everything (sysadmin) and who skips approval
-- (bypass; every use is written to the audit).
CREATE TABLE global_role (
	person_id  bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
	role       text NOT NULL CHECK (role IN ('sysadmin', 'bypass')),
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (person_id, role)
);

CREATE TABLE zone_admin (
	zone       text NOT NULL REFERENCES zone (name)
	           ON UPDATE CASCADE ON DELETE CASCADE,
	person_id  bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (zone, person_id)
);
CREATE INDEX zone_admin_person_idx ON zone_admin (person_id);

-- The people a partner organisation has named to speak for it.
CREATE TABLE partner_org_admin (
	partner_org_id bigint NOT NULL REFERENCES partner_org (id) ON DELETE CASCADE,
	person_id      bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
	PRIMARY KEY (partner_org_id, person_id)
);

-- ---- teams ---------------------------------------------------------------

-- The configurable list of member roles.  rank orders them for display
-- and for "at least this role" checks (1 = most privileged).
CREATE TABLE team_role (
	name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
	rank        int NOT NULL UNIQUE CHECK (rank > 0),
	description text NOT NULL DEFAULT ''
);
INSERT INTO team_role (name, rank, description) VALUES
	('admin', 1, 'manages the team'),
	('owner', 2, 'owns the team''s work'),
	('worker', 3, 'contributes'),
	('viewer', 4, 'reads only');

-- What access is requested to.  Each role and each distribution group
-- is a directory group whose DN comes from a template (%t = team name,
-- %r = role, %g = distribution group); NULL = the configured default.
-- The name goes into DNs (escaped per RFC 4514 all the same), so it is
-- kept to a plain character set.
CREATE TABLE team (
	id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name              text NOT NULL UNIQUE
	                  CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
	zone              text NOT NULL DEFAULT 'all'
	                  REFERENCES zone (name) ON UPDATE CASCADE,
	description       text NOT NULL DEFAULT '',
	role_dn_template  text CHECK (role_dn_template LIKE '%\%r%'),
	group_dn_template text CHECK (group_dn_template LIKE '%\%g%'),
	-- Decides partner access requests for this team.
	primary_owner_id  bigint REFERENCES person (id),
	created_at        timestamptz NOT NULL DEFAULT now(),
	archived_at       timestamptz
);
CREATE INDEX team_zone_idx ON team (zone);

-- Distribution groups of a team.  dn NULL = from the team's template.
-- (id, team_id) is unique so member rows can prove, by foreign key, that
-- the group belongs to the member's team.
CREATE TABLE team_group (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	team_id bigint NOT NULL REFERENCES team (id) ON DELETE CASCADE,
	name    text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
	dn      text,
	UNIQUE (team_id, name),
	UNIQUE (id, team_id)
);

-- The desired membership, which dirsync writes back to the directory.
-- The primary key is the rule "exactly one role per member".
CREATE TABLE team_member (
	team_id    bigint NOT NULL REFERENCES team (id) ON DELETE CASCADE,
	person_id  bigint NOT NULL REFERENCES person (id),
	role       text NOT NULL REFERENCES team_role (name) ON UPDATE CASCADE,
	expires_at timestamptz,                -- third parties
	request_id bigint,                     -- granted by (FK added below)
	since      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (team_id, person_id)
);
CREATE INDEX team_member_person_idx ON team_member (person_id);
CREATE INDEX team_member_expiry_idx ON team_member (expires_at)
    WHERE expires_at IS NOT NULL;

-- Any number of distribution groups per member, only of the member's
-- own team, and only while a member (both by foreign key).
CREATE TABLE team_member_group (
	team_id   bigint NOT NULL,
	person_id bigint NOT NULL,
	group_id  bigint NOT NULL,
	since     timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (group_id, person_id),
	FOREIGN KEY (team_id, person_id)
	    REFERENCES team_member (team_id, person_id) ON DELETE CASCADE,
	FOREIGN KEY (group_id, team_id)
	    REFERENCES team_group (id, team_id) ON DELETE CASCADE
);
CREATE INDEX team_member_group_member_idx
    ON team_member_group (team_id, person_id);

-- The team's approvers; the default ones are pre-selected as the chosen
-- approvers of a new batch.
CREATE TABLE team_approver (
	team_id    bigint NOT NULL REFERENCES team (id) ON DELETE CASCADE,
	person_id  bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
	is_default boolean NOT NULL DEFAULT false,
	PRIMARY KEY (team_id, person_id)
);
CREATE INDEX team_approver_person_idx ON team_approver (person_id);

-- Named sets of approvers for "quorum K of <group>" stages.
CREATE TABLE approver_group (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text NOT NULL UNIQUE CHECK (name <> ''),
	zone        text NOT NULL DEFAULT 'all'
	            REFERENCES zone (name) ON UPDATE CASCADE,
	description text NOT NULL DEFAULT ''
);

CREATE TABLE approver_group_member (
	group_id  bigint NOT NULL REFERENCES approver_group (id) ON DELETE CASCADE,
	person_id bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, person_id)
);
CREATE INDEX approver_group_member_person_idx
    ON approver_group_member (person_id);

-- ---- approval policies ---------------------------------------------------

-- One policy per request type and team; team_id NULL is the global
-- default used by teams without their own.
CREATE TABLE policy (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	team_id      bigint REFERENCES team (id) ON DELETE CASCADE,
	request_type text NOT NULL
	             CHECK (request_type IN ('add_user', 'change_group', 'misc')),
	updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Two partial indexes because NULLs are distinct in a plain unique one.
CREATE UNIQUE INDEX policy_team_type_key ON policy (team_id, request_type)
    WHERE team_id IS NOT NULL;
CREATE UNIQUE INDEX policy_default_type_key ON policy (request_type)
    WHERE team_id IS NULL;

-- Stages run in position order; a request is approved when every stage
-- approves.  Columns apply by kind (checked below):
--   manager:    depth levels up the manager chain, one level at a time;
--               fallback when the chain has nobody eligible.
--   group:      quorum K of approver_group, all notified at once.
--   designated: quorum K of the approvers chosen at submission.
-- on_expire 'escalate' (to the next manager) only makes sense for a
-- manager stage.
CREATE TABLE policy_stage (
	policy_id         bigint NOT NULL REFERENCES policy (id) ON DELETE CASCADE,
	position          int NOT NULL CHECK (position > 0),
	kind              text NOT NULL
	                  CHECK (kind IN ('manager', 'group', 'designated')),
	depth             int CHECK (depth BETWEEN 1 AND 20),
	fallback          text CHECK (fallback IN ('team', 'reject')),
	quorum            int CHECK (quorum > 0),
	approver_group_id bigint REFERENCES approver_group (id),
	expire_after      interval NOT NULL DEFAULT '7 days'
	                  CHECK (expire_after > interval '0'),
	on_expire         text NOT NULL DEFAULT 'reject'
	                  CHECK (on_expire IN ('reject', 'escalate')),
	PRIMARY KEY (policy_id, position),
	CONSTRAINT policy_stage_kind_fields CHECK (CASE kind
	    WHEN 'manager' THEN depth IS NOT NULL AND fallback IS NOT NULL
	        AND quorum IS NULL AND approver_group_id IS NULL
	    WHEN 'group' THEN quorum IS NOT NULL AND approver_group_id IS NOT NULL
	        AND depth IS NULL AND fallback IS NULL
	    ELSE quorum IS NOT NULL AND approver_group_id IS NULL
	        AND depth IS NULL AND fallback IS NULL
	    END),
	CONSTRAINT policy_stage_escalate_manager
	    CHECK (on_expire = 'reject' OR kind = 'manager')
);
CREATE INDEX policy_stage_group_idx ON policy_stage (approver_group_id)
    WHERE approver_group_id IS NOT NULL;

-- Out of the box every request needs one of the chosen approvers.
WITH p AS (
	INSERT INTO policy (request_type)
	VALUES ('add_user'), ('change_group'), ('misc')
	RETURNING id
)
INSERT INTO policy_stage (policy_id, position, kind, quorum)
SELECT id, 1, 'designated', 1 FROM p;

-- ---- requests --------------------------------------------------------------

-- What one requester submitted together (a CLI run, an import, a portal
-- session): approvers get one notification per batch, not per request.
CREATE TABLE batch (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	requester_id bigint NOT NULL REFERENCES person (id),
	origin       text NOT NULL DEFAULT '',  -- 'dirsyncctl', 'import x.csv'...
	comment      text,
	submitted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batch_requester_idx ON batch (requester_id);

-- The approvers chosen at submission (designated stages; the team's
-- default approvers are pre-selected).  Only chosen approvers are
-- notified.
CREATE TABLE batch_approver (
	batch_id  bigint NOT NULL REFERENCES batch (id) ON DELETE CASCADE,
	person_id bigint NOT NULL REFERENCES person (id),
	PRIMARY KEY (batch_id, person_id)
);
CREATE INDEX batch_approver_person_idx ON batch_approver (person_id);

-- state:
--   validating        add_user: being checked against the directory
--   needs_resolution  validation found no single match; the requester
--                     must pick a candidate, search again or create one
--   pending           in approval (request_stage says where)
--   approved          every stage approved; ldap_change rows written in
--                     the same transaction
--   applied           every ldap_change done
--   failed            an ldap_change failed permanently (reason says why)
--   rejected, expired, cancelled (withdrawn by the requester)
-- payload by type:
--   add_user      {"full_name", "user_type", "email", "role", "groups"}
--   change_group  {"add": {"role", "groups"}, "remove": [...],
--                  "remove_all": bool}
--   misc          {"text"}
CREATE TABLE request (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id         bigint NOT NULL REFERENCES batch (id),
	type             text NOT NULL
	                 CHECK (type IN ('add_user', 'change_group', 'misc')),
	state            text NOT NULL DEFAULT 'validating'
	                 CHECK (state IN ('validating', 'needs_resolution',
	                     'pending', 'approved', 'applied', 'failed',
	                     'rejected', 'expired', 'cancelled')),
	team_id          bigint REFERENCES team (id),
	-- Who the request is about; NULL while an add_user request is not
	-- resolved to one user.
	subject_id       bigint REFERENCES person (id),
	requester_id     bigint NOT NULL REFERENCES person (id),
	payload          jsonb NOT NULL DEFAULT '{}'
	                 CHECK (jsonb_typeof(payload) = 'object'),
	validation       text CHECK (validation IN ('valid', 'type_mismatch',
	                     'duplicate_names', 'new_user_matches', 'not_found',
	                     'already_member')),
	validation_detail jsonb,               -- the candidates listed
	access_expires_at timestamptz,         -- third parties: when access ends
	-- An edited rejected request is a new row pointing at the old one,
	-- so the history of each attempt stays as it was.
	resubmitted_from bigint REFERENCES request (id),
	bypassed         boolean NOT NULL DEFAULT false,
	reason           text,                 -- rejection/expiry/failure text
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	closed_at        timestamptz,
	CONSTRAINT request_team_needed CHECK (team_id IS NOT NULL OR type = 'misc'),
	CONSTRAINT request_closed_at CHECK ((state IN ('applied', 'failed',
	    'rejected', 'expired', 'cancelled')) = (closed_at IS NOT NULL)),
	CONSTRAINT request_subject_needed CHECK (state IN ('validating', 'needs_resolution', 'cancelled',
	    'rejected', 'expired') OR subject_id IS NOT NULL OR type = 'misc')
);
-- The daemon's work queue is the open requests; closed ones pile up.
CREATE INDEX request_open_idx ON request (state, updated_at)
    WHERE closed_at IS NULL;
CREATE INDEX request_team_idx ON request (team_id, state);
CREATE INDEX request_batch_idx ON request (batch_id);
CREATE INDEX request_subject_idx ON request (subject_id);
CREATE INDEX request_requester_idx ON request (requester_id);
CREATE INDEX request_resubmitted_idx ON request (resubmitted_from)
    WHERE resubmitted_from IS NOT NULL;

ALTER TABLE team_member ADD FOREIGN KEY (request_id)
    REFERENCES request (id) ON DELETE SET NULL;

-- Partner access: a partner admin asks for a team; the team's primary
-- owner accepts or denies; once approved, that admin may approve further
-- people of the same organisation for the team without the customer.
CREATE TABLE partner_access (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	partner_org_id bigint NOT NULL REFERENCES partner_org (id),
	team_id        bigint NOT NULL REFERENCES team (id) ON DELETE CASCADE,
	partner_admin_id bigint NOT NULL REFERENCES person (id),
	request_id     bigint REFERENCES request (id),  -- the first person's
	state          text NOT NULL DEFAULT 'requested'
	               CHECK (state IN ('requested', 'approved', 'denied',
	                   'revoked')),
	decided_by     bigint REFERENCES person (id),
	decided_at     timestamptz,
	created_at     timestamptz NOT NULL DEFAULT now(),
	UNIQUE (partner_org_id, team_id, partner_admin_id),
	CONSTRAINT partner_access_decided_at
	    CHECK ((state = 'requested') = (decided_at IS NULL))
);
CREATE INDEX partner_access_team_idx ON partner_access (team_id);

-- The policy's stages, copied at submission: a running request keeps
-- the rules it started with when the policy is edited.  The per-kind
-- checks were made on policy_stage.
CREATE TABLE request_stage (
	request_id        bigint NOT NULL REFERENCES request (id) ON DELETE CASCADE,
	position          int NOT NULL CHECK (position > 0),
	kind              text NOT NULL
	                  CHECK (kind IN ('manager', 'group', 'designated')),
	depth             int,
	fallback          text,
	quorum            int,
	approver_group_id bigint REFERENCES approver_group (id),
	expire_after      interval NOT NULL,
	on_expire         text NOT NULL,
	state             text NOT NULL DEFAULT 'waiting'
	                  CHECK (state IN ('waiting', 'active', 'approved',
	                      'rejected', 'expired', 'skipped')),
	started_at        timestamptz,
	decided_at        timestamptz,
	PRIMARY KEY (request_id, position)
);

-- Who was asked, when: one step per group/designated stage, one per
-- level of a manager stage (level 2 starts once level 1 approved).
-- fallback marks a step handed to the team's approvers because the
-- manager chain had nobody eligible.
CREATE TABLE approval_step (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_id     bigint NOT NULL,
	stage_position int NOT NULL,
	level          int NOT NULL DEFAULT 1 CHECK (level > 0),
	fallback       boolean NOT NULL DEFAULT false,
	state          text NOT NULL DEFAULT 'active'
	               CHECK (state IN ('active', 'approved', 'rejected',
	                   'expired', 'escalated')),
	started_at     timestamptz NOT NULL DEFAULT now(),
	expires_at     timestamptz NOT NULL,
	decided_at     timestamptz,
	FOREIGN KEY (request_id, stage_position)
	    REFERENCES request_stage (request_id, position) ON DELETE CASCADE,
	UNIQUE (request_id, stage_position, level)
);
CREATE INDEX approval_step_expiry_idx ON approval_step (expires_at)
    WHERE state = 'active';

CREATE TABLE approval_step_approver (
	step_id     bigint NOT NULL REFERENCES approval_step (id) ON DELETE CASCADE,
	person_id   bigint NOT NULL REFERENCES person (id),
	notified_at timestamptz,
	PRIMARY KEY (step_id, person_id)
);
-- An approver's inbox.
CREATE INDEX approval_step_approver_person_idx
    ON approval_step_approver (person_id);

-- The unique key is the rule "nobody decides twice".  step_id is the
-- step the decision counted for; NULL when a sysadmin or zone admin
-- decided outside the steps.
CREATE TABLE decision (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_id  bigint NOT NULL REFERENCES request (id),
	approver_id bigint NOT NULL REFERENCES person (id),
	step_id     bigint REFERENCES approval_step (id),
	verdict     text NOT NULL CHECK (verdict IN ('approve', 'reject')),
	comment     text,
	decided_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (request_id, approver_id)
);
CREATE INDEX decision_approver_idx ON decision (approver_id);
CREATE INDEX decision_step_idx ON decision (step_id) WHERE step_id IS NOT NULL;

-- "A requester never approves their own request" holds whichever client
-- writes the row, not only those that go through the SQL functions.
CREATE FUNCTION decision_check_requester() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM request r
	           WHERE r.id = NEW.request_id
	             AND r.requester_id = NEW.approver_id) THEN
		RAISE EXCEPTION 'request % : the requester cannot decide it',
		    NEW.request_id USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER decision_check_requester
    BEFORE INSERT OR UPDATE OF request_id, approver_id ON decision
    FOR EACH ROW EXECUTE FUNCTION decision_check_requester();

-- ---- writing back --------------------------------------------------------

-- The intent log: one single-value modify per row, written in the same
-- transaction as the decision that approved it (or by the expiry job).
-- Single values, never a replaced member list, so concurrent edits by
-- other tools survive.  A restart resumes 'pending' and re-checks 'sent'
-- (the server may have applied it before the daemon died).
CREATE TABLE ldap_change (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_id      bigint REFERENCES request (id),
	cause           text NOT NULL DEFAULT 'request'
	                CHECK (cause IN ('request', 'expiry', 'admin')),
	op              text NOT NULL CHECK (op IN ('add', 'delete')),
	dn              text NOT NULL,         -- the entry modified (a group)
	attribute       text NOT NULL,         -- member, uniqueMember, ...
	value           text NOT NULL,         -- one value (a member DN)
	state           text NOT NULL DEFAULT 'pending'
	                CHECK (state IN ('pending', 'sent', 'done', 'failed')),
	attempts        int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	last_error      text,                  -- LDAP result code and text
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	created_at      timestamptz NOT NULL DEFAULT now(),
	updated_at      timestamptz NOT NULL DEFAULT now(),
	done_at         timestamptz,
	CONSTRAINT ldap_change_request_needed
	    CHECK (cause <> 'request' OR request_id IS NOT NULL),
	CONSTRAINT ldap_change_done_at
	    CHECK ((state IN ('done', 'failed')) = (done_at IS NOT NULL))
);
CREATE INDEX ldap_change_todo_idx ON ldap_change (next_attempt_at)
    WHERE state IN ('pending', 'sent');
CREATE INDEX ldap_change_request_idx ON ldap_change (request_id)
    WHERE request_id IS NOT NULL;

-- ---- notifications -------------------------------------------------------

-- The outbox the notify module drains through the sendmail command.
-- At most one unsent notification per recipient and batch: requests of
-- a batch that reach the same approver are folded into one mail, which
-- lists what is waiting when it is sent.  Once sent, a later stage may
-- queue a new one.
CREATE TABLE notification (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	batch_id        bigint NOT NULL REFERENCES batch (id),
	recipient_id    bigint NOT NULL REFERENCES person (id),
	address         text NOT NULL,          -- as it was when queued
	kind            text NOT NULL DEFAULT 'approval_needed'
	                CHECK (kind IN ('approval_needed', 'decided',
	                    'expired', 'failed')),
	status          text NOT NULL DEFAULT 'pending'
	                CHECK (status IN ('pending', 'sent', 'failed')),
	attempts        int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	last_error      text,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	created_at      timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz,
	CONSTRAINT notification_sent_at
	    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE UNIQUE INDEX notification_pending_key
    ON notification (batch_id, recipient_id, kind) WHERE status = 'pending';
CREATE INDEX notification_todo_idx ON notification (next_attempt_at)
    WHERE status = 'pending';

-- ---- audit -----------------------------------------------------------------

-- Append-only record of every decision, bypass, change and admin action.
-- No foreign keys on purpose: nothing deleted elsewhere may take audit
-- rows with it or be blocked by them.  actor is the person's login or
-- 'dirsyncd'.
CREATE TABLE audit (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at         timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor      text NOT NULL,
	actor_id   bigint,                    -- person.id when known
	action     text NOT NULL,             -- 'request.submit', 'bypass', ...
	request_id bigint,
	details    jsonb NOT NULL DEFAULT '{}'
	           CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX audit_at_idx ON audit (at);
CREATE INDEX audit_request_idx ON audit (request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX audit_actor_idx ON audit (actor_id) WHERE actor_id IS NOT NULL;

-- Append-only even for a client that connects as the table owner;
-- revoking UPDATE/DELETE from the application role is the other half.
CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit is append-only (% refused)', TG_OP
	    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_append_only
    BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate
    BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- ---- waking the daemon ---------------------------------------------------

-- dirsyncd LISTENs on 'dirsync' instead of polling.  Per statement, so an
-- import of a thousand requests wakes it once; the payload names the
-- table, the daemon re-reads what it needs and ignores notifications
-- from its own backend (the notification carries the sender's pid).
CREATE FUNCTION dirsync_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('dirsync', TG_TABLE_NAME);
	RETURN NULL;
END $$;
CREATE TRIGGER request_wake AFTER INSERT OR UPDATE ON request
    FOR EACH STATEMENT EXECUTE FUNCTION dirsync_wake();
CREATE TRIGGER decision_wake AFTER INSERT ON decision
    FOR EACH STATEMENT EXECUTE FUNCTION dirsync_wake();
CREATE TRIGGER ldap_change_wake AFTER INSERT ON ldap_change
    FOR EACH STATEMENT EXECUTE FUNCTION dirsync_wake();
CREATE TRIGGER notification_wake AFTER INSERT ON notification
    FOR EACH STATEMENT EXECUTE FUNCTION dirsync_wake();
