--
-- Signing, the key registry, receipts (docs/receipts.md).
--
CREATE FUNCTION signing_public_key() RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_signing_public_key' LANGUAGE C STABLE;
COMMENT ON FUNCTION signing_public_key() IS 'the raw Ed25519 public key of hcledger.signing_key_file (NULL if none is set)';

-- A log's verifier key in the signed-note form of Go's golang.org/x/mod/sumdb/note
-- (NewEd25519VerifierKey): <name>+<key ID, 8 hex digits>+<base64 of 0x01 || key>,
-- the key ID SHA-256(<name> || 0x0a || 0x01 || key)[:4] (docs/format.md).
CREATE FUNCTION verifier_key(name text, public_key bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	b bytea := hcledger.name_bytes(name);
	valid boolean := true;
BEGIN
	-- The signed-note rules on the name's UTF-8: non-empty, valid, no
	-- plus, no Unicode space (Go's unicode.IsSpace), and here no control
	-- character either.  Matched on whole bytes of valid UTF-8, where a
	-- lead byte never appears inside another character.
	BEGIN
		PERFORM convert_from(b, 'UTF8');
	EXCEPTION WHEN character_not_in_repertoire OR untranslatable_character THEN
		valid := false;
	END;
	IF b = '' OR NOT valid
	   OR encode(b, 'hex') ~ '^(..)*?([01][0-9a-f]|20|2b|7f|c2[89][0-9a-f]|c2a0|e19a80|e2808[0-9a]|e280a[89f]|e2819f|e38080)' THEN
		RAISE EXCEPTION 'a note key name must be non-empty UTF-8, without spaces, plus signs or control characters: "%"', name
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF octet_length(public_key) <> 32 THEN
		RAISE EXCEPTION 'an Ed25519 public key is 32 bytes, not %', octet_length(public_key)
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'hcledger.public_key_raw(''ed25519'', key) turns a PEM or DER key into its 32 bytes.';
	END IF;
	RETURN name || '+' || encode(substring(sha256(b || '\x0a01'::bytea || public_key) FROM 1 FOR 4), 'hex')
	       || '+' || encode('\x01'::bytea || public_key, 'base64');
END $$;
COMMENT ON FUNCTION verifier_key(text, bytea) IS 'a signed-note verifier key, name+keyid+base64(0x01 || Ed25519 key), as Go''s note.NewEd25519VerifierKey makes it';

-- The verifier key of a ledger's checkpoints: its origin and the node's key.
CREATE FUNCTION ledger_verifier_key(ledger regclass) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
	SELECT hcledger.verifier_key(l.origin, hcledger.signing_public_key())
	  FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL
$$;
COMMENT ON FUNCTION ledger_verifier_key(regclass) IS 'the verifier key (signed-note form) of the ledger''s signed checkpoints: its origin and this node''s signing key (NULL without a key)';

CREATE FUNCTION public_key_raw(algorithm text, public_key bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hcl_public_key_raw_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION public_key_raw(text, bytea) IS 'a public key (PEM, DER or raw) as raw bytes: 32 for ed25519, the 65-byte uncompressed point for es256 and sm2';

CREATE TABLE keys (
	authority		text NOT NULL CHECK (authority ~ '^[^/[:space:]]+$'),
	key_id			text NOT NULL CHECK (key_id <> ''),
	algorithm		text NOT NULL CHECK (algorithm IN ('ed25519', 'es256', 'sm2')),
	public_key		bytea NOT NULL CHECK (length(public_key) = CASE algorithm WHEN 'ed25519' THEN 32 ELSE 65 END),
	valid_from		timestamptz NOT NULL,
	valid_until		timestamptz CHECK (valid_until > valid_from),
	revoked_at		timestamptz,
	revocation_reason text,
	added_at		timestamptz NOT NULL DEFAULT now(),
	added_by		name NOT NULL DEFAULT session_user,
	endorsed_by		text,
	endorsement		bytea CHECK (length(endorsement) = 64),
	PRIMARY KEY (authority, key_id)
);
COMMENT ON TABLE keys IS 'the key registry: which authority''s key is valid when (raw public keys)';
COMMENT ON COLUMN keys.endorsed_by IS 'the authority''s Ed25519 key (key_id) that signed this key''s current state (docs/consortium.md, "Key endorsements")';
COMMENT ON COLUMN keys.endorsement IS 'that key''s Ed25519 signature over key_statement() of this row: how peers accept a member''s key changes';
SELECT pg_catalog.pg_extension_config_dump('keys', '');
REVOKE ALL ON keys FROM PUBLIC;
GRANT SELECT ON keys TO PUBLIC;

CREATE FUNCTION add_key(authority text, key_id text, algorithm text, public_key bytea,
						valid_from timestamptz DEFAULT now(), valid_until timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF authority IS NULL OR key_id IS NULL OR algorithm IS NULL OR public_key IS NULL OR valid_from IS NULL THEN
		RAISE EXCEPTION 'authority, key_id, algorithm, public_key and valid_from must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF authority !~ '^[^/[:space:]]+$' THEN
		RAISE EXCEPTION 'authority "%" must be non-empty, without spaces or slashes', authority
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF valid_until IS NOT NULL AND valid_until <= valid_from THEN
		RAISE EXCEPTION 'valid_until (%) must be after valid_from (%)', valid_until, valid_from
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF EXISTS (SELECT FROM hcledger.keys k WHERE k.authority = add_key.authority AND k.key_id = add_key.key_id) THEN
		RAISE EXCEPTION 'authority "%" already has a key "%"', authority, key_id
			USING ERRCODE = 'unique_violation', HINT = 'Key ids are never reused; choose another.';
	END IF;
	INSERT INTO hcledger.keys (authority, key_id, algorithm, public_key, valid_from, valid_until)
	VALUES (authority, key_id, algorithm, hcledger.public_key_raw(algorithm, public_key), valid_from, valid_until);
END $$;
COMMENT ON FUNCTION add_key(text, text, text, bytea, timestamptz, timestamptz) IS 'register a public key of an authority, valid from valid_from until valid_until (admin only)';

CREATE FUNCTION rotate_key(authority text, new_key_id text, algorithm text, public_key bytea,
						   at timestamptz DEFAULT now(), replaces text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
	ids text;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- the key(s) of that algorithm valid at "at": one, or the one named
	SELECT count(*), string_agg(k.key_id, ', ' ORDER BY k.key_id) INTO n, ids FROM hcledger.keys k
	 WHERE k.authority = rotate_key.authority AND k.algorithm = rotate_key.algorithm
	   AND (replaces IS NULL OR k.key_id = replaces)
	   AND k.revoked_at IS NULL AND k.valid_from < at AND (k.valid_until IS NULL OR k.valid_until > at);
	IF n = 0 THEN
		RAISE EXCEPTION 'authority "%" has no % key%valid at % to rotate', authority, algorithm,
			coalesce(format(' "%s" ', replaces), ' '), at
			USING ERRCODE = 'no_data_found', HINT = 'Use hcledger.add_key() for a first key.';
	ELSIF n > 1 THEN
		-- an SM2 credential key and an SM2 node key, say: never end both
		RAISE EXCEPTION 'authority "%" has % % keys valid at % (%): name the one to retire', authority, n, algorithm, at, ids
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Call rotate_key(..., replaces => key_id).';
	END IF;
	UPDATE hcledger.keys k SET valid_until = at
	 WHERE k.authority = rotate_key.authority AND k.algorithm = rotate_key.algorithm
	   AND (replaces IS NULL OR k.key_id = replaces)
	   AND k.revoked_at IS NULL AND k.valid_from < at AND (k.valid_until IS NULL OR k.valid_until > at);
	PERFORM hcledger.add_key(authority, new_key_id, algorithm, public_key, at, NULL);
END $$;
COMMENT ON FUNCTION rotate_key(text, text, text, bytea, timestamptz, text) IS 'retire an authority''s current key of an algorithm (the one named by replaces, if it has several) at a time and make a new one valid from then (admin only)';

CREATE FUNCTION revoke_key(authority text, key_id text, at timestamptz DEFAULT now(), reason text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE k record;
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'at must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO k FROM hcledger.keys x
	 WHERE x.authority = revoke_key.authority AND x.key_id = revoke_key.key_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'authority "%" has no key "%"', authority, key_id USING ERRCODE = 'undefined_object',
			HINT = 'hcledger.keys lists each authority''s keys.';
	END IF;
	IF k.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'key "%" of authority "%" was already revoked at %', key_id, authority, k.revoked_at
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	UPDATE hcledger.keys x SET revoked_at = at, revocation_reason = reason
	 WHERE x.authority = revoke_key.authority AND x.key_id = revoke_key.key_id;
END $$;
COMMENT ON FUNCTION revoke_key(text, text, timestamptz, text) IS 'revoke a key: nothing it signed at or after "at" verifies (admin only)';

REVOKE EXECUTE ON FUNCTION add_key(text, text, text, bytea, timestamptz, timestamptz),
	rotate_key(text, text, text, bytea, timestamptz, text),
	revoke_key(text, text, timestamptz, text) FROM PUBLIC;

-- The statement an authority signs to vouch for one of its keys as it now
-- stands (docs/consortium.md, "Key endorsements"): every field, so that no
-- change of a key can reuse the signature of another state.
CREATE FUNCTION key_statement(authority text, key_id text, algorithm text, public_key bytea,
	valid_from timestamptz, valid_until timestamptz, revoked_at timestamptz, revocation_reason text)
RETURNS bytea LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT convert_to(
		E'hcledger-key/v1\n'
		|| 'authority ' || authority || E'\n'
		|| 'key-id ' || translate(encode(convert_to(key_id, 'UTF8'), 'base64'), E'\n', '') || E'\n'
		|| 'algorithm ' || algorithm || E'\n'
		|| 'public-key ' || translate(encode(public_key, 'base64'), E'\n', '') || E'\n'
		|| 'valid-from ' || (extract(epoch FROM valid_from) * 1000000)::bigint || E'\n'
		|| 'valid-until ' || coalesce(((extract(epoch FROM valid_until) * 1000000)::bigint)::text, '-') || E'\n'
		|| 'revoked-at ' || coalesce(((extract(epoch FROM revoked_at) * 1000000)::bigint)::text, '-') || E'\n'
		|| 'revocation-reason ' || coalesce(translate(encode(convert_to(revocation_reason, 'UTF8'), 'base64'), E'\n', ''), '-') || E'\n',
		'UTF8')
$$;
COMMENT ON FUNCTION key_statement(text, text, text, bytea, timestamptz, timestamptz, timestamptz, text) IS 'the bytes an authority signs to endorse a key''s state (docs/consortium.md, "Key endorsements")';

-- The endorsement of a local key as it stands: the node key's signature
-- (hcledger.signing_key_file, when that is a registered, unrevoked Ed25519
-- key of the local authority) over key_statement(), and that key's id;
-- NULLs if there is no such key.
CREATE FUNCTION key_endorsement(k hcledger.keys, OUT endorsed_by text, OUT endorsement bytea)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	SELECT x.key_id INTO endorsed_by FROM hcledger.keys x
	 WHERE x.authority = k.authority AND x.algorithm = 'ed25519' AND x.public_key = hcledger.signing_public_key()
	   AND (x.revoked_at IS NULL OR x.revoked_at > clock_timestamp())
	 ORDER BY x.valid_from DESC LIMIT 1;
	IF endorsed_by IS NOT NULL THEN
		endorsement := hcledger.node_sign(hcledger.key_statement(k.authority, k.key_id, k.algorithm, k.public_key,
		                   k.valid_from, k.valid_until, k.revoked_at, k.revocation_reason));
	END IF;
END $$;
REVOKE EXECUTE ON FUNCTION key_endorsement(hcledger.keys) FROM PUBLIC;

-- The local authority's keys are endorsed as they are written, when a
-- superuser writes them: the node key is a superuser's secret, and whoever
-- has it endorsed speaks for the authority at every peer.  A change made by
-- an administrator who is not a superuser is left unendorsed (peers refuse
-- it) until a superuser endorses it with endorse_key().  A first key has no
-- endorser: peers take it from the member's card.
CREATE FUNCTION endorse_local_key() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE e record;
BEGIN
	IF NOT EXISTS (SELECT FROM hcledger.authorities a WHERE a.is_local AND a.authority = NEW.authority) THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' AND (NEW.valid_until, NEW.revoked_at, NEW.revocation_reason, NEW.algorithm, NEW.public_key, NEW.valid_from)
	   IS NOT DISTINCT FROM (OLD.valid_until, OLD.revoked_at, OLD.revocation_reason, OLD.algorithm, OLD.public_key, OLD.valid_from) THEN
		RETURN NEW;		-- the state is unchanged: its endorsement stands (or is being set)
	END IF;
	NEW.endorsed_by := NULL;
	NEW.endorsement := NULL;
	IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user) THEN
		e := hcledger.key_endorsement(NEW);
		NEW.endorsed_by := e.endorsed_by;
		NEW.endorsement := e.endorsement;
	END IF;
	RETURN NEW;
END $$;
REVOKE EXECUTE ON FUNCTION endorse_local_key() FROM PUBLIC;

CREATE FUNCTION endorse_key(authority text, key_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k hcledger.keys;
	e record;
BEGIN
	SELECT * INTO k FROM hcledger.keys x
	 WHERE x.authority = endorse_key.authority AND x.key_id = endorse_key.key_id
	   AND x.authority = (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local) FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the local authority has no key "%" (authority "%")', key_id, authority USING ERRCODE = 'undefined_object',
			HINT = 'Only the local authority''s keys are endorsed here; hcledger.keys lists them.';
	END IF;
	e := hcledger.key_endorsement(k);
	IF e.endorsement IS NULL THEN
		RAISE EXCEPTION 'no node key to endorse with' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'hcledger.signing_key_file must hold a registered, unrevoked ed25519 key of the local authority.';
	END IF;
	UPDATE hcledger.keys x SET endorsed_by = e.endorsed_by, endorsement = e.endorsement
	 WHERE x.authority = k.authority AND x.key_id = k.key_id;
END $$;
REVOKE EXECUTE ON FUNCTION endorse_key(text, text) FROM PUBLIC;
COMMENT ON FUNCTION endorse_key(text, text) IS 'sign a local key''s current state with the node key, for peers to accept it (superusers only)';

CREATE FUNCTION verify_signature(authority text, message bytea, signature bytea, signed_at timestamptz,
								 key_id text DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(bool_or(CASE k.algorithm
	                          WHEN 'ed25519' THEN hcledger.ed25519_verify(k.public_key, message, signature)
	                          WHEN 'sm2' THEN hcledger.sm2_verify(k.public_key, message, signature)
	                          ELSE hcledger.ecdsa_p256_verify(k.public_key, message, signature) END), false)
	  FROM hcledger.keys k
	 WHERE k.authority = verify_signature.authority
	   AND (verify_signature.key_id IS NULL OR k.key_id = verify_signature.key_id)
	   AND k.valid_from <= signed_at AND (k.valid_until IS NULL OR signed_at < k.valid_until)
	   AND (k.revoked_at IS NULL OR signed_at < k.revoked_at)
$$;
COMMENT ON FUNCTION verify_signature(text, bytea, bytea, timestamptz, text) IS 'does a key of the authority valid (and not revoked) at signed_at verify the signature? (Ed25519, ES256 raw r||s, or SM2 raw r||s with the default identity)';

CREATE FUNCTION verify_checkpoint(checkpoint text, public_key bytea DEFAULT NULL, authority text DEFAULT NULL,
	OUT valid boolean, OUT reason text, OUT origin text, OUT tree_size bigint, OUT root hash256,
	OUT signed_at timestamptz, OUT authority text, OUT key_id text)
	AS 'MODULE_PATHNAME', 'hcl_verify_checkpoint' LANGUAGE C STABLE;
COMMENT ON FUNCTION verify_checkpoint(text, bytea, text) IS 'check a signed checkpoint note against public_key, or against the key registry (of one authority if given) at its time';
CREATE FUNCTION verify_checkpoint_sm2(checkpoint text, authority text, required boolean DEFAULT true,
	OUT valid boolean, OUT reason text, OUT key_id text)
	AS 'MODULE_PATHNAME', 'hcl_verify_checkpoint_sm2' LANGUAGE C STABLE;
COMMENT ON FUNCTION verify_checkpoint_sm2(text, text, boolean) IS 'check a signed checkpoint note''s SM2 lines against the authority''s registered sm2 keys at its time (required: one must verify, and no line under the origin''s name may be by an unregistered key)';

CREATE FUNCTION receipt_build(leaf bytea, leaf_hash hash256, leaf_index bigint, tree_size bigint,
							  proof hash256[], checkpoint text) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_receipt_build' LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION receipt_build(bytea, hash256, bigint, bigint, hash256[], text) IS 'the canonical JSON receipt of these parts (leaf NULL: a receipt of the hash alone)';

CREATE FUNCTION consistency_receipt_build(old_checkpoint text, new_checkpoint text, proof hash256[]) RETURNS text
	AS 'MODULE_PATHNAME', 'hcl_consistency_receipt_build' LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION consistency_receipt_build(text, text, hash256[]) IS 'the canonical JSON consistency receipt of these parts';

CREATE FUNCTION verify_receipt(receipt text, public_key bytea DEFAULT NULL, authority text DEFAULT NULL,
	OUT valid boolean, OUT reason text, OUT kind text, OUT origin text, OUT old_tree_size bigint,
	OUT tree_size bigint, OUT leaf_index bigint, OUT row_number bigint, OUT signed_at timestamptz,
	OUT authority text, OUT key_id text)
	AS 'MODULE_PATHNAME', 'hcl_verify_receipt' LANGUAGE C STABLE;
COMMENT ON FUNCTION verify_receipt(text, bytea, text) IS 'check a receipt (inclusion or consistency) against public_key, or against the key registry at the checkpoint''s time';

-- The signed checkpoint of a ledger at a size: an error if there is none.
CREATE FUNCTION signed_checkpoint(ledger regclass, tree_size bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE c record;
BEGIN
	SELECT k.note, k.tree_size INTO c FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
	 WHERE l.relid = ledger AND l.dropped_at IS NULL AND k.tree_size = signed_checkpoint.tree_size;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'ledger "%" has no checkpoint of tree size %', ledger, tree_size
			USING ERRCODE = 'no_data_found',
			      HINT = 'Receipts are made against checkpoints; see hcledger.checkpoints for the sizes.';
	END IF;
	IF c.note IS NULL THEN
		RAISE EXCEPTION 'the checkpoint of ledger "%" at tree size % is not signed', ledger, tree_size
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Set hcledger.signing_key_file; checkpoints made from then on are signed.';
	END IF;
	RETURN c.note;
END $$;
COMMENT ON FUNCTION signed_checkpoint(regclass, bigint) IS 'the signed note of the ledger''s checkpoint at tree_size';

CREATE FUNCTION ledger_receipt(ledger regclass, row_number bigint, tree_size bigint DEFAULT NULL,
							   with_leaf boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p record;
	note text;
BEGIN
	IF ledger IS NULL OR row_number IS NULL OR with_leaf IS NULL THEN
		RETURN NULL;
	END IF;
	IF tree_size IS NULL THEN
		SELECT max(k.tree_size) INTO tree_size FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
		 WHERE l.relid = ledger AND l.dropped_at IS NULL;
	END IF;
	p := hcledger.ledger_inclusion_proof(ledger, row_number, tree_size);
	note := hcledger.signed_checkpoint(ledger, p.tree_size);
	IF NOT EXISTS (SELECT FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
	               WHERE l.relid = ledger AND k.tree_size = p.tree_size AND k.root OPERATOR(hcledger.=) p.root) THEN
		RAISE EXCEPTION 'the Merkle log of ledger "%" does not match its checkpoint at tree size %', ledger, p.tree_size
			USING ERRCODE = 'data_corrupted', HINT = 'Run hcledger.verify_ledger() to locate the damage.';
	END IF;
	RETURN hcledger.receipt_build(CASE WHEN with_leaf THEN hcledger.row_leaf(ledger, row_number) END,
	                              p.leaf_hash, p.leaf_index, p.tree_size, p.proof, note);
END $$;
COMMENT ON FUNCTION ledger_receipt(regclass, bigint, bigint, boolean) IS 'a receipt (docs/receipts.md) proving a sealed row is in a signed checkpoint of the ledger (default: the latest)';

CREATE FUNCTION ledger_consistency_receipt(ledger regclass, old_size bigint, new_size bigint DEFAULT NULL)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF ledger IS NULL OR old_size IS NULL THEN
		RETURN NULL;
	END IF;
	IF new_size IS NULL THEN
		SELECT max(k.tree_size) INTO new_size FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
		 WHERE l.relid = ledger AND l.dropped_at IS NULL;
	END IF;
	RETURN hcledger.consistency_receipt_build(hcledger.signed_checkpoint(ledger, old_size),
	                                          hcledger.signed_checkpoint(ledger, new_size),
	                                          hcledger.ledger_consistency_proof(ledger, old_size, new_size));
END $$;
COMMENT ON FUNCTION ledger_consistency_receipt(regclass, bigint, bigint) IS 'a consistency receipt between two signed checkpoints of the ledger (new_size default: the latest)';

-- The same proof as ledger_receipt in the C2SP tlog-proof form (docs/receipts.md).
CREATE FUNCTION ledger_tlog_proof(ledger regclass, row_number bigint, tree_size bigint DEFAULT NULL,
                                  with_leaf boolean DEFAULT true)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
	SELECT E'c2sp.org/tlog-proof@v1\n'
	       || coalesce('extra ' || (r ->> 'leaf') || E'\n', '')
	       || 'index ' || (r ->> 'leaf_index') || E'\n'
	       || coalesce((SELECT string_agg(encode(decode(h, 'hex'), 'base64') || E'\n', '' ORDER BY i)
	                      FROM jsonb_array_elements_text(r -> 'proof') WITH ORDINALITY p(h, i)), '')
	       || E'\n' || (r ->> 'checkpoint')
	  FROM (SELECT hcledger.ledger_receipt(ledger, row_number, tree_size, with_leaf)::jsonb AS r) x
	 WHERE r IS NOT NULL
$$;
COMMENT ON FUNCTION ledger_tlog_proof(regclass, bigint, bigint, boolean) IS 'a C2SP tlog-proof that a sealed row is in a signed checkpoint of the ledger (default: the latest); extra: the row''s leaf';


CREATE FUNCTION ledger_row_at(ledger regclass, leaf_index bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'hcl_ledger_row_at' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION ledger_row_at(regclass, bigint) IS 'the row number sealed at a log position (for proofs and receipts by position)';

