--
-- Converting a member's code into one of ours (docs/health-codes.md,
-- "Converting a member's code"): verified here first, issued from the
-- claims the traveller's payload carries, its provenance in the ledger.
--

-- The provenance of a converted code, as its issue row's reason records
-- it: the source's authority and credential id, and the signed checkpoint
-- of the source's log the source was verified against.
CREATE FUNCTION code_provenance(source_authority text, source_credential_id bytea, checkpoint_origin text,
                                checkpoint_size bigint, checkpoint_root hash256) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('converted from %s code %s under checkpoint %s %s %s', source_authority,
	              encode(source_credential_id, 'hex'), checkpoint_origin, checkpoint_size, checkpoint_root::text)
$$;
COMMENT ON FUNCTION code_provenance(text, bytea, text, bigint, hash256) IS 'the reason an issue row of a converted code records: its source and the checkpoint it was verified against';

-- The provenance a converted code's issue row records, parsed: NULL
-- unless the reason is exactly code_provenance's line.
CREATE FUNCTION code_provenance_parts(reason text, OUT source_authority text, OUT source_credential_id bytea,
                                      OUT checkpoint_origin text, OUT checkpoint_size bigint, OUT checkpoint_root text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT p[1], decode(p[2], 'hex'), p[3], p[4]::bigint, p[5]
	  FROM (SELECT regexp_match(reason, '^converted from (\S+) code ([0-9a-f]{32}) under checkpoint (\S+) ([0-9]{1,18}) ([0-9a-f]{64})$') AS p) x
$$;
COMMENT ON FUNCTION code_provenance_parts(text) IS 'the source and checkpoint a converted code''s issue row records (NULL for any other reason)';

-- What the source of a converted code says here at t, as verify_code would
-- judge its ledger rows: NULL verdict if nothing stands in the way, else
-- revoked, tampered, incomplete or stale with the reason; and the source's
-- latest colour.  A source whose authority's log is not followed here (or
-- no longer) is stale: its revocation could not be known.
CREATE FUNCTION code_source_state(source_authority text, source_credential_id bytea, converted_until timestamptz,
                                  t timestamptz, OUT verdict text, OUT reason text, OUT colour text,
                                  OUT revoked_from timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m hcledger.members;
	is_local boolean := EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = source_authority AND a.is_local);
	what text := format('the %s code %s it was converted from', source_authority, encode(source_credential_id, 'hex'));
	iss record;
	k record;
	st record;
	rev record;
	chk record;
	stale_why text;
BEGIN
	IF NOT is_local THEN
		SELECT * INTO m FROM hcledger.members x WHERE x.authority = source_authority;
		IF m.authority IS NULL OR m.left_at IS NOT NULL THEN
			verdict := 'stale';
			reason := format('the log of "%s" is not followed here%s: a revocation of %s could not be known',
			                 source_authority, CASE WHEN m.left_at IS NOT NULL THEN format(' since it left (%s)', m.left_at) ELSE '' END, what);
			RETURN;
		END IF;
	END IF;
	-- its issue row, the first in its authority's log; then its status and revocation rows after it
	SELECT y.* INTO iss
	  FROM (SELECT x.hcl_row, x.at, x.key_id, x.valid_until, x.colour, NULL::bigint AS log_position
	          FROM hcledger.codes x WHERE is_local AND x.credential_id = source_credential_id AND x.entry = 'issue'
	        UNION ALL
	        SELECT x.hcl_row, x.at, x.key_id, x.valid_until, x.colour, l.log_position
	          FROM hcledger.peer_codes x
	          LEFT JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
	         WHERE NOT is_local AND x.authority = source_authority AND x.credential_id = source_credential_id AND x.entry = 'issue') y
	 ORDER BY y.log_position NULLS LAST, y.hcl_row LIMIT 1;
	IF iss.hcl_row IS NULL THEN
		verdict := 'incomplete';
		reason := format('%s is not in the log of "%s" as it has reached us', what, source_authority);
		RETURN;
	END IF;
	colour := iss.colour;
	IF converted_until > iss.valid_until THEN
		verdict := 'tampered';
		reason := format('it is valid until %s, longer than %s (%s)', converted_until, what, iss.valid_until);
		RETURN;
	END IF;
	SELECT y.hcl_row, y.colour INTO st
	  FROM (SELECT x.hcl_row, x.colour FROM hcledger.codes x
	         WHERE is_local AND x.credential_id = source_credential_id AND x.entry = 'status'
	        UNION ALL
	        SELECT x.hcl_row, x.colour FROM hcledger.peer_codes x
	         WHERE NOT is_local AND x.authority = source_authority AND x.credential_id = source_credential_id AND x.entry = 'status') y
	 WHERE y.hcl_row > iss.hcl_row ORDER BY y.hcl_row DESC LIMIT 1;
	colour := coalesce(st.colour, colour);
	SELECT y.hcl_row, y.effective_at, y.reason INTO rev
	  FROM (SELECT x.hcl_row, x.effective_at, x.reason FROM hcledger.codes x
	         WHERE is_local AND x.credential_id = source_credential_id AND x.entry = 'revoke'
	        UNION ALL
	        SELECT x.hcl_row, x.effective_at, x.reason FROM hcledger.peer_codes x
	         WHERE NOT is_local AND x.authority = source_authority AND x.credential_id = source_credential_id AND x.entry = 'revoke') y
	 WHERE y.hcl_row > iss.hcl_row ORDER BY y.hcl_row LIMIT 1;
	revoked_from := rev.effective_at;	-- scheduled or not (status snapshots carry it)
	SELECT * INTO k FROM hcledger.keys x WHERE x.authority = source_authority AND x.key_id = iss.key_id;
	IF rev.hcl_row IS NOT NULL AND rev.effective_at <= t THEN
		verdict := 'revoked';
		reason := format('source revoked: %s is revoked (%s)', what, rev.reason);
	ELSIF k.key_id IS NULL OR date_trunc('second', k.revoked_at) <= iss.at THEN
		verdict := 'revoked';
		reason := format('source revoked: the key "%s" that signed %s %s', iss.key_id, what,
		                 CASE WHEN k.key_id IS NULL THEN 'is not registered here' ELSE format('was revoked at %s', k.revoked_at) END);
	END IF;
	IF verdict IS NOT NULL THEN
		RETURN;
	END IF;
	-- its rows as sealed; a partial or silent log cannot vouch for it
	IF is_local THEN
		chk := hcledger.ledger_rows_check('hcledger.codes', ARRAY[iss.hcl_row, st.hcl_row],
		         coalesce((SELECT max(c.tree_size) FROM hcledger.checkpoints c
		                    WHERE c.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                                          WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)), 0));
	ELSE
		chk := hcledger.peer_rows_check(source_authority, ARRAY[iss.hcl_row, st.hcl_row]);
		stale_why := hcledger.member_state_stale(source_authority, t);
	END IF;
	IF chk.state IN ('altered', 'missing') THEN
		verdict := 'tampered';
		reason := format('row %s of the log of "%s", of %s, does not match what was sealed', chk.row_number, source_authority, what);
	ELSIF m.missing_rows > 0 THEN
		verdict := 'incomplete';
		reason := format('the log of "%s" accepted here lacks %s sealed rows that have not arrived; one may change %s',
		                 source_authority, m.missing_rows, what);
	ELSIF stale_why IS NOT NULL THEN
		verdict := 'stale';
		reason := format('of %s: %s', what, stale_why);
	END IF;
END $$;
COMMENT ON FUNCTION code_source_state(text, bytea, timestamptz, timestamptz) IS 'what stands in the way of a converted code here because of its source (revoked, tampered, incomplete, stale), the source''s colour, and when its revocation takes effect';
REVOKE EXECUTE ON FUNCTION code_source_state(text, bytea, timestamptz, timestamptz) FROM PUBLIC;

CREATE FUNCTION convert_code(source_payload text, valid_for interval DEFAULT '7 days',
                             OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := date_trunc('second', clock_timestamp());
	v record;
	d record;
	cp record;
	auth text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
BEGIN
	IF source_payload IS NULL OR valid_for IS NULL THEN
		RAISE EXCEPTION 'source_payload and valid_for must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF valid_for < interval '1 second' THEN
		RAISE EXCEPTION 'valid_for must be at least one second' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF auth IS NULL THEN
		RAISE EXCEPTION 'this database issues for no authority' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'An administrator registers it with hcledger.add_authority(name, display_name, true).';
	END IF;
	-- the verdict here and now (it refuses a REPEATABLE READ snapshot, as verify_code does)
	SELECT * INTO v FROM hcledger.verify_code(source_payload);
	d := hcledger.code_decode(source_payload);
	IF v.verdict = 'valid' AND d.authority = auth THEN
		RAISE EXCEPTION 'the code is of this authority ("%"): it needs no conversion', auth
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v.verdict = 'valid' AND EXISTS (SELECT FROM hcledger.peer_codes x
	                                    WHERE x.authority = d.authority AND x.credential_id = d.credential_id AND x.entry = 'issue'
	                                      AND (hcledger.code_provenance_parts(x.reason)).source_authority IS NOT NULL) THEN
		-- its source's revocation would not reach a code converted from it: convert the source
		RAISE EXCEPTION 'the code was itself converted from another: convert that one instead'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = v.reason;
	END IF;
	IF v.verdict <> 'valid' THEN
		RAISE EXCEPTION 'the code cannot be converted: it is %', v.verdict
			USING ERRCODE = CASE WHEN v.verdict IN ('invalid', 'bad signature', 'tampered', 'unknown authority', 'not found')
			                     THEN 'invalid_parameter_value' ELSE 'object_not_in_prerequisite_state' END,
			      DETAIL = v.reason,
			      HINT = 'Only a code that verify_code finds valid here is converted.';
	END IF;
	-- the member's checkpoint it was verified against (accepted here, so signed by a key of theirs)
	SELECT * INTO cp FROM hcledger.verify_checkpoint(v.checkpoint, NULL, d.authority);
	IF cp.valid IS NOT TRUE THEN
		RAISE EXCEPTION 'the code cannot be converted: the checkpoint it was verified against does not verify'
			USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = cp.reason;
	END IF;
	-- never valid longer than its source, and from now
	SELECT e.credential_id, e.payload INTO credential_id, payload
	  FROM hcledger.issue_entry(hcledger.code_claims(source_payload), v.colour, t, t,
	                            CASE WHEN valid_for >= d.valid_until - t THEN d.valid_until
	                                 ELSE date_trunc('second', t + valid_for) END,
	                            hcledger.code_provenance(d.authority, d.credential_id, cp.origin, cp.tree_size, cp.root),
	                            d.selective) e;
END $$;
COMMENT ON FUNCTION convert_code(text, interval) IS 'issue a local code from a member''s code that verifies here: the claims its payload carries, never valid longer than it, its provenance in the ledger';
REVOKE EXECUTE ON FUNCTION convert_code(text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION convert_code(text, interval) TO hcledger_issuer;
