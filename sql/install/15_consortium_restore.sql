-- A member restored from a backup lost the rows it sealed after it: its
-- peers hold them, verified (docs/operations.md, "A consortium member
-- restored from backup").  On a peer: the member's rows after a row
-- number, each matching its accepted leaf.
CREATE FUNCTION verified_peer_rows(member text, from_position bigint)
RETURNS TABLE (log_position bigint, entry text, credential_id bytea, authority text, at timestamptz, colour text,
               subject bytea, commitment bytea, valid_from timestamptz, valid_until timestamptz, key_id text,
               signature bytea, effective_at timestamptz, reason text, hcl_row bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT l.log_position, p.entry, p.credential_id, p.authority, p.at, p.colour, p.subject, p.commitment, p.valid_from,
	       p.valid_until, p.key_id, p.signature, p.effective_at, p.reason, p.hcl_row
	  FROM hcledger.peer_codes p
	  JOIN hcledger.members m ON m.authority = p.authority
	  JOIN hcledger.peer_leaves l ON l.authority = p.authority AND l.row_number = p.hcl_row
	 WHERE p.authority = member AND l.log_position >= from_position
	   AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, p) OPERATOR(hcledger.=) l.leaf_hash
	 ORDER BY l.log_position
$$;
COMMENT ON FUNCTION verified_peer_rows(text, bigint) IS 'a member''s rows at log positions from from_position on, as received here and matching their accepted leaves, with their positions: what a member restored from backup takes back';

-- On the restored member (a superuser): put the rows back with their row
-- numbers, and append them to the log in the order of the positions the
-- peer gives (a member's log may hold late rows, out of row-number order:
-- docs/format.md, "Sealing order"), so that it is rebuilt with the same
-- leaves as the one the node signed.
CREATE FUNCTION recover_codes(source regclass) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	n bigint;
	seq text := pg_get_serial_sequence('hcledger.codes', 'hcl_row');
	size bigint;
	origin text;
	signed bigint;
	got record;
	clash bigint;
BEGIN
	SELECT l.tree_size, l.origin INTO size, origin FROM hcledger.ledgers l
	 WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'hcledger.codes is not a ledger here' USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF (SELECT c.relkind FROM pg_class c WHERE c.oid = source) NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', source USING ERRCODE = 'wrong_object_type',
			HINT = 'Copy the peer''s verified_peer_rows() output into a table first.';
	END IF;
	signed := coalesce((hcledger.signed_record(origin)).tree_size, 0);
	-- the positions from the log's end on, each once, without a hole
	EXECUTE format('SELECT count(*) AS n, count(DISTINCT s.log_position) AS d, min(s.log_position) AS lo, max(s.log_position) AS hi
	                  FROM %s s WHERE s.authority = %L AND s.log_position >= %s', source, me, size) INTO got;
	IF got.n > 0 AND (got.d <> got.n OR got.lo <> size OR got.hi - got.lo + 1 <> got.n) THEN
		RAISE EXCEPTION 'the rows of "%" do not cover log positions % to % once each', source, size, got.hi
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = format('Take them from a peer with verified_peer_rows(''%s'', %s), this log''s size.', me, size);
	END IF;
	-- a peer accepts only what the node signed: nothing past it is the member's
	IF got.n > 0 AND got.hi >= signed THEN
		RAISE EXCEPTION 'the rows of "%" reach log position %, past the % leaves this node signed', source, got.hi, signed
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'Put back only rows a peer accepted: no peer can have accepted more than the node signed.';
	END IF;
	-- a row here under a lost row's number (issued since the restore) is not that row
	EXECUTE format('SELECT s.hcl_row FROM %s s JOIN hcledger.codes c ON c.hcl_row = s.hcl_row
	                 WHERE s.authority = %L AND s.log_position >= %s
	                   AND (c.entry, c.credential_id, c.authority, c.at, c.colour, c.subject, c.commitment, c.valid_from,
	                        c.valid_until, c.key_id, c.signature, c.effective_at, c.reason)
	                       IS DISTINCT FROM
	                       (s.entry, s.credential_id, s.authority, s.at, s.colour, s.subject, s.commitment, s.valid_from,
	                        s.valid_until, s.key_id, s.signature, s.effective_at, s.reason)
	                 ORDER BY s.hcl_row LIMIT 1', source, me, size) INTO clash;
	IF clash IS NOT NULL THEN
		RAISE EXCEPTION 'row % of hcledger.codes here is not the row the peer holds under that number', clash
			USING ERRCODE = 'unique_violation',
			      HINT = 'A row was written here after the restore, before the lost rows were back: the log cannot be rebuilt; see docs/operations.md.';
	END IF;
	EXECUTE format('INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment,
	                valid_from, valid_until, key_id, signature, effective_at, reason, hcl_row) OVERRIDING SYSTEM VALUE
	                SELECT s.entry, s.credential_id, s.authority, s.at, s.colour, s.subject, s.commitment,
	                       s.valid_from, s.valid_until, s.key_id, s.signature, s.effective_at, s.reason, s.hcl_row
	                  FROM %s s
	                 WHERE s.authority = %L AND s.log_position >= %s
	                   AND NOT EXISTS (SELECT FROM hcledger.codes c WHERE c.hcl_row = s.hcl_row)
	                 ORDER BY s.log_position', source, me, size);
	GET DIAGNOSTICS n = ROW_COUNT;
	-- new codes are numbered after them
	PERFORM setval(seq, greatest((SELECT max(c.hcl_row) FROM hcledger.codes c),
	                             coalesce((SELECT s.last_value FROM pg_sequences s
	                                        WHERE s.schemaname || '.' || s.sequencename = seq), 0)), true)
	 WHERE EXISTS (SELECT FROM hcledger.codes);
	-- sealed in the peer's order, at the positions it accepted them
	IF got.n > 0 THEN
		EXECUTE format('SELECT hcledger.append_listed_rows(''hcledger.codes'', %s,
		                  ARRAY(SELECT s.hcl_row FROM %s s WHERE s.authority = %L AND s.log_position >= %s ORDER BY s.log_position))',
		               size, source, me, size);
	END IF;
	RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION recover_codes(regclass) FROM PUBLIC;
COMMENT ON FUNCTION recover_codes(regclass) IS 'put back, with their row numbers, the local authority''s code rows a peer kept (verified_peer_rows) from this log''s end on, sealed at the positions the peer gives (superusers only)';

-- recover_codes' sealing in a given order (superusers only)
CREATE FUNCTION append_listed_rows(ledger regclass, from_position bigint, rows bigint[]) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_append_listed_rows' LANGUAGE C VOLATILE STRICT;
REVOKE EXECUTE ON FUNCTION append_listed_rows(regclass, bigint, bigint[]) FROM PUBLIC;
COMMENT ON FUNCTION append_listed_rows(regclass, bigint, bigint[]) IS 'append these rows of a ledger to its log, in this order, from log position from_position (its end): a member''s log rebuilt from a peer''s copy (recover_codes; superusers only)';

-- On a peer, once a member restored from backup has admitted it again (a
-- new slot there): receive from the new slot's start, not from the
-- position the old server had reached.  A procedure: the subscription's
-- worker must have stopped before its replication origin can move.
-- (Not SECURITY DEFINER, nor with a SET clause: a procedure that commits
-- cannot be; so for superusers, who alone may move a replication origin.)
CREATE PROCEDURE resume_member(authority text)
LANGUAGE plpgsql AS $$
DECLARE
	sub name := (SELECT m.subscription FROM hcledger.members m WHERE m.authority = resume_member.authority AND m.left_at IS NULL);
	sub_oid oid;
BEGIN
	IF sub IS NULL THEN
		RAISE EXCEPTION 'authority "%" is not a member', authority USING ERRCODE = 'undefined_object',
			HINT = 'The view hcledger.members lists the members.';
	END IF;
	SELECT s.oid INTO sub_oid FROM pg_catalog.pg_subscription s
	 WHERE s.subname = sub AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database());
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I DISABLE', sub);
	COMMIT;
	FOR i IN 1 .. 100 LOOP
		EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_stat_subscription st WHERE st.subid = sub_oid AND st.pid IS NOT NULL);
		PERFORM pg_catalog.pg_sleep(0.1);
	END LOOP;
	PERFORM pg_catalog.pg_replication_origin_advance('pg_' || sub_oid, '0/0');
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I ENABLE', sub);
	INSERT INTO hcledger.member_events (authority, event, detail)
	VALUES (authority, 'joined', 'resumed from the new slot of the restored member');
	COMMIT;
END $$;
REVOKE EXECUTE ON PROCEDURE resume_member(text) FROM PUBLIC;
COMMENT ON PROCEDURE resume_member(text) IS 'after a member restored from backup admitted us again: receive from its new slot''s start (CALL, outside a transaction block)';

CREATE FUNCTION acknowledge_refusal(refusal_id bigint, note text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF coalesce(btrim(note), '') = '' THEN
		RAISE EXCEPTION 'a note is required to acknowledge a refusal' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Say what was found and done; it is kept in hcledger.refusals.';
	END IF;
	UPDATE hcledger.refusals r SET acknowledged_at = now(), acknowledged_by = session_user, acknowledgement = note
	 WHERE r.refusal_id = acknowledge_refusal.refusal_id AND r.acknowledged_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'there is no unacknowledged refusal %', refusal_id USING ERRCODE = 'no_data_found',
			HINT = 'The view hcledger.refused lists the refusals not yet acknowledged.';
	END IF;
END $$;
COMMENT ON FUNCTION acknowledge_refusal(bigint, text) IS 'mark a refusal as dealt with, with a note (it stays in hcledger.refusals)';

-- Decide a refused checkpoint of a member again, once its cause is fixed (a
-- key registered late, say), with the member's later refused checkpoints
-- (refused for the same cause, or for extending it); recorded in
-- member_events, and their refusals acknowledged with the outcome.  A
-- checkpoint still at fault is refused again, with a new refusal.  Returns
-- the checkpoint's new state.
CREATE FUNCTION decide_again(checkpoint_id bigint, reason text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c hcledger.peer_checkpoints;
	state text;
	subjects text[];
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required to decide a checkpoint again' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Say what was fixed; it is kept in hcledger.member_events.';
	END IF;
	SELECT * INTO c FROM hcledger.peer_checkpoints p WHERE p.id = checkpoint_id FOR UPDATE;
	IF NOT FOUND OR c.state <> 'refused' THEN
		RAISE EXCEPTION 'there is no refused checkpoint %', checkpoint_id USING ERRCODE = 'no_data_found',
			HINT = 'hcledger.peer_checkpoints lists the checkpoints received, with their state and reason.';
	END IF;
	IF c.note IS NULL AND c.leaves IS NULL THEN
		RAISE EXCEPTION 'checkpoint % of "%" was refused unread and was not kept: %', checkpoint_id, c.authority, c.reason
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'An oversized checkpoint can only be sent again by the member.';
	END IF;
	PERFORM FROM hcledger.members m WHERE m.authority = c.authority AND m.left_at IS NULL FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION '"%" is not a member any more', c.authority USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	-- it, and the later ones (decided while it stood refused), except those refused unread for their size
	-- (each with the refusal it had: those, and only those, are settled below)
	WITH again AS (
		SELECT p.id, format('checkpoint of size %s', p.tree_size) || E'\n' || p.reason AS said
		  FROM hcledger.peer_checkpoints p
		 WHERE p.id = c.id
		    OR (p.authority = c.authority AND p.state = 'refused' AND p.tree_size > c.tree_size
		        AND (p.note IS NOT NULL OR p.leaves IS NOT NULL))
		   FOR UPDATE),
	requeued AS (
		UPDATE hcledger.peer_checkpoints p SET state = 'waiting', reason = NULL, decided_at = NULL
		  FROM again a WHERE p.id = a.id)
	SELECT array_agg(a.said) INTO subjects FROM again a;
	PERFORM hcledger.member_advance(c.authority);
	SELECT p.state INTO state FROM hcledger.peer_checkpoints p WHERE p.id = c.id;
	INSERT INTO hcledger.member_events (authority, event, detail)
	VALUES (c.authority, 'decided again',
	        format('checkpoint %s (size %s): %s; %s', c.id, c.tree_size, state, reason));
	UPDATE hcledger.refusals r SET acknowledged_at = now(), acknowledged_by = session_user,
	       acknowledgement = format('decided again (%s): %s', decide_again.reason,
	                                (SELECT p.state FROM hcledger.peer_checkpoints p
	                                  WHERE p.authority = c.authority AND format('checkpoint of size %s', p.tree_size) = r.subject
	                                  ORDER BY p.id DESC LIMIT 1))
	 WHERE r.authority = c.authority AND r.kind = 'checkpoint' AND r.acknowledged_at IS NULL
	   AND r.subject || E'\n' || r.reason = ANY (subjects)
	   AND r.at < now();	-- (a refusal made again just now stays to be seen)
	RETURN state;
END $$;
COMMENT ON FUNCTION decide_again(bigint, text) IS 'decide a refused checkpoint of a member again once its cause is fixed (recorded); one still at fault is refused again';

REVOKE EXECUTE ON FUNCTION publish(text), admit_member(text), dismiss_member(text, text), join_member(jsonb, text),
	leave_member(text, text), acknowledge_refusal(bigint, text), decide_again(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION publish(text), admit_member(text), dismiss_member(text, text), join_member(jsonb, text),
	leave_member(text, text), acknowledge_refusal(bigint, text), decide_again(bigint, text) TO hcledger_admin;

