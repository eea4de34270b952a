--
-- The consortium (docs/consortium.md): members publish their health-code
-- ledger, checkpoints, cosignatures and keys over logical replication; a
-- receiving member checks everything as the apply worker writes it, in the
-- replica triggers below, which divert peers' data into the peer_* tables.
--
ALTER TABLE authorities ADD COLUMN connection text;
COMMENT ON COLUMN authorities.connection IS 'the connection details the authority publishes for its peers (no password)';

CREATE FUNCTION log_entries(entries bytea) RETURNS TABLE (entry integer, row_number bigint, leaf_hash hash256)
	AS 'MODULE_PATHNAME', 'hcl_log_entries' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION log_entries(bytea) IS 'the log entries of a checkpoint (checkpoints.leaves): row number and leaf hash of each';
CREATE FUNCTION log_extend(frontier bytea, tree_size bigint, entries bytea,
	OUT tree_size bigint, OUT root hash256, OUT frontier bytea)
	AS 'MODULE_PATHNAME', 'hcl_log_extend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION log_extend(bytea, bigint, bytea) IS 'extend the compact range of a log of tree_size leaves with log entries: the new size, root and compact range';
CREATE FUNCTION peer_leaf_hash(ledger regclass, ledger_uuid bytea, r record) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_peer_leaf_hash' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION peer_leaf_hash(regclass, bytea, record) IS 'the leaf hash of a row in another database''s copy of a ledger (the same columns, that ledger''s uuid)';
CREATE FUNCTION applying_subscription() RETURNS name
	AS 'MODULE_PATHNAME', 'hcl_applying_subscription' LANGUAGE C STABLE;
COMMENT ON FUNCTION applying_subscription() IS 'the subscription a logical replication worker is applying (NULL in any other session)';
CREATE FUNCTION node_sign(message bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_node_sign_sql' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION node_sign(bytea) FROM PUBLIC;

CREATE TABLE members (
	authority		text PRIMARY KEY,	-- an authorities row (no foreign key: pg_restore -j loads them in any order)
	origin			text NOT NULL UNIQUE CHECK (origin ~ '^hcledger/hcledger\.codes/[0-9a-f]{32}$'),
	ledger_uuid		bytea NOT NULL CHECK (length(ledger_uuid) = 16),
	connection		text,
	subscription	name NOT NULL UNIQUE,
	joined_at		timestamptz NOT NULL DEFAULT now(),
	joined_by		name NOT NULL DEFAULT session_user,
	left_at			timestamptz,
	-- the member's log as accepted here
	tree_size		bigint NOT NULL DEFAULT 0,
	last_row		bigint NOT NULL DEFAULT 0,
	root			hash256,
	frontier		bytea NOT NULL DEFAULT '\x',
	checkpoint		text,
	accepted_at		timestamptz,
	missing_rows	bigint NOT NULL DEFAULT 0,
	checkpoint_sm2	boolean NOT NULL DEFAULT false
);
COMMENT ON COLUMN members.missing_rows IS 'leaves of the accepted log whose row has not arrived (withheld, or still on its way): the member''s codes verify as incomplete meanwhile';
COMMENT ON COLUMN members.checkpoint_sm2 IS 'the member''s card says its checkpoints carry an SM2 signature line: one that lacks it, or whose SM2 line does not verify under a key of the member valid at its time, is refused';
COMMENT ON TABLE members IS 'the consortium members whose ledgers this database receives, and how far each is verified';

-- When this node last knew a member's state to be current.  The member's
-- own word first: the time its last checkpoint accepted here was signed
-- (its hcledger-time line; never when it was accepted here, which a
-- decision taken later, decide_again, would make recent).  Then the link:
-- the last message its subscription's apply worker received (a streaming
-- link is polled at least every wal_receiver_timeout / 2, and what the
-- member committed before it has been applied), but only while the
-- newest checkpoint received from the member was signed less than
-- peer_max_age before it arrived: one that arrives late is a backlog
-- being applied (after an outage), when a live link says nothing of how
-- far it has come.  Clocks are assumed to agree within that.
CREATE FUNCTION member_heard_at(authority text) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT greatest(
	         -- its signing time, but never later than we received it (a member's
	         -- clock set ahead, or a time forged forward, would keep it fresh)
	         least(to_timestamp(substring(m.checkpoint FROM E'\nhcledger-time ([0-9]{1,12})\n')::bigint), n.received_at),
	         CASE WHEN n.received_at IS NULL OR n.received_at - n.signed_at <= hcledger.peer_max_age()
	                   OR hcledger.peer_max_age() = interval '0'
	              THEN (SELECT st.last_msg_receipt_time
	                      FROM pg_catalog.pg_subscription s
	                      JOIN pg_catalog.pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL AND st.pid IS NOT NULL
	                     WHERE s.subname = m.subscription AND s.subenabled
	                       AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())) END)
	  FROM hcledger.members m
	  LEFT JOIN LATERAL (SELECT c.received_at,
	                            to_timestamp(substring(c.note FROM E'\nhcledger-time ([0-9]{1,12})\n')::bigint) AS signed_at
	                       FROM hcledger.peer_checkpoints c
	                      WHERE c.authority = m.authority AND c.note ~ E'\nhcledger-time [0-9]{1,12}\n'
	                      ORDER BY c.id DESC LIMIT 1) n ON true
	 WHERE m.authority = member_heard_at.authority
$$;
COMMENT ON FUNCTION member_heard_at(text) IS 'when this node last knew the member''s state to be current: when its last accepted checkpoint was signed, or its link''s last message while it is not applying a backlog';

-- The largest age a member's state may have here (hcledger.peer_max_age;
-- 0: no limit).
CREATE FUNCTION peer_max_age() RETURNS interval
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(current_setting('hcledger.peer_max_age', true), '5min')::interval
$$;

-- Why a member's state is too old to give a bare verdict at time t (NULL if it is not).
CREATE FUNCTION member_state_stale(authority text, t timestamptz) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN max_age > interval '0' AND (heard IS NULL OR t - heard > max_age) THEN
		format('nothing has been heard from "%s" since %s (%s ago), longer than hcledger.peer_max_age (%s): a revocation made there since would not be known here',
		       authority, coalesce(heard::text, 'it joined'), coalesce(date_trunc('second', t - heard)::text, 'ever'), max_age)
	       END
	  FROM (SELECT hcledger.member_heard_at(authority) AS heard, hcledger.peer_max_age() AS max_age) x
$$;

CREATE TABLE member_events (
	event_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	authority		text NOT NULL,
	event			text NOT NULL CHECK (event IN ('published', 'admitted', 'dismissed', 'joined', 'left', 'key added', 'key changed', 'decided again')),
	detail			text,
	at				timestamptz NOT NULL DEFAULT now(),
	by_role			name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE member_events IS 'the record of joining, leaving, admitting and dismissing members, and of their key changes received';

CREATE TABLE peer_codes (LIKE codes);
ALTER TABLE peer_codes ADD COLUMN received_at timestamptz NOT NULL DEFAULT now(), ADD PRIMARY KEY (authority, hcl_row);
CREATE INDEX peer_codes_credential ON peer_codes (credential_id);
COMMENT ON TABLE peer_codes IS 'members'' health-code ledger rows, as received (checked against their leaves in peer_leaves)';

CREATE TABLE peer_leaves (
	authority		text NOT NULL,
	row_number		bigint NOT NULL,
	log_position	bigint NOT NULL,
	leaf_hash		hash256 NOT NULL,
	accepted_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (authority, row_number),
	UNIQUE (authority, log_position)
);
COMMENT ON TABLE peer_leaves IS 'the leaves of members'' logs covered by an accepted checkpoint';

CREATE TABLE peer_checkpoints (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	authority		text NOT NULL,
	tree_size		bigint NOT NULL,
	root			hash256 NOT NULL,
	note			text,
	leaves			bytea,
	subscription	name,
	received_at		timestamptz NOT NULL DEFAULT clock_timestamp(),
	state			text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'accepted', 'duplicate', 'refused')),
	reason			text,
	decided_at		timestamptz,
	frontier		bytea
);
ALTER TABLE peer_checkpoints ALTER COLUMN leaves SET STORAGE EXTERNAL;
CREATE INDEX peer_checkpoints_waiting ON peer_checkpoints (authority, tree_size) WHERE state = 'waiting';
CREATE INDEX peer_checkpoints_size ON peer_checkpoints (authority, tree_size);
COMMENT ON COLUMN peer_checkpoints.frontier IS 'the compact range of the member''s log at this size, once accepted: the root at any later size is computed from it and at most one checkpoint''s entries';
COMMENT ON TABLE peer_checkpoints IS 'every checkpoint received from a member, and what was decided about it';

CREATE TABLE cosignatures (
	witness			text NOT NULL,
	origin			text NOT NULL,
	tree_size		bigint NOT NULL,
	root			hash256 NOT NULL,
	cosigned_at		timestamptz NOT NULL,
	body			text NOT NULL,
	signature		bytea NOT NULL CHECK (length(signature) = 64),
	PRIMARY KEY (witness, origin, tree_size)
);
COMMENT ON TABLE cosignatures IS 'cosignatures (C2SP tlog-cosignature) of checkpoints a member verified: ours, and other members'' as received';
CREATE INDEX cosignatures_origin ON cosignatures (origin, tree_size);

CREATE TABLE peer_roots (
	authority		text NOT NULL,
	tree_size		bigint NOT NULL,
	root			hash256 NOT NULL,
	PRIMARY KEY (authority, tree_size)
);
COMMENT ON TABLE peer_roots IS 'the root of a member''s log as accepted here, at each size another witness cosigned: what split_views compares their cosignatures with';

CREATE TABLE refusals (
	refusal_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	authority		text NOT NULL,
	kind			text NOT NULL CHECK (kind IN ('checkpoint', 'row', 'key', 'cosignature', 'table')),
	subject			text NOT NULL,
	reason			text NOT NULL,
	subscription	name,
	at				timestamptz NOT NULL DEFAULT clock_timestamp(),
	acknowledged_at	timestamptz,
	acknowledged_by	name,
	acknowledgement	text
);
COMMENT ON TABLE refusals IS 'what a member sent that was refused, and why; nothing refused is used';

SELECT pg_catalog.pg_extension_config_dump('members', '');
SELECT pg_catalog.pg_extension_config_dump('member_events', '');
SELECT pg_catalog.pg_extension_config_dump('peer_codes', '');
SELECT pg_catalog.pg_extension_config_dump('peer_leaves', '');
SELECT pg_catalog.pg_extension_config_dump('peer_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('cosignatures', '');
SELECT pg_catalog.pg_extension_config_dump('refusals', '');
SELECT pg_catalog.pg_extension_config_dump('peer_roots', '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.member_events', 'event_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.peer_checkpoints', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.refusals', 'refusal_id')::regclass, '');
REVOKE ALL ON members, member_events, peer_codes, peer_leaves, peer_checkpoints, cosignatures, refusals, peer_roots FROM PUBLIC;
GRANT SELECT ON members, member_events, peer_leaves, peer_checkpoints, cosignatures, refusals, peer_roots TO PUBLIC;
GRANT SELECT ON peer_codes TO hcledger_auditor;

CREATE VIEW refused AS
	SELECT r.refusal_id, r.authority, r.kind, r.subject, r.reason, r.subscription, r.at
	  FROM hcledger.refusals r WHERE r.acknowledged_at IS NULL;
COMMENT ON VIEW refused IS 'refusals no operator has acknowledged yet: empty in a healthy consortium';
GRANT SELECT ON refused TO PUBLIC;

-- A subscriber's slot on a publisher, and the subscription to a member: names from the authority.
CREATE FUNCTION member_slot(authority text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT 'hcledger_' || left(regexp_replace(lower(authority), '[^a-z0-9]+', '_', 'g'), 40) || '_' || left(md5(authority), 8)
$$;
COMMENT ON FUNCTION member_slot(text) IS 'the replication slot a publisher keeps for a member (and the subscription''s name on the member: hcledger_from_...)';

-- Record a refusal (and say so in the server log); the caller then drops what was refused.
CREATE FUNCTION refuse(authority text, kind text, subject text, reason text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO hcledger.refusals (authority, kind, subject, reason, subscription)
	VALUES (authority, kind, subject, reason, hcledger.applying_subscription());
	RAISE WARNING 'hcledger refused % from "%": %', subject, authority, reason;
END $$;
REVOKE EXECUTE ON FUNCTION refuse(text, text, text, text) FROM PUBLIC;

-- The member a replicated change comes from, if the change may come from it: the
-- authority must be a member that has not left, and the change must arrive
-- through that member's own subscription.  NULL after recording a refusal.
CREATE FUNCTION sending_member(authority text, kind text, subject text) RETURNS hcledger.members
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m hcledger.members;
	sub name := hcledger.applying_subscription();
BEGIN
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = sending_member.authority;
	IF NOT FOUND THEN
		PERFORM hcledger.refuse(authority, kind, subject, format('"%s" is not a member', authority));
	ELSIF m.left_at IS NOT NULL THEN
		PERFORM hcledger.refuse(authority, kind, subject, format('"%s" left at %s', authority, m.left_at));
	ELSIF sub IS DISTINCT FROM m.subscription THEN
		PERFORM hcledger.refuse(authority, kind, subject,
			format('it arrived through %s, not through the member''s own subscription %s',
			       coalesce('subscription ' || sub, 'no subscription'), m.subscription));
	ELSE
		RETURN m;
	END IF;
	RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION sending_member(text, text, text) FROM PUBLIC;

-- Refuse a change a member may never send (an update, a delete, a write to
-- a table it does not publish), against the member whose subscription
-- delivered it, whatever row it names.
CREATE FUNCTION refuse_change_from(kind text, subject text, reason text) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
	SELECT hcledger.refuse(coalesce((SELECT m.authority FROM hcledger.members m
	                                  WHERE m.subscription = hcledger.applying_subscription()), '(unknown)'),
	                       kind, subject, reason)
$$;
REVOKE EXECUTE ON FUNCTION refuse_change_from(text, text, text) FROM PUBLIC;

-- The worst state of some rows of a member's log here: altered, missing, pending
-- (not yet covered by an accepted checkpoint) or sealed.
CREATE FUNCTION peer_rows_check(authority text, rows bigint[], OUT state text, OUT row_number bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT q.state, q.r FROM (
	SELECT CASE WHEN p.hcl_row IS NULL THEN 'missing'
	            WHEN l.leaf_hash IS NULL THEN 'pending'
	            WHEN hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.<>) l.leaf_hash THEN 'altered'
	            ELSE 'sealed' END AS state, r
	  FROM unnest(rows) r
	  JOIN hcledger.members m ON m.authority = peer_rows_check.authority
	  LEFT JOIN hcledger.peer_codes p ON p.authority = m.authority AND p.hcl_row = r
	  LEFT JOIN hcledger.peer_leaves l ON l.authority = m.authority AND l.row_number = r
	 WHERE r IS NOT NULL) q
	 ORDER BY q.state = 'sealed', q.state = 'pending', q.state = 'missing', q.r
	 LIMIT 1
$$;
REVOKE EXECUTE ON FUNCTION peer_rows_check(text, bigint[]) FROM PUBLIC;

-- The root of a member's accepted log at a size (NULL beyond it): from an
-- accepted checkpoint of that size, else extended from the last accepted
-- checkpoint below it by the accepted leaves in between (at most one
-- checkpoint's entries).
CREATE FUNCTION peer_root(authority text, tree_size bigint) RETURNS hcledger.hash256
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN tree_size <= m.tree_size AND tree_size > 0 THEN coalesce(
		(SELECT c.root FROM hcledger.peer_checkpoints c WHERE c.authority = m.authority AND c.tree_size = peer_root.tree_size
		    AND c.state IN ('accepted', 'duplicate') LIMIT 1),
		(SELECT (hcledger.log_extend(coalesce(k.frontier, '\x'), coalesce(k.tree_size, 0),
		           (SELECT string_agg(int8send(l.row_number) || l.leaf_hash::bytea, '\x' ORDER BY l.log_position)
		              FROM hcledger.peer_leaves l
		             WHERE l.authority = m.authority AND l.log_position >= coalesce(k.tree_size, 0)
		               AND l.log_position < peer_root.tree_size))).root
		   FROM (SELECT) one LEFT JOIN LATERAL (
		        SELECT c.tree_size, c.frontier FROM hcledger.peer_checkpoints c
		         WHERE c.authority = m.authority AND c.state = 'accepted' AND c.frontier IS NOT NULL
		           AND c.tree_size < peer_root.tree_size
		         ORDER BY c.tree_size DESC LIMIT 1) k ON true)) END
	  FROM hcledger.members m WHERE m.authority = peer_root.authority
$$;
REVOKE EXECUTE ON FUNCTION peer_root(text, bigint) FROM PUBLIC;

-- Record our accepted root of a member's log at every size that a witness
-- cosigned and our log now covers: a different root there is a split view
-- even where the two checkpoints have different sizes (split_views).
CREATE FUNCTION note_peer_roots(authority text, from_size bigint) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m hcledger.members;
	c record;
	x record;
	fr bytea;
	sz bigint := from_size;
BEGIN
	SELECT * INTO m FROM hcledger.members p WHERE p.authority = note_peer_roots.authority;
	-- one pass over the newly accepted leaves, from the compact range where
	-- they begin, however many sizes were cosigned among them
	IF from_size = 0 THEN
		fr := '\x';
	ELSE
		SELECT k.frontier INTO fr FROM hcledger.peer_checkpoints k
		 WHERE k.authority = m.authority AND k.state = 'accepted' AND k.tree_size = from_size LIMIT 1;
	END IF;
	FOR c IN SELECT DISTINCT s.tree_size FROM hcledger.cosignatures s
	          WHERE s.origin = m.origin AND s.tree_size > from_size AND s.tree_size <= m.tree_size
	            AND NOT EXISTS (SELECT FROM hcledger.peer_roots r WHERE r.authority = m.authority AND r.tree_size = s.tree_size)
	          ORDER BY s.tree_size LOOP
		IF fr IS NULL THEN		-- accepted before 0.3.0 kept compact ranges
			INSERT INTO hcledger.peer_roots (authority, tree_size, root)
			VALUES (m.authority, c.tree_size, hcledger.peer_root(m.authority, c.tree_size)) ON CONFLICT DO NOTHING;
			CONTINUE;
		END IF;
		x := hcledger.log_extend(fr, sz,
		       (SELECT string_agg(int8send(l.row_number) || l.leaf_hash::bytea, '\x' ORDER BY l.log_position)
		          FROM hcledger.peer_leaves l
		         WHERE l.authority = m.authority AND l.log_position >= sz AND l.log_position < c.tree_size));
		fr := x.frontier;
		sz := x.tree_size;
		INSERT INTO hcledger.peer_roots (authority, tree_size, root) VALUES (m.authority, c.tree_size, x.root)
		ON CONFLICT DO NOTHING;
	END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION note_peer_roots(text, bigint) FROM PUBLIC;

-- Cosign a member's checkpoint we accepted (C2SP tlog-cosignature/v1 message).
CREATE FUNCTION cosign(origin text, tree_size bigint, root hash256, body text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t bigint := floor(extract(epoch FROM clock_timestamp()));
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	sig bytea := hcledger.node_sign(convert_to(format(E'cosignature/v1\ntime %s\n', t) || body, 'UTF8'));
BEGIN
	IF sig IS NOT NULL AND me IS NOT NULL THEN
		-- in the apply worker the replica triggers see our own writes too: let this one pass
		PERFORM set_config('hcledger_apply.own_write', 'on', true);
		INSERT INTO hcledger.cosignatures (witness, origin, tree_size, root, cosigned_at, body, signature)
		VALUES (me, origin, tree_size, root, to_timestamp(t), body, sig)
		ON CONFLICT DO NOTHING;
		PERFORM set_config('hcledger_apply.own_write', '', true);
	END IF;
END $$;
REVOKE EXECUTE ON FUNCTION cosign(text, bigint, hash256, text) FROM PUBLIC;

-- Decide a waiting checkpoint of a member: accepted, duplicate, refused, or
-- still waiting (an earlier part of the log has not arrived).  Returns the state.
CREATE FUNCTION decide_checkpoint(id bigint) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c hcledger.peer_checkpoints;
	m hcledger.members;
	v record;
	body text;
	cp_last_row bigint;
	n bigint;
	start bigint;
	bad record;
	x record;
	why text;
	size bigint;
	sm2 record;
BEGIN
	SELECT * INTO c FROM hcledger.peer_checkpoints p WHERE p.id = decide_checkpoint.id FOR UPDATE;
	SELECT * INTO m FROM hcledger.members p WHERE p.authority = c.authority FOR UPDATE;
	IF c.note IS NULL THEN
		why := 'the checkpoint is not signed';
	ELSE
		v := hcledger.verify_checkpoint(c.note, NULL, m.authority);
		size := v.tree_size;
		body := left(c.note, position(E'\n\n' IN c.note));
		cp_last_row := substring(body FROM E'\nhcledger-row (-?[0-9]{1,19})\n')::bigint;
		n := length(c.leaves) / 40;
		start := v.tree_size - n;
		IF NOT v.valid THEN
			why := 'its signature does not verify under the member''s registered keys: ' || v.reason;
		ELSIF v.origin <> m.origin THEN
			why := format('it is signed for origin %s, not the member''s %s', v.origin, m.origin);
		ELSIF cp_last_row IS NULL THEN
			why := 'its body has no hcledger-row line';
		ELSIF c.leaves IS NULL OR length(c.leaves) % 40 <> 0 OR n = 0 OR start < 0 THEN
			why := 'its published log entries are missing or malformed';
		END IF;
		-- its SM2 line (docs/consortium.md, "SM2 checkpoint signatures"): required if the
		-- member's card says so; a line by a registered SM2 key must verify in any case
		IF why IS NULL THEN
			sm2 := hcledger.verify_checkpoint_sm2(c.note, m.authority, m.checkpoint_sm2);
			IF NOT sm2.valid THEN
				why := CASE WHEN m.checkpoint_sm2
				            THEN 'its SM2 signature, which the member''s card requires, is not good: '
				            ELSE 'its SM2 signature line does not verify under the member''s registered keys: ' END
				       || sm2.reason;
			END IF;
		END IF;
	END IF;
	IF why IS NULL AND start > m.tree_size THEN
		IF EXISTS (SELECT FROM hcledger.peer_checkpoints p WHERE p.authority = m.authority AND p.state = 'refused'
		           AND p.tree_size = start) THEN
			-- quarantine: what extends a refused checkpoint is refused too
			why := format('it extends the refused checkpoint of size %s; this member''s log is accepted up to size %s only',
			              start, m.tree_size);
		ELSE
			UPDATE hcledger.peer_checkpoints p SET reason = format('covers log positions %s to %s; positions %s to %s have not arrived',
			                                                       start, v.tree_size - 1, m.tree_size, start - 1)
			 WHERE p.id = c.id;
			RETURN 'waiting';
		END IF;
	END IF;
	IF why IS NULL AND start < m.tree_size THEN
		-- entries already accepted must be the same
		SELECT start + e.entry AS pos, e.row_number, l.row_number AS had_row INTO bad
		  FROM hcledger.log_entries(c.leaves) e
		  LEFT JOIN hcledger.peer_leaves l ON l.authority = m.authority AND l.log_position = start + e.entry
		 WHERE start + e.entry < m.tree_size
		   AND (l.leaf_hash IS NULL OR l.leaf_hash OPERATOR(hcledger.<>) e.leaf_hash OR l.row_number <> e.row_number)
		 ORDER BY e.entry LIMIT 1;
		IF FOUND THEN
			why := format('rewritten history: log position %s (row %s) differs from the log accepted up to size %s',
			              bad.pos, bad.row_number, m.tree_size);
		ELSIF v.tree_size <= m.tree_size THEN
			IF (SELECT hcledger.merkle_root_of_leaf_hashes(l.leaf_hash ORDER BY l.log_position)
			      FROM hcledger.peer_leaves l WHERE l.authority = m.authority AND l.log_position < v.tree_size)
			   OPERATOR(hcledger.=) v.root THEN
				UPDATE hcledger.peer_checkpoints p SET state = 'duplicate', tree_size = v.tree_size, root = v.root,
				       reason = 'already covered by an accepted checkpoint', decided_at = clock_timestamp()
				 WHERE p.id = c.id;
				RETURN 'duplicate';
			END IF;
			why := format('rewritten history: its root at size %s is not that of the accepted log', v.tree_size);
		END IF;
	END IF;
	IF why IS NULL THEN
		x := hcledger.log_extend(m.frontier, m.tree_size, substring(c.leaves FROM ((m.tree_size - start) * 40 + 1)::integer));
		IF x.root OPERATOR(hcledger.<>) v.root THEN
			why := format('not consistent with the accepted checkpoint of size %s: its log entries do not extend that log to its signed root',
			              m.tree_size);
		ELSIF EXISTS (SELECT FROM hcledger.log_entries(c.leaves) e
		               WHERE start + e.entry >= m.tree_size
		                 AND (e.row_number < 1
		                      OR EXISTS (SELECT FROM hcledger.peer_leaves l
		                                  WHERE l.authority = m.authority AND l.row_number = e.row_number)))
		   OR (SELECT count(*) <> count(DISTINCT e.row_number) FROM hcledger.log_entries(c.leaves) e
		        WHERE start + e.entry >= m.tree_size) THEN
			-- rows may be sealed out of row-number order (docs/format.md, "Sealing order"), but each once
			why := 'its log entries list a row number twice (or one below 1)';
		ELSIF cp_last_row <> (SELECT greatest(m.last_row, max(e.row_number)) FROM hcledger.log_entries(c.leaves) e
		                      WHERE start + e.entry >= m.tree_size) THEN
			why := 'its hcledger-row line is not the highest row number of its log';
		END IF;
	END IF;
	IF why IS NOT NULL THEN
		UPDATE hcledger.peer_checkpoints p SET state = 'refused', reason = why, decided_at = clock_timestamp()
		 WHERE p.id = c.id;
		PERFORM hcledger.refuse(m.authority, 'checkpoint', format('checkpoint of size %s', coalesce(size, c.tree_size)), why);
		RETURN 'refused';
	END IF;

	INSERT INTO hcledger.peer_leaves (authority, row_number, log_position, leaf_hash)
	SELECT m.authority, e.row_number, start + e.entry, e.leaf_hash
	  FROM hcledger.log_entries(c.leaves) e WHERE start + e.entry >= m.tree_size;
	-- leaves whose row has not arrived (yet): until it does, the member's codes are incomplete here
	UPDATE hcledger.members p SET tree_size = v.tree_size, last_row = cp_last_row, root = v.root,
	       frontier = x.frontier, checkpoint = c.note, accepted_at = clock_timestamp(),
	       missing_rows = p.missing_rows + (SELECT count(*) FROM hcledger.log_entries(c.leaves) e
	                                        WHERE start + e.entry >= m.tree_size
	                                          AND NOT EXISTS (SELECT FROM hcledger.peer_codes r
	                                                          WHERE r.authority = m.authority AND r.hcl_row = e.row_number
	                                                            AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, r)
	                                                                OPERATOR(hcledger.=) e.leaf_hash))
	 WHERE p.authority = m.authority;
	UPDATE hcledger.peer_checkpoints p SET state = 'accepted', tree_size = v.tree_size, root = v.root,
	       reason = NULL, decided_at = clock_timestamp(), frontier = x.frontier
	 WHERE p.id = c.id;
	-- rows received before their checkpoint: each must be what the member sealed
	PERFORM hcledger.refuse(m.authority, 'row', format('row %s', p.hcl_row),
	                        format('its content does not match its leaf at log position %s', l.log_position))
	   FROM hcledger.peer_codes p
	   JOIN hcledger.peer_leaves l ON l.authority = p.authority AND l.row_number = p.hcl_row
	  WHERE p.authority = m.authority AND l.log_position >= m.tree_size AND l.log_position < v.tree_size
	    AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.<>) l.leaf_hash;
	PERFORM hcledger.note_peer_roots(m.authority, m.tree_size);
	BEGIN
		PERFORM hcledger.cosign(m.origin, v.tree_size, v.root, body);
	EXCEPTION WHEN OTHERS THEN
		-- our own key's problem is no reason to refuse the member's checkpoint
		RAISE WARNING 'hcledger could not cosign the checkpoint of size % of "%": %', v.tree_size, m.authority, SQLERRM;
	END;
	RETURN 'accepted';
END $$;
REVOKE EXECUTE ON FUNCTION decide_checkpoint(bigint) FROM PUBLIC;

-- Decide every waiting checkpoint of a member that can be decided.
CREATE FUNCTION member_advance(authority text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
	progress boolean := true;
BEGIN
	WHILE progress LOOP
		progress := false;
		FOR c IN SELECT p.id, p.tree_size FROM hcledger.peer_checkpoints p
		          WHERE p.authority = member_advance.authority AND p.state = 'waiting'
		          ORDER BY p.tree_size, p.id LOOP
			BEGIN
				IF hcledger.decide_checkpoint(c.id) <> 'waiting' THEN
					progress := true;
				END IF;
			EXCEPTION WHEN OTHERS THEN
				-- never stall the subscription: what cannot be checked is refused, with the error
				UPDATE hcledger.peer_checkpoints p SET state = 'refused', decided_at = clock_timestamp(),
				       reason = 'it could not be checked: ' || SQLERRM
				 WHERE p.id = c.id;
				PERFORM hcledger.refuse(member_advance.authority, 'checkpoint', format('checkpoint of size %s', c.tree_size),
				                        'it could not be checked: ' || SQLERRM);
				progress := true;
			END;
		END LOOP;
	END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION member_advance(text) FROM PUBLIC;

-- Does a key's state carry an endorsement by another Ed25519 key of its
-- authority registered here and not revoked (docs/consortium.md, "Key
-- endorsements")?  Validity periods do not matter: a rotated-out key still
-- speaks for its authority until it is revoked.
CREATE FUNCTION key_endorsed(k hcledger.keys) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT k.endorsement IS NOT NULL AND EXISTS (
		SELECT FROM hcledger.keys e
		 WHERE e.authority = k.authority AND e.key_id = k.endorsed_by AND e.algorithm = 'ed25519'
		   AND (e.revoked_at IS NULL OR e.revoked_at > clock_timestamp())
		   AND (e.key_id <> k.key_id OR e.public_key = k.public_key)
		   AND hcledger.ed25519_verify(e.public_key,
		         hcledger.key_statement(k.authority, k.key_id, k.algorithm, k.public_key, k.valid_from,
		                                k.valid_until, k.revoked_at, k.revocation_reason), k.endorsement))
$$;
REVOKE EXECUTE ON FUNCTION key_endorsed(hcledger.keys) FROM PUBLIC;

