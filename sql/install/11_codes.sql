--
-- Health codes (docs/health-codes.md): one ledger, hcledger.codes, of
-- issues, status changes and revocations; no personal data in it.
--

-- The four roles (cluster-wide, so made only if missing; kept on DROP EXTENSION).
DO $$
DECLARE r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['hcledger_admin', 'hcledger_issuer', 'hcledger_verifier', 'hcledger_auditor'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END $$;
GRANT USAGE ON SCHEMA hcledger TO hcledger_admin, hcledger_issuer, hcledger_verifier, hcledger_auditor;

CREATE TABLE authorities (
	authority		text PRIMARY KEY CHECK (authority ~ '^[^/[:space:][:cntrl:]]+$' AND octet_length(authority) <= 255),
	display_name	text NOT NULL,
	is_local		boolean NOT NULL DEFAULT false,
	added_at		timestamptz NOT NULL DEFAULT now(),
	added_by		name NOT NULL DEFAULT session_user
);
CREATE UNIQUE INDEX authorities_one_local ON authorities (is_local) WHERE is_local;
COMMENT ON TABLE authorities IS 'health authorities whose codes this database knows; the local one issues here';
SELECT pg_catalog.pg_extension_config_dump('authorities', '');
REVOKE ALL ON authorities FROM PUBLIC;
GRANT SELECT ON authorities TO PUBLIC;

CREATE FUNCTION add_authority(authority text, display_name text, is_local boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF authority IS NULL OR display_name IS NULL OR is_local IS NULL THEN
		RAISE EXCEPTION 'authority, display_name and is_local must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF authority !~ '^[^/[:space:][:cntrl:]]+$' OR octet_length(authority) > 255 THEN
		RAISE EXCEPTION 'authority "%" must be 1 to 255 bytes without spaces, slashes or control characters', authority
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = add_authority.authority) THEN
		RAISE EXCEPTION 'authority "%" is already registered', authority USING ERRCODE = 'unique_violation',
			HINT = 'Register its keys with hcledger.add_key; hcledger.authorities lists the authorities.';
	END IF;
	IF is_local AND EXISTS (SELECT FROM hcledger.authorities a WHERE a.is_local) THEN
		RAISE EXCEPTION 'this database already issues as authority "%"', (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local)
			USING ERRCODE = 'unique_violation', HINT = 'One database issues for one authority.';
	END IF;
	INSERT INTO hcledger.authorities (authority, display_name, is_local) VALUES (authority, display_name, is_local);
END $$;
COMMENT ON FUNCTION add_authority(text, text, boolean) IS 'register a health authority (is_local: the one this database issues as); admin only';

CREATE FUNCTION credential_public_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_credential_public_key' LANGUAGE C STABLE;
COMMENT ON FUNCTION credential_public_key() IS 'the raw public key (65-byte point, P-256 or SM2) of hcledger.credential_key_file (NULL if none is set)';
CREATE FUNCTION credential_key_algorithm() RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_credential_key_algorithm' LANGUAGE C STABLE;
COMMENT ON FUNCTION credential_key_algorithm() IS 'es256 or sm2: what the key of hcledger.credential_key_file signs codes with (NULL if none is set)';

CREATE FUNCTION canonical_claims(claims jsonb) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_canonical_claims_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION canonical_claims(jsonb) IS 'the canonical form of a health code''s claims (docs/health-codes.md, "Claims")';

CREATE FUNCTION code_issue_parts(claims jsonb, authority text, key_id text, issued_at timestamptz,
	valid_from timestamptz, valid_until timestamptz, selective boolean DEFAULT false,
	OUT credential_id bytea, OUT subject bytea, OUT commitment bytea, OUT signature bytea, OUT payload text)
	AS 'MODULE_PATHNAME', 'hcl_code_issue_parts' LANGUAGE C VOLATILE;
CREATE FUNCTION code_decode(payload text,
	OUT problem text, OUT authority text, OUT key_id text, OUT credential_id bytea, OUT issued_at timestamptz,
	OUT valid_from timestamptz, OUT valid_until timestamptz, OUT commitment bytea, OUT signature bytea,
	OUT message bytea, OUT algorithm text, OUT selective boolean, OUT disclosure_problem text)
	AS 'MODULE_PATHNAME', 'hcl_code_decode_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION code_decode(text) IS 'the fields of a health code payload and the message its issuer signed (problem: why it is not one; disclosure_problem: an HCL3: code disclosing a claim its issuer did not sign)';
CREATE FUNCTION code_message(authority text, key_id text, credential_id bytea, issued_at timestamptz,
	valid_from timestamptz, valid_until timestamptz, commitment bytea, algorithm text DEFAULT 'es256',
	selective boolean DEFAULT false) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_code_message_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION code_message(text, text, bytea, timestamptz, timestamptz, timestamptz, bytea, text, boolean) IS 'the message an authority signs for a credential, ES256 or SM2, HCL3: (selective) or not (docs/health-codes.md, "Credential")';
-- Does key (of algorithm, a code's) verify signature over a code's message?
CREATE FUNCTION code_signature_valid(algorithm text, public_key bytea, message bytea, signature bytea) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE algorithm WHEN 'es256' THEN hcledger.ecdsa_p256_verify(public_key, message, signature)
	                      WHEN 'sm2' THEN hcledger.sm2_verify(public_key, message, signature) END
$$;
COMMENT ON FUNCTION code_signature_valid(text, bytea, bytea, bytea) IS 'does the key verify a code''s ES256 or SM2 (default identity) signature? (NULL for another algorithm)';
CREATE FUNCTION code_claims(payload text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'hcl_code_claims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION code_claims(text) IS 'the claims a payload carries (the traveller''s own data, for display; of an HCL3: code, those it discloses); reads no table';
CREATE FUNCTION code_disclose(payload text, claims text[]) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_code_disclose' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION code_disclose(text, text[]) IS 'an HCL3: code presenting only the named claims (docs/health-codes.md, "Selective disclosure"); needs no key, reads no table';
CREATE FUNCTION pseudonym(authority text, document_number text) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_pseudonym_sql' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION pseudonym(text, text) IS 'the HMAC pseudonym of a document number (issuers only)';
CREATE FUNCTION ledger_rows_check(ledger regclass, rows bigint[], tree_size bigint,
	OUT state text, OUT row_number bigint)
	AS 'MODULE_PATHNAME', 'hcl_ledger_rows_check' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ledger_rows_check(regclass, bigint[], bigint) IS 'are these rows sealed within tree_size leaves and unchanged? (sealed, pending, missing or altered, and the row)';

-- The ledger of health codes.  Each row is one fact: a code issued, its
-- colour changed, its revocation, or a status snapshot this node put in a
-- trust bundle (its salt as credential_id, the SHA-256 of its bytes as
-- commitment, the authority it states as reason; docs/offline-verification.md).
-- Nothing is updated or deleted.
CREATE TABLE codes (
	entry			text NOT NULL CHECK (entry IN ('issue', 'status', 'revoke', 'snapshot')),
	credential_id	bytea NOT NULL CHECK (length(credential_id) = 16),
	authority		text NOT NULL,
	at				timestamptz NOT NULL,
	colour			text CHECK (colour IN ('green', 'yellow', 'red')),
	subject			bytea CHECK (length(subject) = 32),
	commitment		bytea CHECK (length(commitment) = 32),
	valid_from		timestamptz,
	valid_until		timestamptz,
	key_id			text,
	signature		bytea CHECK (length(signature) = 64),
	effective_at	timestamptz,
	reason			text,
	CONSTRAINT codes_entry_fields CHECK (CASE entry
		WHEN 'issue' THEN colour IS NOT NULL AND subject IS NOT NULL AND commitment IS NOT NULL
			AND valid_from IS NOT NULL AND valid_until > valid_from AND key_id IS NOT NULL
			AND signature IS NOT NULL AND effective_at IS NULL
		WHEN 'status' THEN colour IS NOT NULL AND subject IS NULL AND commitment IS NULL AND valid_from IS NULL
			AND valid_until IS NULL AND key_id IS NULL AND signature IS NULL AND effective_at IS NULL
		WHEN 'revoke' THEN colour IS NULL AND subject IS NULL AND commitment IS NULL AND valid_from IS NULL
			AND valid_until IS NULL AND key_id IS NULL AND signature IS NULL AND effective_at IS NOT NULL
			AND reason IS NOT NULL
		ELSE colour IS NULL AND subject IS NULL AND commitment IS NOT NULL AND valid_from IS NULL
			AND valid_until IS NULL AND key_id IS NULL AND signature IS NULL AND effective_at IS NULL
			AND reason IS NOT NULL END)
);
CREATE INDEX codes_credential ON codes (credential_id);
CREATE INDEX codes_subject ON codes (subject) WHERE subject IS NOT NULL;
COMMENT ON TABLE codes IS 'the health-code ledger: issues, status changes, revocations and status snapshots'' hashes (no personal data)';
-- Prepared as a ledger table now; registered (its uuid and origin made) at
-- first use, by codes_ledger(): so that a restore brings back the original
-- registration from the dump instead of clashing with a new one.  No row
-- check: only hcledger's functions write codes (nobody is granted INSERT).
SELECT prepare_ledger_table('codes', row_check => false);
SELECT pg_catalog.pg_extension_config_dump('codes', '');
-- the row numbers and catalog ids go on after a restore from where they were
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.codes', 'hcl_row')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.ledgers', 'ledger_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_get_serial_sequence('hcledger.ledger_events', 'event_id')::regclass, '');
REVOKE ALL ON codes FROM PUBLIC;
GRANT SELECT ON codes TO hcledger_auditor;
-- verify_ledger reads the row-number sequence too
DO $$ BEGIN
	EXECUTE format('GRANT SELECT ON SEQUENCE %s TO hcledger_auditor', pg_get_serial_sequence('hcledger.codes', 'hcl_row'));
END $$;

-- The codes ledger's id, registering it the first time (see above).
CREATE FUNCTION codes_ledger() RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE id integer := (SELECT l.ledger_id FROM hcledger.ledgers l
                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL);
BEGIN
	RETURN coalesce(id, hcledger.register_ledger('hcledger.codes'));
END $$;
REVOKE EXECUTE ON FUNCTION codes_ledger() FROM PUBLIC;

-- Sign and record a code of the local authority: claims, colour, issued at
-- t, valid from f until u, and for a converted code its provenance (the
-- issue row's reason; docs/health-codes.md, "Converting a member's code").
-- Inside issue_code and convert_code only.
CREATE FUNCTION issue_entry(claims jsonb, colour text, t timestamptz, f timestamptz, u timestamptz,
                            provenance text, selective boolean, OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	auth text;
	kid text;
	pub bytea := hcledger.credential_public_key();
	alg text := hcledger.credential_key_algorithm();
	p record;
BEGIN
	SELECT a.authority INTO auth FROM hcledger.authorities a WHERE a.is_local;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this database issues for no authority' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'An administrator registers it with hcledger.add_authority(name, display_name, true).';
	END IF;
	IF pub IS NULL THEN
		RAISE EXCEPTION 'hcledger.credential_key_file is not set' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'See docs/health-codes.md, "Deploying".';
	END IF;
	SELECT k.key_id INTO kid FROM hcledger.keys k
	 WHERE k.authority = auth AND k.algorithm = alg AND k.public_key = pub
	   AND date_trunc('second', k.valid_from) <= t AND (k.valid_until IS NULL OR t < date_trunc('second', k.valid_until))
	   AND (k.revoked_at IS NULL OR t < date_trunc('second', k.revoked_at));
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the key of hcledger.credential_key_file is not a registered, valid % key of authority "%"', alg, auth
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = format('An administrator registers it with hcledger.add_key(authority, key_id, %L, hcledger.credential_public_key()).', alg);
	END IF;
	p := hcledger.code_issue_parts(claims, auth, kid, t, f, u, selective);
	PERFORM hcledger.codes_ledger();
	INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment, valid_from,
	                            valid_until, key_id, signature, reason)
	VALUES ('issue', p.credential_id, auth, t, colour, p.subject, p.commitment, f, u, kid, p.signature, provenance);
	credential_id := p.credential_id;
	payload := p.payload;
END $$;
REVOKE EXECUTE ON FUNCTION issue_entry(jsonb, text, timestamptz, timestamptz, timestamptz, text, boolean) FROM PUBLIC;

CREATE FUNCTION issue_code(claims jsonb, colour text DEFAULT 'green', valid_for interval DEFAULT '7 days',
						   valid_from timestamptz DEFAULT now(), selective boolean DEFAULT false,
						   OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := date_trunc('second', clock_timestamp());	-- not a long transaction's start
	f timestamptz := date_trunc('second', valid_from);
	u timestamptz := date_trunc('second', date_trunc('second', valid_from) + valid_for);
BEGIN
	IF claims IS NULL OR colour IS NULL OR valid_for IS NULL OR valid_from IS NULL OR selective IS NULL THEN
		RAISE EXCEPTION 'claims, colour, valid_for, valid_from and selective must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF colour NOT IN ('green', 'yellow', 'red') THEN
		RAISE EXCEPTION 'colour must be green, yellow or red' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF u <= f THEN
		RAISE EXCEPTION 'valid_for must be at least one second' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF u <= t THEN
		RAISE EXCEPTION 'the code would have expired when issued (valid until %)', u USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Give a later valid_from or a longer valid_for.';
	END IF;
	SELECT e.credential_id, e.payload INTO credential_id, payload FROM hcledger.issue_entry(claims, colour, t, f, u, NULL, selective) e;
END $$;
COMMENT ON FUNCTION issue_code(jsonb, text, interval, timestamptz, boolean) IS 'issue a health code: records a commitment to the claims, never the claims; returns the traveller''s payload (selective: HCL3:, each claim disclosed or not on its own)';

-- The issue row of a local credential, locked against concurrent changes; errors if there is none.
CREATE FUNCTION local_code(credential_id bytea) RETURNS hcledger.codes
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE c hcledger.codes;
BEGIN
	IF credential_id IS NULL THEN
		RAISE EXCEPTION 'credential_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM pg_advisory_xact_lock(hashtextextended(encode(credential_id, 'hex'), 7305));
	SELECT * INTO c FROM hcledger.codes x
	 WHERE x.credential_id = local_code.credential_id AND x.entry = 'issue'
	   AND x.authority = (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this authority issued no health code %', encode(credential_id, 'hex') USING ERRCODE = 'no_data_found',
			HINT = 'A credential id is the 16 bytes verify_code and issue_code return; codes of other authorities are changed by them.';
	END IF;
	IF EXISTS (SELECT FROM hcledger.codes x WHERE x.credential_id = local_code.credential_id AND x.entry = 'revoke') THEN
		RAISE EXCEPTION 'health code % is revoked', encode(credential_id, 'hex') USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'A revoked code cannot change; issue a new one.';
	END IF;
	RETURN c;
END $$;
REVOKE EXECUTE ON FUNCTION local_code(bytea) FROM PUBLIC;

CREATE FUNCTION set_status(credential_id bytea, colour text, reason text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE c hcledger.codes;
BEGIN
	IF colour IS NULL OR colour NOT IN ('green', 'yellow', 'red') THEN
		RAISE EXCEPTION 'colour must be green, yellow or red' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	c := hcledger.local_code(credential_id);
	INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, reason)
	VALUES ('status', c.credential_id, c.authority, statement_timestamp(), colour, reason);
END $$;
COMMENT ON FUNCTION set_status(bytea, text, text) IS 'change a health code''s colour from now on (a new ledger entry)';

CREATE FUNCTION revoke_code(credential_id bytea, reason text, effective_at timestamptz DEFAULT now())
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE c hcledger.codes;
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required to revoke a health code' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF effective_at IS NULL THEN
		RAISE EXCEPTION 'effective_at must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	c := hcledger.local_code(credential_id);
	INSERT INTO hcledger.codes (entry, credential_id, authority, at, effective_at, reason)
	VALUES ('revoke', c.credential_id, c.authority, statement_timestamp(), effective_at, reason);
END $$;
COMMENT ON FUNCTION revoke_code(bytea, text, timestamptz) IS 'revoke a health code from effective_at on, for good (a new ledger entry)';

-- VOLATILE: each query in it takes a fresh snapshot, so a verdict is never
-- judged on the snapshot of a cursor or a long statement calling it.
-- What an authority's ledger, as it is here, says of one credential at time
-- t (verify_code's steps 4, 8 and 9 without the payload): its issue row, the
-- colour and revocation after it, whether those rows are sealed, and what
-- stands in the way for a member's code or a converted one.  Shared by
-- verify_code and the status snapshots (docs/offline-verification.md), so
-- that both read the ledger the same way.  issue_row is NULL if the ledger
-- has no issue row of this credential.
CREATE FUNCTION code_ledger_state(authority text, credential_id bytea, t timestamptz,
	OUT issue_row bigint, OUT recorded_authority text, OUT commitment bytea, OUT issued_at timestamptz, OUT valid_from timestamptz,
	OUT valid_until timestamptz, OUT key_id text, OUT colour text, OUT revoke_row bigint,
	OUT revoke_at timestamptz, OUT revoke_reason text, OUT sealing text, OUT sealing_row bigint,
	OUT checkpoint text, OUT member boolean, OUT missing_rows bigint, OUT stale_why text,
	OUT source_verdict text, OUT source_reason text, OUT source_colour boolean, OUT converted_from text,
	OUT source_revoke_at timestamptz)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e record;
	issued hcledger.codes;
	status_row bigint;
	revoked hcledger.codes;
	cp record;
	chk record;
	m hcledger.members;
	src record;
	src_state record;
BEGIN
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = code_ledger_state.authority;
	member := m.authority IS NOT NULL;
	-- the ledger's entries of this credential: our own, or a member's as
	-- replicated.  Its issue is the first in the log: a member's log may
	-- hold a late row numbered below rows sealed before it (docs/format.md,
	-- "Sealing order"), so a second issue numbered lower, sealed later,
	-- cannot take the place of the one peers saw first.  Then its status
	-- changes and revocation after it, in row-number order (each drawn after
	-- the one before it committed).
	FOR e IN SELECT y.entry, y.credential_id, y.authority, y.at, y.colour, y.subject, y.commitment, y.valid_from,
	                y.valid_until, y.key_id, y.signature, y.effective_at, y.reason, y.hcl_row
	           FROM (SELECT x.*, NULL::bigint AS log_position
	                   FROM hcledger.codes x WHERE m.authority IS NULL AND x.credential_id = code_ledger_state.credential_id
	                 UNION ALL
	                 SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.subject, x.commitment, x.valid_from,
	                        x.valid_until, x.key_id, x.signature, x.effective_at, x.reason, x.hcl_row, l.log_position
	                   FROM hcledger.peer_codes x
	                   LEFT JOIN hcledger.peer_leaves l ON l.authority = x.authority AND l.row_number = x.hcl_row
	                  WHERE x.authority = m.authority AND x.credential_id = code_ledger_state.credential_id) y
	          WHERE y.entry = 'issue'
	          ORDER BY y.log_position NULLS LAST, y.hcl_row LIMIT 1 LOOP
		issued := e;
		colour := e.colour;
		status_row := e.hcl_row;
	END LOOP;
	IF issued.hcl_row IS NULL THEN
		RETURN;
	END IF;
	FOR e IN SELECT x.* FROM hcledger.codes x WHERE m.authority IS NULL AND x.credential_id = code_ledger_state.credential_id
	         UNION ALL
	         SELECT x.entry, x.credential_id, x.authority, x.at, x.colour, x.subject, x.commitment, x.valid_from,
	                x.valid_until, x.key_id, x.signature, x.effective_at, x.reason, x.hcl_row
	           FROM hcledger.peer_codes x WHERE x.authority = m.authority AND x.credential_id = code_ledger_state.credential_id
	         ORDER BY hcl_row LOOP
		IF e.hcl_row <= issued.hcl_row OR e.authority <> issued.authority THEN
			CONTINUE;
		ELSIF e.entry = 'status' THEN
			colour := e.colour;
			status_row := e.hcl_row;
		ELSIF e.entry = 'revoke' AND revoked.hcl_row IS NULL THEN
			revoked := e;
		END IF;
	END LOOP;
	issue_row := issued.hcl_row;
	recorded_authority := issued.authority;
	commitment := issued.commitment;
	issued_at := issued.at;
	valid_from := issued.valid_from;
	valid_until := issued.valid_until;
	key_id := issued.key_id;
	revoke_row := revoked.hcl_row;
	revoke_at := revoked.effective_at;
	revoke_reason := revoked.reason;
	missing_rows := coalesce(m.missing_rows, 0);

	-- A code converted from another's (convert_code): what its source says here (revoked, tampered,
	-- incomplete, stale), and the worse of its own colour and its source's
	src := hcledger.code_provenance_parts(issued.reason);
	source_colour := false;
	IF src.source_authority IS NOT NULL THEN
		src_state := hcledger.code_source_state(src.source_authority, src.source_credential_id, issued.valid_until, t);
		source_revoke_at := src_state.revoked_from;
		source_verdict := src_state.verdict;
		source_reason := src_state.reason;
		IF array_position(ARRAY['green', 'yellow', 'red'], src_state.colour) > array_position(ARRAY['green', 'yellow', 'red'], colour) THEN
			colour := src_state.colour;
			source_colour := true;
		END IF;
		converted_from := format('converted from %s code %s (verified against its checkpoint of size %s)',
		                         src.source_authority, encode(src.source_credential_id, 'hex'), src.checkpoint_size);
	END IF;

	-- Are the facts used sealed under the latest signed checkpoint, unchanged?
	IF m.authority IS NULL THEN
		SELECT k2.note, k2.tree_size INTO cp FROM hcledger.checkpoints k2
		 WHERE k2.ledger_id = (SELECT l.ledger_id FROM hcledger.ledgers l
		                       WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL)
		 ORDER BY k2.tree_size DESC LIMIT 1;
		chk := hcledger.ledger_rows_check('hcledger.codes', ARRAY[issued.hcl_row, status_row, revoked.hcl_row],
		                                  coalesce(cp.tree_size, 0));
	ELSE
		-- a member's: under the last checkpoint of theirs accepted here
		SELECT m.checkpoint AS note, m.tree_size INTO cp;
		chk := hcledger.peer_rows_check(m.authority, ARRAY[issued.hcl_row, status_row, revoked.hcl_row]);
		stale_why := hcledger.member_state_stale(m.authority, t);
	END IF;
	checkpoint := cp.note;
	sealing := chk.state;
	sealing_row := chk.row_number;
END $$;
COMMENT ON FUNCTION code_ledger_state(text, bytea, timestamptz) IS 'what the ledger here says of one credential at a time: issue row, colour, revocation, sealing, and what stands in the way (verify_code''s ledger steps, shared with status snapshots)';

CREATE FUNCTION verify_code(payload text)
RETURNS TABLE (verdict text, colour text, reason text, authority text, valid_until timestamptz, checkpoint text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := clock_timestamp();	-- real time: never the start of the caller's transaction
	d record;
	k record;
	s record;
	left_at timestamptz;
BEGIN
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'verify_code cannot give a verdict in a % transaction', current_setting('transaction_isolation')
			USING ERRCODE = 'invalid_transaction_state',
			      DETAIL = 'Its snapshot is the transaction''s first: a revocation or status change committed since would not be seen.',
			      HINT = 'Call verify_code in a READ COMMITTED transaction (the default) or with autocommit.';
	END IF;
	d := hcledger.code_decode(payload);
	IF d.problem IS NOT NULL THEN
		RETURN QUERY SELECT 'invalid', NULL::text, d.problem, NULL::text, NULL::timestamptz, NULL::text;
		RETURN;
	END IF;
	authority := d.authority;
	IF NOT EXISTS (SELECT FROM hcledger.authorities a WHERE a.authority = d.authority) THEN
		verdict := 'unknown authority';
		reason := format('authority "%s" is not registered here', d.authority);
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT x.left_at INTO left_at FROM hcledger.members x WHERE x.authority = d.authority;
	IF left_at IS NOT NULL THEN
		verdict := 'unknown authority';
		reason := format('authority "%s" left the consortium at %s', d.authority, left_at);
		RETURN NEXT;
		RETURN;
	END IF;
	SELECT * INTO k FROM hcledger.keys x WHERE x.authority = d.authority AND x.key_id = d.key_id;
	IF NOT FOUND OR k.algorithm <> d.algorithm THEN
		reason := format('authority "%s" has no %s key "%s"', d.authority, d.algorithm, d.key_id);
	-- issued_at is a whole second; a key retired within it (rotate_key at
	-- now()) still signed the codes issued in that second before it
	ELSIF date_trunc('second', k.valid_from) > d.issued_at OR k.valid_until <= d.issued_at THEN
		reason := format('key "%s" was not valid when the code was issued (%s)', d.key_id, d.issued_at);
	ELSIF date_trunc('second', k.revoked_at) <= d.issued_at THEN
		reason := format('key "%s" was revoked at %s, at or before the second the code was issued', d.key_id, k.revoked_at);
	END IF;
	IF reason IS NOT NULL THEN
		verdict := 'bad signature';
		RETURN NEXT;
		RETURN;
	END IF;

	s := hcledger.code_ledger_state(d.authority, d.credential_id, t);
	IF hcledger.code_signature_valid(d.algorithm, k.public_key, d.message, d.signature) IS NOT TRUE THEN
		IF s.issue_row IS NOT NULL AND s.commitment <> d.commitment
		   AND hcledger.code_signature_valid(d.algorithm, k.public_key,
		         hcledger.code_message(d.authority, d.key_id, d.credential_id, d.issued_at, d.valid_from,
		                               d.valid_until, s.commitment, d.algorithm, d.selective), d.signature) THEN
			verdict := 'tampered';
			reason := 'the claims or salt are not those the authority signed';
		ELSE
			verdict := 'bad signature';
			reason := 'the issuer''s signature does not verify';
		END IF;
		RETURN NEXT;
		RETURN;
	END IF;
	IF s.issue_row IS NULL THEN
		verdict := 'not found';
		reason := format('the code is signed by "%s" but its ledger here has no record of it', d.authority);
		RETURN NEXT;
		RETURN;
	END IF;
	IF s.recorded_authority <> d.authority OR s.key_id <> d.key_id OR s.issued_at <> d.issued_at OR s.valid_from <> d.valid_from
	   OR s.valid_until <> d.valid_until OR s.commitment <> d.commitment THEN
		verdict := 'tampered';
		reason := format('ledger row %s does not record this code as it was signed', s.issue_row);
		RETURN NEXT;
		RETURN;
	END IF;
	-- an HCL3: code's shown claims: each must be one the authority signed a digest of
	IF d.disclosure_problem IS NOT NULL THEN
		verdict := 'tampered';
		reason := d.disclosure_problem;
		RETURN NEXT;
		RETURN;
	END IF;
	valid_until := d.valid_until;
	checkpoint := s.checkpoint;
	colour := s.colour;
	IF s.sealing IN ('altered', 'missing') THEN
		verdict := 'tampered';
		reason := format('ledger row %s does not match what was sealed', s.sealing_row)
		          || CASE WHEN s.member THEN format(' in the log of "%s"', d.authority) ELSE '' END;
		colour := NULL;
	ELSIF s.revoke_row IS NOT NULL AND s.revoke_at <= t THEN
		verdict := 'revoked';
		reason := s.revoke_reason || CASE WHEN s.sealing = 'pending' THEN ' (revocation not yet sealed)' ELSE '' END;
	ELSIF s.source_verdict = 'revoked' THEN
		verdict := 'revoked';
		reason := s.source_reason;
	ELSIF s.source_verdict = 'tampered' THEN
		verdict := 'tampered';
		reason := s.source_reason;
		colour := NULL;
	ELSIF t >= d.valid_until THEN
		verdict := 'expired';
		reason := format('valid until %s', d.valid_until);
	ELSIF t < d.valid_from THEN
		verdict := 'not yet valid';
		reason := format('valid from %s', d.valid_from);
	ELSIF s.source_verdict IS NOT NULL THEN
		-- its source here is incomplete or stale: a revocation of it may not have reached us
		verdict := s.source_verdict;
		reason := s.source_reason;
	ELSIF s.missing_rows > 0 THEN
		-- a partial view of the member's log: a withheld revocation may be among the missing rows
		verdict := 'incomplete';
		reason := format('the log of "%s" accepted here lacks %s sealed rows that have not arrived (or not as sealed); one may change this code',
		                 d.authority, s.missing_rows);
	ELSIF s.sealing = 'pending' OR s.checkpoint IS NULL THEN
		verdict := 'not yet sealed';
		reason := CASE WHEN s.sealing = 'pending'
		               THEN format('ledger row %s is not yet sealed under a checkpoint', s.sealing_row)
		               ELSE 'the ledger''s checkpoints are not signed' END;
	ELSIF s.stale_why IS NOT NULL THEN
		-- a member's word as old as its last sign of life here: a revocation since cannot be known
		verdict := 'stale';
		reason := s.stale_why;
	ELSE
		verdict := 'valid';
		IF s.revoke_row IS NOT NULL THEN
			reason := format('revocation scheduled for %s', s.revoke_at);
		END IF;
		-- what it was converted from, as its issuer recorded it (never the recorded text itself)
		reason := nullif(concat_ws('; ', reason, s.converted_from,
		                           CASE WHEN s.source_colour THEN format('the source is now %s', colour) END), '');
	END IF;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION verify_code(text) IS 'a border check: the verdict on a health code payload, its colour, and the signed checkpoint it was checked against';

REVOKE EXECUTE ON FUNCTION add_authority(text, text, boolean), code_issue_parts(jsonb, text, text, timestamptz, timestamptz, timestamptz, boolean),
	pseudonym(text, text), issue_code(jsonb, text, interval, timestamptz, boolean), set_status(bytea, text, text),
	revoke_code(bytea, text, timestamptz), verify_code(text), ledger_rows_check(regclass, bigint[], bigint),
	code_ledger_state(text, bytea, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION issue_code(jsonb, text, interval, timestamptz, boolean), set_status(bytea, text, text),
	revoke_code(bytea, text, timestamptz), pseudonym(text, text) TO hcledger_issuer;
GRANT EXECUTE ON FUNCTION verify_code(text) TO hcledger_verifier, hcledger_issuer, hcledger_auditor;
GRANT EXECUTE ON FUNCTION add_authority(text, text, boolean),
	add_key(text, text, text, bytea, timestamptz, timestamptz), rotate_key(text, text, text, bytea, timestamptz, text),
	revoke_key(text, text, timestamptz, text), seal_ledger(regclass), seal(regclass) TO hcledger_admin;

