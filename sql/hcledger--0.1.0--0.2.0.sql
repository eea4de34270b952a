-- hcledger 0.1.0 -> 0.2.0 (ALTER EXTENSION hcledger UPDATE).
-- What changed is listed in CHANGELOG.md; the policy is docs/upgrades.md.
-- test/t/006_upgrade.pl checks that a database updated by this script has
-- exactly the objects, definitions and privileges of a fresh 0.2.0 install,
-- and that every ledger filled under 0.1.0 still verifies.
\echo Use "ALTER EXTENSION hcledger UPDATE TO '0.2.0'" to load this file. \quit

-- The DDL guard reads the ledger catalog for everyone's DDL: in 0.1.0 a
-- role with no grant on schema hcledger could run no DDL at all in a
-- database with the extension ("permission denied for schema hcledger").
ALTER FUNCTION ddl_guard() SECURITY DEFINER;

-- Errors that say what to do next (a HINT): the functions below are as in
-- 0.2.0's install script.

CREATE OR REPLACE FUNCTION revoke_key(authority text, key_id text, at timestamptz DEFAULT now(), reason text DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION create_ledger(ledger regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	rel record;
	bad record;
	cols text[];
	types text[];
	order_by text;
	n bigint;
	uuid bytea := decode(md5(gen_random_uuid()::text || clock_timestamp()::text), 'hex');
	id integer;
	q text := ledger::text;
BEGIN
	SELECT c.relkind, c.relpersistence, c.relowner, n.nspname, c.relname INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ledger;
	IF rel.relkind <> 'r' THEN
		RAISE EXCEPTION 'cannot make "%" a ledger', q USING ERRCODE = 'wrong_object_type',
			DETAIL = 'Only ordinary tables can be ledgers; this is ' || CASE rel.relkind
				WHEN 'v' THEN 'a view' WHEN 'm' THEN 'a materialized view' WHEN 'p' THEN 'a partitioned table'
				WHEN 'f' THEN 'a foreign table' WHEN 'S' THEN 'a sequence' WHEN 'i' THEN 'an index'
				ELSE 'not a table' END || '.';
	END IF;
	IF rel.relpersistence <> 'p' THEN
		RAISE EXCEPTION 'cannot make "%" a ledger', q USING ERRCODE = 'wrong_object_type',
			DETAIL = 'Temporary and unlogged tables lose their rows; a ledger must keep them.';
	END IF;
	IF rel.nspname || rel.relname ~ '[[:cntrl:]/]' THEN
		RAISE EXCEPTION 'cannot make "%" a ledger', q USING ERRCODE = 'invalid_name',
			DETAIL = 'Its schema or table name contains a control character or "/", which cannot go into the checkpoint origin line.';
	END IF;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', q USING ERRCODE = 'insufficient_privilege',
			HINT = 'Run create_ledger as the table''s owner (or a superuser).';
	END IF;
	IF EXISTS (SELECT 1 FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL) THEN
		RAISE EXCEPTION 'table "%" is already a ledger', q USING ERRCODE = 'duplicate_object',
			HINT = 'The view hcledger.status shows its state; nothing needs doing.';
	END IF;
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ledger AND attname = 'hcl_row' AND NOT attisdropped) THEN
		RAISE EXCEPTION 'table "%" already has a column named hcl_row', q USING ERRCODE = 'duplicate_column',
			HINT = 'hcledger adds that column itself; rename yours first.';
	END IF;
	SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS typ, hcledger.ledger_type_problem(a.atttypid) AS why INTO bad
	FROM pg_attribute a WHERE a.attrelid = ledger AND a.attnum > 0 AND NOT a.attisdropped
	  AND hcledger.ledger_type_problem(a.atttypid) IS NOT NULL
	ORDER BY a.attnum LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'column "%" of type % cannot be part of a ledger', bad.attname, bad.typ
			USING ERRCODE = 'feature_not_supported', DETAIL = 'For a ledger, ' || bad.why || '.';
	END IF;
	SELECT array_agg(a.attname::text ORDER BY a.attname::text COLLATE "C"),
	       array_agg(tn.nspname || '.' || t.typname ORDER BY a.attname::text COLLATE "C")
	  INTO cols, types
	FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
	WHERE a.attrelid = ledger AND a.attnum > 0 AND NOT a.attisdropped;
	IF cols IS NULL THEN
		RAISE EXCEPTION 'table "%" has no columns to make a ledger of', q USING ERRCODE = 'invalid_table_definition',
			HINT = 'Add the columns the ledger records, then call create_ledger.';
	END IF;

	-- Existing rows get row numbers in primary key order (physical order without one).
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) INTO order_by
	FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
	WHERE i.indrelid = ledger AND i.indisprimary AND a.attrelid = ledger AND a.attnum = k.attnum;
	EXECUTE format('ALTER TABLE %s ADD COLUMN hcl_row bigint', q);
	EXECUTE format('UPDATE %1$s t SET hcl_row = o.n FROM (SELECT ctid, row_number() OVER (ORDER BY %2$s) AS n FROM %1$s) o WHERE t.ctid = o.ctid',
	               q, coalesce(order_by, 'ctid'));
	GET DIAGNOSTICS n = ROW_COUNT;
	EXECUTE format('ALTER TABLE %s ALTER COLUMN hcl_row SET NOT NULL, ALTER COLUMN hcl_row ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
	               q, n + 1);
	EXECUTE format('CREATE UNIQUE INDEX ON %s (hcl_row)', q);
	EXECUTE format('CREATE TRIGGER hcl_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION hcledger.refuse_change()', q);
	EXECUTE format('CREATE TRIGGER hcl_assign_xid BEFORE INSERT ON %s FOR EACH STATEMENT EXECUTE FUNCTION hcledger.assign_xid()', q);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER hcl_append_only, ENABLE ALWAYS TRIGGER hcl_assign_xid', q);

	INSERT INTO hcledger.ledgers (relid, ledger_uuid, origin, columns, column_types, table_shape)
	VALUES (ledger, uuid, format('hcledger/%s.%s/%s', rel.nspname, rel.relname, encode(uuid, 'hex')), cols, types,
	        hcledger.table_shape(ledger))
	RETURNING ledger_id INTO id;
	INSERT INTO hcledger.ledger_events (ledger_id, event) VALUES (id, 'created');
	RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION ledger_event(ledger regclass, event text, reason text) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE id integer;
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required for %', replace(event, '_', ' ')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'The reason is kept in hcledger.ledger_events.';
	END IF;
	SELECT l.ledger_id INTO id FROM hcledger.ledgers l WHERE l.relid = ledger AND l.dropped_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table "%" is not a ledger', ledger USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'Make it one with hcledger.create_ledger(table); hcledger.status lists the ledgers.';
	END IF;
	INSERT INTO hcledger.ledger_events (ledger_id, event, reason) VALUES (id, event, reason);
	RETURN id;
END
$$;

CREATE OR REPLACE FUNCTION add_authority(authority text, display_name text, is_local boolean DEFAULT false)
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

CREATE OR REPLACE FUNCTION issue_code(claims jsonb, colour text DEFAULT 'green', valid_for interval DEFAULT '7 days',
						   valid_from timestamptz DEFAULT now(), OUT credential_id bytea, OUT payload text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t timestamptz := date_trunc('second', now());
	f timestamptz := date_trunc('second', valid_from);
	u timestamptz := date_trunc('second', date_trunc('second', valid_from) + valid_for);
	auth text;
	kid text;
	pub bytea := hcledger.credential_public_key();
	p record;
BEGIN
	IF claims IS NULL OR colour IS NULL OR valid_for IS NULL OR valid_from IS NULL THEN
		RAISE EXCEPTION 'claims, colour, valid_for and valid_from must not be NULL' USING ERRCODE = 'null_value_not_allowed';
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
	 WHERE k.authority = auth AND k.algorithm = 'es256' AND k.public_key = pub
	   AND date_trunc('second', k.valid_from) <= t AND (k.valid_until IS NULL OR t < date_trunc('second', k.valid_until))
	   AND (k.revoked_at IS NULL OR t < date_trunc('second', k.revoked_at));
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the key of hcledger.credential_key_file is not a registered, valid es256 key of authority "%"', auth
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'An administrator registers it with hcledger.add_key(authority, key_id, ''es256'', hcledger.credential_public_key()).';
	END IF;
	p := hcledger.code_issue_parts(claims, auth, kid, t, f, u);
	INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour, subject, commitment, valid_from,
	                            valid_until, key_id, signature)
	VALUES ('issue', p.credential_id, auth, t, colour, p.subject, p.commitment, f, u, kid, p.signature);
	credential_id := p.credential_id;
	payload := p.payload;
END $$;

CREATE OR REPLACE FUNCTION local_code(credential_id bytea) RETURNS hcledger.codes
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

CREATE OR REPLACE FUNCTION dismiss_member(authority text, reason text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	slot text := hcledger.member_slot(authority);
	pid integer;
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required to dismiss a member' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = slot) THEN
		RAISE EXCEPTION 'authority "%" has no replication slot here (%)', authority, slot USING ERRCODE = 'undefined_object',
			HINT = 'hcledger.member_status shows each member; admit_member creates a slot.';
	END IF;
	FOR i IN 1 .. 50 LOOP
		SELECT s.active_pid INTO pid FROM pg_catalog.pg_replication_slots s WHERE s.slot_name = slot;
		EXIT WHEN pid IS NULL;
		PERFORM pg_catalog.pg_terminate_backend(pid, 1000);
		PERFORM pg_catalog.pg_sleep(0.1);
	END LOOP;
	PERFORM pg_catalog.pg_drop_replication_slot(slot);
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (authority, 'dismissed', reason);
END $$;

CREATE OR REPLACE FUNCTION join_member(card jsonb, conninfo text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	a text := card ->> 'authority';
	origin text := card ->> 'origin';
	sub text := 'hcledger_from_' || substr(hcledger.member_slot(a), 10);
	k jsonb;
	had hcledger.keys;
	was hcledger.members;
BEGIN
	IF card IS NULL OR conninfo IS NULL THEN
		RAISE EXCEPTION 'card and conninfo must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF jsonb_typeof(card) <> 'object' OR card -> 'hcledger_member' IS DISTINCT FROM '1'::jsonb OR a IS NULL
	   OR origin IS NULL OR origin !~ '^hcledger/hcledger\.codes/[0-9a-f]{32}$'
	   OR jsonb_typeof(card -> 'keys') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'this is not a member card' USING ERRCODE = 'invalid_parameter_value',
			HINT = 'A member''s card is what hcledger.publish() or hcledger.member_card() returns on its server.';
	END IF;
	IF a = me THEN
		RAISE EXCEPTION 'authority "%" is this database itself', a USING ERRCODE = 'invalid_parameter_value',
			HINT = 'Pass the card the peer''s hcledger.publish() returned, not this database''s own.';
	END IF;
	IF NOT EXISTS (SELECT FROM jsonb_array_elements(card -> 'keys') e WHERE e ->> 'algorithm' = 'ed25519'
	               AND e ->> 'revoked_at' IS NULL) THEN
		RAISE EXCEPTION 'the card of "%" has no ed25519 key to check its checkpoints with', a USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The peer registers its node key (add_key with signing_public_key()) and calls publish() again for a new card.';
	END IF;
	SELECT * INTO was FROM hcledger.members m WHERE m.authority = a;
	IF FOUND AND was.left_at IS NULL THEN
		RAISE EXCEPTION 'authority "%" is already a member', a USING ERRCODE = 'duplicate_object',
			HINT = 'To join again, leave_member(authority, reason) first.';
	END IF;
	IF FOUND AND was.origin <> origin THEN
		RAISE EXCEPTION 'authority "%" had log % when it left, and now shows %', a, was.origin, origin
			USING ERRCODE = 'invalid_parameter_value', HINT = 'A member''s log cannot change; check with the member.';
	END IF;
	IF NOT EXISTS (SELECT FROM hcledger.authorities x WHERE x.authority = a) THEN
		PERFORM hcledger.add_authority(a, coalesce(card ->> 'display_name', a), false);
	END IF;
	FOR k IN SELECT * FROM jsonb_array_elements(card -> 'keys') LOOP
		SELECT * INTO had FROM hcledger.keys x WHERE x.authority = a AND x.key_id = k ->> 'key_id';
		IF NOT FOUND THEN
			PERFORM hcledger.add_key(a, k ->> 'key_id', k ->> 'algorithm', decode(k ->> 'public_key', 'hex'),
			                         (k ->> 'valid_from')::timestamptz, (k ->> 'valid_until')::timestamptz);
			IF k ->> 'revoked_at' IS NOT NULL THEN
				PERFORM hcledger.revoke_key(a, k ->> 'key_id', (k ->> 'revoked_at')::timestamptz, k ->> 'revocation_reason');
			END IF;
		ELSIF had.public_key <> decode(k ->> 'public_key', 'hex') OR had.algorithm <> k ->> 'algorithm' THEN
			RAISE EXCEPTION 'key "%" of "%" is registered here with another public key', k ->> 'key_id', a
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Key ids are never reused; check with the member.';
		END IF;
	END LOOP;
	IF was.authority IS NULL THEN
		INSERT INTO hcledger.members (authority, origin, ledger_uuid, connection, subscription)
		VALUES (a, origin, decode(substr(origin, 25), 'hex'), card ->> 'connection', sub);
	ELSE
		UPDATE hcledger.members m SET left_at = NULL, connection = card ->> 'connection', joined_at = now(),
		       joined_by = session_user
		 WHERE m.authority = a;
	END IF;
	EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION hcledger_feed, hcledger_keys'
	               ' WITH (create_slot = false, slot_name = %L, copy_data = true)',
	               sub, conninfo, hcledger.member_slot(me));
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (a, 'joined', 'subscription ' || sub);
END $$;

CREATE OR REPLACE FUNCTION leave_member(authority text, reason text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE m hcledger.members;
BEGIN
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a reason is required to leave a member' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	SELECT * INTO m FROM hcledger.members x WHERE x.authority = leave_member.authority FOR UPDATE;
	IF NOT FOUND OR m.left_at IS NOT NULL THEN
		RAISE EXCEPTION 'authority "%" is not a member', authority USING ERRCODE = 'undefined_object',
			HINT = 'The view hcledger.members lists the members.';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_subscription s WHERE s.subname = m.subscription) THEN
		EXECUTE format('ALTER SUBSCRIPTION %I DISABLE', m.subscription);
		EXECUTE format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', m.subscription);
		EXECUTE format('DROP SUBSCRIPTION %I', m.subscription);
	END IF;
	UPDATE hcledger.members x SET left_at = now() WHERE x.authority = m.authority;
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (m.authority, 'left', reason);
END $$;

CREATE OR REPLACE FUNCTION acknowledge_refusal(refusal_id bigint, note text) RETURNS void
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
