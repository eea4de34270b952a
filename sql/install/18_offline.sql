-- Offline verification (docs/offline-verification.md): status snapshots and
-- the trust bundle a border post verifies codes from with no connection.

-- Unix seconds of a time, truncated to the second (as verify_code compares key times).
-- Infinite times (a member may send any) are the extremes of bigint.
CREATE FUNCTION unix_seconds(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN isfinite(t) THEN floor(extract(epoch FROM t))::bigint
	            WHEN t > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END
$$;
-- Unix microseconds, the same way.
CREATE FUNCTION unix_micros(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN isfinite(t) THEN floor(extract(epoch FROM t) * 1000000)::bigint
	            WHEN t > 'epoch' THEN 9223372036854775807 ELSE -9223372036854775808 END
$$;
REVOKE EXECUTE ON FUNCTION unix_micros(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION unix_seconds(timestamptz) FROM PUBLIC;

-- ledger_rows_check row by row (docs/format.md): for checking the rows of
-- every current code at once.
CREATE FUNCTION ledger_rows_states(ledger regclass, rows bigint[], tree_size bigint)
RETURNS TABLE (row_number bigint, state text)
	AS 'MODULE_PATHNAME', 'hcl_ledger_rows_states' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ledger_rows_states(regclass, bigint[], bigint) IS 'each row''s state within tree_size leaves (sealed, pending, missing, altered), as ledger_rows_check judges them';
REVOKE EXECUTE ON FUNCTION ledger_rows_states(regclass, bigint[], bigint) FROM PUBLIC;

-- code_ledger_state (sql/install/11_codes.sql) for every current code of an
-- authority at once: each credential whose first issue row here is of that
-- authority and valid at t.  The same facts, read in a few passes over
-- the authority's ledger instead of a few queries per code; the status
-- snapshots use it, and test/t/027 checks it against code_ledger_state.
CREATE FUNCTION current_code_states(authority text, t timestamptz)
RETURNS TABLE (credential_id bytea, issue_row bigint, recorded_authority text, commitment bytea,
	issued_at timestamptz, valid_from timestamptz, valid_until timestamptz, key_id text, colour text,
	revoke_row bigint, revoke_at timestamptz, revoke_reason text, sealing text, sealing_row bigint,
	checkpoint text, member boolean, missing_rows bigint, stale_why text, source_verdict text,
	source_reason text, source_colour boolean, converted_from text, source_revoke_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
-- the planner sees one row in each CTE (their filters are parameters):
-- nested loops over them would take time quadratic in the codes; and
-- the cost that forbidding them adds would have the query JIT-compiled
-- (a second, for nothing)
SET enable_nestloop = off SET jit = off
AS $$
DECLARE
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	m hcledger.members;
	cp record;
	stale text;
BEGIN
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = current_code_states.authority;
	IF m.authority IS NULL AND current_code_states.authority IS DISTINCT FROM me THEN
		RETURN;		-- an authority whose ledger does not reach us
	END IF;
	IF m.authority IS NULL THEN
		SELECT k.note, k.tree_size INTO cp FROM hcledger.checkpoints k
		 WHERE k.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
		 ORDER BY k.tree_size DESC LIMIT 1;
		IF NOT FOUND THEN
			SELECT NULL::text AS note, 0::bigint AS tree_size INTO cp;
		END IF;
	ELSE
		SELECT m.checkpoint AS note, m.tree_size INTO cp;
		stale := hcledger.member_state_stale(m.authority, t);
	END IF;
	RETURN QUERY
	WITH e AS MATERIALIZED (
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.reason, x.hcl_row, NULL::bigint AS log_position,
		       NULL::hcledger.hash256 AS leaf_hash, NULL::hcledger.hash256 AS row_hash
		  FROM hcledger.codes x WHERE m.authority IS NULL
		UNION ALL
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.reason, x.hcl_row, l.log_position,
		       l.leaf_hash, hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, x)
		  FROM hcledger.peer_codes x
		  LEFT JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
		 WHERE x.authority = m.authority),
	iss AS (
		SELECT DISTINCT ON (e.credential_id) e.*
		  FROM e WHERE e.entry = 'issue'
		 ORDER BY e.credential_id, e.log_position NULLS LAST, e.hcl_row),
	cur AS (
		SELECT i.* FROM iss i
		 WHERE i.valid_until > t AND (m.authority IS NOT NULL OR i.authority = me)),
	later AS (
		SELECT c.credential_id,
		       (array_agg(y.hcl_row ORDER BY y.hcl_row DESC) FILTER (WHERE y.entry = 'status'))[1] AS status_row,
		       (array_agg(y.colour ORDER BY y.hcl_row DESC) FILTER (WHERE y.entry = 'status'))[1] AS status_colour,
		       (array_agg(y.hcl_row ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_row,
		       (array_agg(y.effective_at ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_at,
		       (array_agg(y.reason ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_reason
		  FROM cur c JOIN e y ON y.credential_id = c.credential_id AND y.hcl_row > c.hcl_row AND y.authority = c.authority
		 GROUP BY c.credential_id),
	rows_used AS (
		SELECT c.credential_id, r.row_number, r.ord
		  FROM cur c LEFT JOIN later l ON l.credential_id = c.credential_id,
		       LATERAL unnest(ARRAY[c.hcl_row, coalesce(l.status_row, c.hcl_row), l.revoke_row]) WITH ORDINALITY r(row_number, ord)
		 WHERE r.row_number IS NOT NULL),
	home_states AS (
		SELECT s.row_number, s.state
		  FROM hcledger.ledger_rows_states('hcledger.codes',
		         (SELECT coalesce(array_agg(DISTINCT u.row_number), '{}') FROM rows_used u WHERE m.authority IS NULL),
		         coalesce(cp.tree_size, 0)) s
		 WHERE m.authority IS NULL),
	row_states AS (
		SELECT u.credential_id, u.row_number, u.ord,
		       CASE WHEN m.authority IS NULL THEN h.state
		            WHEN y.leaf_hash IS NULL THEN 'pending'
		            WHEN y.row_hash OPERATOR(hcledger.<>) y.leaf_hash THEN 'altered'
		            ELSE 'sealed' END AS state
		  FROM rows_used u
		  LEFT JOIN home_states h ON m.authority IS NULL AND h.row_number = u.row_number
		  LEFT JOIN e y ON m.authority IS NOT NULL AND y.hcl_row = u.row_number),
	worst AS (
		-- the worst state of a code's rows; of rows equally bad, the first in
		-- [issue, status, revoke] order at home (ledger_rows_check), the
		-- lowest numbered for a member (peer_rows_check)
		SELECT DISTINCT ON (r.credential_id) r.credential_id, r.state, r.row_number
		  FROM row_states r
		 ORDER BY r.credential_id, array_position(ARRAY['altered', 'missing', 'pending', 'sealed'], r.state),
		          CASE WHEN m.authority IS NULL THEN r.ord ELSE r.row_number END),
	src AS (
		SELECT c.credential_id, p.source_authority, p.source_credential_id, p.checkpoint_size,
		       hcledger.code_source_state(p.source_authority, p.source_credential_id, c.valid_until, t) AS st
		  FROM cur c, LATERAL hcledger.code_provenance_parts(c.reason) p
		 WHERE c.reason IS NOT NULL AND p.source_authority IS NOT NULL)
	SELECT c.credential_id, c.hcl_row, c.authority, c.commitment, c.at, c.valid_from, c.valid_until, c.key_id,
	       CASE WHEN array_position(ARRAY['green', 'yellow', 'red'], (s.st).colour)
	                 > array_position(ARRAY['green', 'yellow', 'red'], coalesce(l.status_colour, c.colour))
	            THEN (s.st).colour ELSE coalesce(l.status_colour, c.colour) END,
	       l.revoke_row, l.revoke_at, l.revoke_reason,
	       w.state, CASE WHEN m.authority IS NULL AND w.state = 'sealed' THEN NULL ELSE w.row_number END,
	       cp.note, m.authority IS NOT NULL, coalesce(m.missing_rows, 0), stale,
	       (s.st).verdict, (s.st).reason,
	       coalesce(array_position(ARRAY['green', 'yellow', 'red'], (s.st).colour)
	                > array_position(ARRAY['green', 'yellow', 'red'], coalesce(l.status_colour, c.colour)), false),
	       CASE WHEN s.source_authority IS NOT NULL THEN
	         format('converted from %s code %s (verified against its checkpoint of size %s)',
	                s.source_authority, encode(s.source_credential_id, 'hex'), s.checkpoint_size) END,
	       (s.st).revoked_from
	  FROM cur c
	  LEFT JOIN later l ON l.credential_id = c.credential_id
	  LEFT JOIN worst w ON w.credential_id = c.credential_id
	  LEFT JOIN src s ON s.credential_id = c.credential_id;
END $$;
COMMENT ON FUNCTION current_code_states(text, timestamptz) IS 'code_ledger_state of every code of an authority current at t, read in bulk (for status snapshots)';
REVOKE EXECUTE ON FUNCTION current_code_states(text, timestamptz) FROM PUBLIC;

-- One authority's status snapshot ("Status snapshots"): every code of its
-- ledger here that has not expired, as verify_code's ledger steps see it
-- now, keyed by a salted hash of its credential id, with decoys.  STABLE so
-- that, called from trust_bundle, it reads the same snapshot as the rest
-- of the bundle (it draws random salts and decoys all the same).
CREATE FUNCTION status_snapshot(authority text) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off SET jit = off		-- as current_code_states
AS $$
DECLARE
	t timestamptz := clock_timestamp();
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	m hcledger.members;
	salt bytea := uuid_send(gen_random_uuid());
	as_of timestamptz;
	cp record;
	n bigint;
	decoys integer;
	body bytea;
BEGIN
	IF NOT EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = status_snapshot.authority) THEN
		RAISE EXCEPTION 'authority "%" is not registered here', authority USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = status_snapshot.authority;
	SELECT NULL::bigint AS tree_size, NULL::text AS note INTO cp;
	IF m.authority IS NOT NULL THEN
		-- a member's: its log as accepted here, known as of its last sign of life
		as_of := least(coalesce(hcledger.member_heard_at(authority), '-infinity'), t);
		SELECT m.tree_size, m.checkpoint AS note INTO cp;
	ELSIF authority = me THEN
		as_of := t;
		SELECT k.tree_size, k.note INTO cp FROM hcledger.checkpoints k
		 WHERE k.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
		 ORDER BY k.tree_size DESC LIMIT 1;
	ELSE
		-- an authority whose ledger does not reach us: none of its codes is found here
		as_of := t;
	END IF;

	-- each code: key and check, then its state byte and a revocation's time;
	-- decoys: random keys and checks, each with the state of a code drawn at random
	WITH c AS (
		-- a member's rows are whatever it sent: no field may make an entry NULL
		-- (string_agg would drop it and the count would be wrong); an unknown
		-- colour reads red, and the earlier of the code's own revocation and
		-- its source's (a converted code) is the one kept
		SELECT y.*, least(CASE WHEN y.revoke_row IS NOT NULL THEN y.revoke_at END, y.source_revoke_at) AS revoked_from
		  FROM hcledger.current_code_states(status_snapshot.authority, t) y),
	x AS MATERIALIZED (
		SELECT row_number() OVER () AS rn,
		       substr(sha256(convert_to(E'hcledger-status-key/1\n', 'UTF8') || salt || c.credential_id), 1, 4)
		       || substr(sha256(convert_to(E'hcledger-status-check/1\n', 'UTF8') || salt || c.credential_id
		                        || coalesce(c.commitment, '\x') || convert_to(coalesce(c.key_id, ''), 'UTF8') || '\x0a'::bytea
		                        || int8send(coalesce(hcledger.unix_seconds(c.issued_at), 0))
		                        || int8send(coalesce(hcledger.unix_seconds(c.valid_from), 0))
		                        || int8send(coalesce(hcledger.unix_seconds(c.valid_until), 0))), 1, 4) AS kc,
		       set_byte('\x00'::bytea, 0,
		         coalesce(array_position(ARRAY['green', 'yellow', 'red'], c.colour) - 1, 2)
		         + CASE WHEN c.revoked_from IS NOT NULL THEN 4 ELSE 0 END
		         + CASE WHEN c.sealing = 'pending' OR c.checkpoint IS NULL THEN 8 ELSE 0 END
		         + CASE WHEN c.sealing IN ('altered', 'missing') THEN 16 ELSE 0 END
		         + CASE c.source_verdict WHEN 'revoked' THEN 32 WHEN 'tampered' THEN 64
		                                 WHEN 'incomplete' THEN 128 WHEN 'stale' THEN 128 ELSE 0 END)
		       -- a revocation in effect when the snapshot is made: time 0 (its
		       -- exact time would tell one code's entries apart across snapshots)
		       || CASE WHEN c.revoked_from IS NULL THEN ''::bytea
		               WHEN c.revoked_from <= t THEN int8send(0)
		               ELSE int8send(hcledger.unix_micros(c.revoked_from)) END AS state
		  FROM c),
	cnt AS MATERIALIZED (
		SELECT count(*) AS n, 64 + floor(random() * (count(*) / 32 + 1))::integer AS decoys FROM x),
	picks AS MATERIALIZED (
		SELECT substr(sha256(uuid_send(gen_random_uuid())), 1, 8) AS kc,
		       CASE WHEN cnt.n = 0 THEN NULL ELSE 1 + floor(random() * cnt.n)::bigint END AS rn
		  FROM cnt, generate_series(1, cnt.decoys)),
	e AS (
		SELECT x.kc || x.state AS b FROM x
		UNION ALL
		SELECT p.kc || coalesce(x.state, '\x00'::bytea) FROM picks p LEFT JOIN x ON x.rn = p.rn)
	SELECT (SELECT cnt.n FROM cnt), (SELECT cnt.decoys FROM cnt), string_agg(e.b, ''::bytea ORDER BY e.b)
	  INTO n, decoys, body
	  FROM e;

	RETURN convert_to(format(E'hcledger-status/1\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n',
	                         authority, hcledger.unix_seconds(greatest(as_of, '1970-01-01 00:00:00+00')),
	                         hcledger.unix_seconds(t), coalesce(cp.tree_size, 0),
	                         coalesce(m.missing_rows, 0), encode(salt, 'hex'), n + decoys), 'UTF8')
	       || coalesce(body, '');
END $$;
COMMENT ON FUNCTION status_snapshot(text) IS 'an authority''s status snapshot: every unexpired code''s standing here, keyed by a salted hash of its credential id, with decoys (docs/offline-verification.md)';
REVOKE EXECUTE ON FUNCTION status_snapshot(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION status_snapshot(text) TO hcledger_admin, hcledger_auditor;

-- The trust bundle's parts ("The trust bundle"), one per authority: its
-- authority, key and checkpoint lines, and its status snapshot.  STABLE:
-- all read from one snapshot of the database, so that each status
-- snapshot refers to the checkpoint next to it.
CREATE FUNCTION trust_bundle_parts()
RETURNS TABLE (authority text, lines bytea, snapshot bytea)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a record;
BEGIN
	FOR a IN SELECT x.authority,
	                CASE WHEN x.is_local THEN
	                  (SELECT k.note FROM hcledger.checkpoints k
	                    WHERE k.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
	                                          WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
	                    ORDER BY k.tree_size DESC LIMIT 1)
	                ELSE (SELECT m.checkpoint FROM hcledger.members m WHERE m.authority = x.authority) END AS checkpoint
	           FROM hcledger.authorities x
	          WHERE NOT EXISTS (SELECT FROM hcledger.members m WHERE m.authority = x.authority AND m.left_at IS NOT NULL)
	          ORDER BY x.authority COLLATE "C" LOOP
		authority := a.authority;
		snapshot := hcledger.status_snapshot(a.authority);
		lines := convert_to(format(E'authority %s\n', a.authority), 'UTF8')
		        || coalesce((SELECT convert_to(string_agg(format(E'key %s %s %s %s %s %s %s\n', a.authority,
		                                               translate(encode(convert_to(k.key_id, 'UTF8'), 'base64'), E'\n', ''),
		                                               k.algorithm, translate(encode(k.public_key, 'base64'), E'\n', ''),
		                                               -- before 1970 is written 0: the format has no sign
		                                               greatest(hcledger.unix_seconds(k.valid_from), 0),
		                                               -- valid until: the next whole second (verify_code compares it exactly)
		                                               coalesce((CASE WHEN k.valid_until IS NOT NULL
		                                                              THEN greatest(hcledger.unix_seconds(k.valid_until)
		                                                                            + CASE WHEN isfinite(k.valid_until) AND k.valid_until
		                                                                                        > to_timestamp(hcledger.unix_seconds(k.valid_until))
		                                                                                   THEN 1 ELSE 0 END, 0) END)::text, '-'),
		                                               coalesce((CASE WHEN k.revoked_at IS NOT NULL
		                                                              THEN greatest(hcledger.unix_seconds(k.revoked_at), 0) END)::text, '-')),
		                                        '' ORDER BY k.key_id COLLATE "C"), 'UTF8')
		                       FROM hcledger.keys k WHERE k.authority = a.authority), '')
		        || CASE WHEN a.checkpoint IS NULL THEN '' ELSE
		           convert_to(format(E'checkpoint %s %s\n', a.authority,
		                             translate(encode(convert_to(a.checkpoint, 'UTF8'), 'base64'), E'\n', '')), 'UTF8') END;
		RETURN NEXT;
	END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION trust_bundle_parts() FROM PUBLIC;

-- The trust bundle ("The trust bundle"): a signed note naming the exporting
-- authority, the export time and the SHA-256 of the body, then the body:
-- the authorities, their keys, each one's latest checkpoint here and its
-- status snapshot.  Each snapshot it signs is first recorded in this
-- node's codes ledger ("Snapshots in the ledger"): a snapshot entry with
-- its salt and hash, which the sealer puts under the next checkpoint and
-- the consortium carries to every member, so that no bundle carries an
-- unlogged snapshot and any member can check one (check_status_snapshot).
CREATE FUNCTION trust_bundle() RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me text := hcledger.local_authority();
	t bigint := hcledger.unix_seconds(clock_timestamp());
	origin text := 'hcledger-bundle/' || me;
	body bytea := '';
	parts record;
	h record;
	text_part text;
	note text;
BEGIN
	IF hcledger.signing_public_key() IS NULL THEN
		RAISE EXCEPTION 'this node has no signing key: a trust bundle must be signed'
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set hcledger.signing_key_file.';
	END IF;
	PERFORM hcledger.codes_ledger();
	-- one call: every part read from one snapshot of the database
	SELECT array_agg(p.authority ORDER BY p.authority COLLATE "C") AS authorities,
	       array_agg(p.lines ORDER BY p.authority COLLATE "C") AS lines,
	       array_agg(p.snapshot ORDER BY p.authority COLLATE "C") AS snapshots
	  INTO parts FROM hcledger.trust_bundle_parts() p;
	FOR i IN 1 .. coalesce(array_length(parts.authorities, 1), 0) LOOP
		h := hcledger.status_snapshot_header(parts.snapshots[i]);
		INSERT INTO hcledger.codes (entry, credential_id, authority, at, commitment, reason)
		VALUES ('snapshot', h.salt, me, to_timestamp(h.made_at), sha256(parts.snapshots[i]), parts.authorities[i]);
		body := body || parts.lines[i]
		        || convert_to(format(E'snapshot %s %s\n', parts.authorities[i], length(parts.snapshots[i])), 'UTF8')
		        || parts.snapshots[i];
	END LOOP;
	text_part := format(E'%s\n%s\n%s\nhcledger-time %s\n', origin, t,
	                    translate(encode(sha256(body), 'base64'), E'\n', ''), t);
	note := text_part || E'\n' || E'\u2014 ' || origin || ' '
	        || translate(encode(substr(sha256(convert_to(origin, 'UTF8') || '\x0a01'::bytea || hcledger.signing_public_key()), 1, 4)
	                            || hcledger.node_sign(convert_to(text_part, 'UTF8')), 'base64'), E'\n', '') || E'\n';
	RETURN convert_to(format(E'hcledger-bundle/1\n%s\n', octet_length(note)) || note, 'UTF8') || body;
END $$;
COMMENT ON FUNCTION trust_bundle() IS 'what an offline verifier needs, signed by this node: authorities, keys, checkpoints and status snapshots, each snapshot first recorded in the codes ledger (docs/offline-verification.md)';
REVOKE EXECUTE ON FUNCTION trust_bundle() FROM PUBLIC;
-- an administrator's: it signs with the node's key and writes to the ledger
GRANT EXECUTE ON FUNCTION trust_bundle() TO hcledger_admin;

-- A status snapshot's header and entries, read from its bytes (src/status_snapshot.c).
CREATE FUNCTION status_snapshot_header(snapshot bytea, OUT authority text, OUT as_of bigint, OUT made_at bigint,
	OUT tree_size bigint, OUT missing_rows bigint, OUT salt bytea, OUT entries bigint)
	AS 'MODULE_PATHNAME', 'hcl_status_snapshot_header' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION status_snapshot_header(bytea) IS 'a status snapshot''s header: its authority, times, tree size, missing rows, salt and entry count';
CREATE FUNCTION status_snapshot_entries(snapshot bytea) RETURNS TABLE (entry bytea, state integer, revoked_at bigint)
	AS 'MODULE_PATHNAME', 'hcl_status_snapshot_entries' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION status_snapshot_entries(bytea) IS 'a status snapshot''s entries: key and check (8 bytes), state byte, revocation time (unix microseconds)';
REVOKE EXECUTE ON FUNCTION status_snapshot_header(bytea) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION status_snapshot_entries(bytea) FROM PUBLIC;

-- Check a status snapshot ("Checking a snapshot"): is it recorded in a
-- ledger here (this node's, or a member's as replicated), and does it
-- agree with this node's copy of its authority's log up to its tree size?
-- Agreeing means: every code issued in that prefix and unexpired when the
-- snapshot was made has an entry, and no entry that could make it valid
-- offline shows it greener than the prefix's latest colour, or hides or
-- moves a revocation the prefix holds.
CREATE FUNCTION check_status_snapshot(snapshot bytea)
RETURNS TABLE (verdict text, authority text, made_at timestamptz, tree_size bigint, committed_by text,
	commitment_row bigint, commitment_sealing text, codes_checked bigint, problems bigint, first_problem text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off SET jit = off		-- as current_code_states
AS $$
DECLARE
	me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	codes_id integer := (SELECT l.ledger_id FROM hcledger.ledgers l
	                      WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL);
	h record;
	m hcledger.members;
	w record;
	have bigint;
	t timestamptz;
	res record;
BEGIN
	h := hcledger.status_snapshot_header(snapshot);
	authority := h.authority;
	made_at := to_timestamp(h.made_at);
	tree_size := h.tree_size;
	t := made_at;

	-- the record of it: a snapshot entry with its salt, hash and authority
	SELECT x.authority, x.hcl_row INTO w FROM hcledger.codes x
	 WHERE x.entry = 'snapshot' AND x.credential_id = h.salt AND x.commitment = sha256(snapshot)
	   AND x.reason = h.authority AND x.authority = me
	 ORDER BY x.hcl_row LIMIT 1;
	IF FOUND THEN
		commitment_sealing := (SELECT s.state FROM hcledger.ledger_rows_states('hcledger.codes', ARRAY[w.hcl_row],
		                         coalesce((SELECT max(k.tree_size) FROM hcledger.checkpoints k
		                                    WHERE k.ledger_id = codes_id), 0)) s);
	ELSE
		SELECT x.authority, x.hcl_row INTO w FROM hcledger.peer_codes x
		 WHERE x.entry = 'snapshot' AND x.credential_id = h.salt AND x.commitment = sha256(snapshot)
		   AND x.reason = h.authority
		 ORDER BY (SELECT (hcledger.peer_rows_check(x.authority, ARRAY[x.hcl_row])).state = 'sealed') DESC, x.hcl_row
		 LIMIT 1;
		IF FOUND THEN
			commitment_sealing := (hcledger.peer_rows_check(w.authority, ARRAY[w.hcl_row])).state;
		END IF;
	END IF;
	committed_by := w.authority;
	commitment_row := w.hcl_row;

	-- this node's copy of the authority's log must reach the snapshot's tree size
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = h.authority;
	IF m.authority IS NOT NULL THEN
		have := m.tree_size;
	ELSIF h.authority = me THEN
		have := coalesce((SELECT max(k.tree_size) FROM hcledger.checkpoints k
		                   WHERE k.ledger_id = codes_id), 0);
	END IF;
	IF have IS NULL OR have < h.tree_size THEN
		verdict := 'cannot check';
		codes_checked := 0;
		problems := 0;
		first_problem := CASE WHEN have IS NULL
		                      THEN format('the log of "%s" does not reach this node', h.authority)
		                      ELSE format('this node has %s leaves of the log of "%s", the snapshot %s', have, h.authority, h.tree_size) END;
		RETURN NEXT;
		RETURN;
	END IF;

	WITH e AS MATERIALIZED (
		-- the authority's rows here, and whether each is in the log's first tree_size leaves, unchanged
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.hcl_row, NULL::bigint AS log_position
		  FROM hcledger.codes x WHERE m.authority IS NULL AND x.authority = me
		UNION ALL
		SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.commitment, x.valid_from, x.valid_until,
		       x.key_id, x.effective_at, x.hcl_row, l.log_position
		  FROM hcledger.peer_codes x
		  JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
		 WHERE x.authority = m.authority AND l.log_position < h.tree_size
		   AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, x) OPERATOR(hcledger.=) l.leaf_hash),
	home AS (
		SELECT s.row_number FROM hcledger.ledger_rows_states('hcledger.codes',
		         (SELECT coalesce(array_agg(e.hcl_row), '{}') FROM e WHERE m.authority IS NULL), h.tree_size) s
		 WHERE m.authority IS NULL AND s.state = 'sealed'),
	p AS MATERIALIZED (
		SELECT e.* FROM e WHERE m.authority IS NOT NULL
		UNION ALL
		SELECT e.* FROM e JOIN home ON home.row_number = e.hcl_row),
	iss AS (
		SELECT DISTINCT ON (p.credential_id) p.*
		  FROM p WHERE p.entry = 'issue'
		 ORDER BY p.credential_id, p.log_position NULLS LAST, p.hcl_row),
	cur AS MATERIALIZED (
		SELECT i.*,
		       substr(sha256(convert_to(E'hcledger-status-key/1\n', 'UTF8') || h.salt || i.credential_id), 1, 4)
		       || substr(sha256(convert_to(E'hcledger-status-check/1\n', 'UTF8') || h.salt || i.credential_id
		                        || i.commitment || convert_to(i.key_id, 'UTF8') || '\x0a'::bytea
		                        || int8send(hcledger.unix_seconds(i.at))
		                        || int8send(hcledger.unix_seconds(i.valid_from))
		                        || int8send(hcledger.unix_seconds(i.valid_until))), 1, 4) AS kc
		  FROM iss i WHERE i.valid_until > t),
	later AS (
		SELECT c.credential_id,
		       (array_agg(y.colour ORDER BY y.hcl_row DESC) FILTER (WHERE y.entry = 'status'))[1] AS status_colour,
		       (array_agg(y.effective_at ORDER BY y.hcl_row) FILTER (WHERE y.entry = 'revoke'))[1] AS revoke_at
		  FROM cur c JOIN p y ON y.credential_id = c.credential_id AND y.hcl_row > c.hcl_row AND y.authority = c.authority
		 GROUP BY c.credential_id),
	s AS MATERIALIZED (
		SELECT * FROM hcledger.status_snapshot_entries(snapshot)),
	judged AS (
		-- an entry "vouches" if the offline verifier could read it as valid:
		-- none of the bits pending, tampered, source tampered or unsure (216),
		-- and no rows missing
		SELECT c.credential_id,
		       CASE WHEN count(s.entry) = 0 THEN 'has no entry'
		            WHEN bool_or(l.revoke_at IS NOT NULL AND s.state & 216 = 0 AND h.missing_rows = 0
		                         AND (s.state & 4 = 0 OR s.revoked_at > hcledger.unix_micros(l.revoke_at)))
		              THEN format('is revoked from %s in the log, not as early in the snapshot', l.revoke_at)
		            WHEN bool_or(s.state & 216 = 0 AND h.missing_rows = 0
		                         AND s.state & 3 < array_position(ARRAY['green', 'yellow', 'red'], coalesce(l.status_colour, c.colour)) - 1)
		              THEN format('is %s in the log, greener in the snapshot', coalesce(l.status_colour, c.colour))
		       END AS problem
		  FROM cur c
		  LEFT JOIN later l ON l.credential_id = c.credential_id
		  LEFT JOIN s ON s.entry = c.kc
		 GROUP BY c.credential_id, c.colour, l.revoke_at, l.status_colour)
	SELECT count(*) AS n, count(j.problem) AS bad,
	       min(format('code %s %s', encode(j.credential_id, 'hex'), j.problem)) FILTER (WHERE j.problem IS NOT NULL) AS first
	  INTO res FROM judged j;
	codes_checked := res.n;
	problems := res.bad;
	first_problem := res.first;
	verdict := CASE WHEN res.bad > 0 THEN 'inconsistent'
	                WHEN committed_by IS NULL THEN 'not committed'
	                ELSE 'consistent' END;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION check_status_snapshot(bytea) IS 'is a status snapshot recorded in a ledger here, and does it agree with this node''s copy of its authority''s log? (docs/offline-verification.md)';
REVOKE EXECUTE ON FUNCTION check_status_snapshot(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION check_status_snapshot(bytea) TO hcledger_admin, hcledger_auditor;
