-- What a member gives its peers out of band: who it is, its log and its keys.
CREATE FUNCTION member_card() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT jsonb_build_object(
		'hcledger_member', 1,
		'authority', a.authority,
		'display_name', a.display_name,
		'origin', l.origin,
		'verifier_key', hcledger.verifier_key(l.origin, hcledger.signing_public_key()),
		'connection', a.connection,
		'publications', jsonb_build_array('hcledger_feed', 'hcledger_keys'),
		-- its checkpoints carry an SM2 line (hcledger.sm2_key_file), by this registered key
		'checkpoint_sm2', hcledger.sm2_public_key() IS NOT NULL,
		'checkpoint_sm2_key_id', (SELECT k.key_id FROM hcledger.keys k
		                           WHERE k.authority = a.authority AND k.algorithm = 'sm2'
		                             AND k.public_key = hcledger.sm2_public_key() AND k.revoked_at IS NULL
		                           ORDER BY k.valid_from DESC, k.key_id LIMIT 1),
		'keys', (SELECT coalesce(jsonb_agg(jsonb_build_object(
		                  'key_id', k.key_id, 'algorithm', k.algorithm, 'public_key', encode(k.public_key, 'hex'),
		                  'valid_from', k.valid_from, 'valid_until', k.valid_until,
		                  'revoked_at', k.revoked_at, 'revocation_reason', k.revocation_reason) ORDER BY k.key_id), '[]')
		           FROM hcledger.keys k WHERE k.authority = a.authority))
	  FROM hcledger.authorities a, hcledger.ledgers l
	 WHERE a.is_local AND l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL
$$;
COMMENT ON FUNCTION member_card() IS 'this authority''s card for its peers: name, log origin, connection details, public keys and whether its checkpoints carry an SM2 line (nothing secret)';

CREATE FUNCTION local_authority() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE me text := (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local);
BEGIN
	IF me IS NULL THEN
		RAISE EXCEPTION 'this database is no authority' USING ERRCODE = 'object_not_in_prerequisite_state',
			HINT = 'An administrator registers it with hcledger.add_authority(name, display_name, true).';
	END IF;
	RETURN me;
END $$;

CREATE FUNCTION publish(connection text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	ledger integer;
BEGIN
	IF current_setting('wal_level') <> 'logical' THEN
		RAISE EXCEPTION 'publishing needs wal_level = logical, not %', current_setting('wal_level')
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Set it in postgresql.conf and restart the server.';
	END IF;
	IF NOT EXISTS (SELECT FROM hcledger.keys k WHERE k.authority = me AND k.algorithm = 'ed25519'
	               AND k.public_key = hcledger.signing_public_key() AND k.revoked_at IS NULL
	               AND k.valid_from <= now() AND (k.valid_until IS NULL OR k.valid_until > now())) THEN
		RAISE EXCEPTION 'the key of hcledger.signing_key_file is not a registered, valid ed25519 key of authority "%"', me
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'Peers check checkpoints and cosignatures against it: hcledger.add_key(authority, key_id, ''ed25519'', hcledger.signing_public_key()).';
	END IF;
	IF hcledger.sm2_public_key() IS NOT NULL
	   AND NOT EXISTS (SELECT FROM hcledger.keys k WHERE k.authority = me AND k.algorithm = 'sm2'
	                   AND k.public_key = hcledger.sm2_public_key() AND k.revoked_at IS NULL
	                   AND k.valid_from <= now() AND (k.valid_until IS NULL OR k.valid_until > now())) THEN
		RAISE EXCEPTION 'the key of hcledger.sm2_key_file is not a registered, valid sm2 key of authority "%"', me
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'With hcledger.sm2_key_file set, every checkpoint carries an SM2 signature line, and the card tells peers to require it.',
			      HINT = 'Peers check that line against it: hcledger.add_key(authority, key_id, ''sm2'', hcledger.sm2_public_key()); or clear hcledger.sm2_key_file.';
	END IF;
	UPDATE hcledger.authorities a SET connection = publish.connection WHERE a.authority = me;
	ledger := hcledger.codes_ledger();
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname = 'hcledger_feed') THEN
		EXECUTE format('CREATE PUBLICATION hcledger_feed FOR TABLE hcledger.codes,'
		               ' hcledger.checkpoints WHERE (ledger_id = %s), hcledger.cosignatures WHERE (witness = %L)'
		               ' WITH (publish = ''insert'')', ledger, me);
		EXECUTE format('CREATE PUBLICATION hcledger_keys FOR TABLE hcledger.keys WHERE (authority = %L)'
		               ' WITH (publish = ''insert, update, delete'')', me);
		INSERT INTO hcledger.member_events (authority, event) VALUES (me, 'published');
	END IF;
	RETURN hcledger.member_card();
END $$;
COMMENT ON FUNCTION publish(text) IS 'publish this authority''s ledger, checkpoints, cosignatures and keys (publications hcledger_feed and hcledger_keys); returns its card';

CREATE FUNCTION admit_member(authority text) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE slot text := hcledger.member_slot(authority);
BEGIN
	IF authority IS NULL THEN
		RAISE EXCEPTION 'authority must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- a slot must be made before this transaction writes anything; on PostgreSQL 17+ a
	-- failover slot, which a standby with sync_replication_slots keeps for after a failover
	IF current_setting('server_version_num')::integer >= 170000 THEN
		EXECUTE 'SELECT pg_catalog.pg_create_logical_replication_slot($1, ''pgoutput'', false, false, true)' USING slot;
	ELSE
		PERFORM pg_catalog.pg_create_logical_replication_slot(slot, 'pgoutput');
	END IF;
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (authority, 'admitted', 'slot ' || slot);
	RETURN slot;
END $$;
COMMENT ON FUNCTION admit_member(text) IS 'let a member subscribe to this authority''s publications: makes its replication slot (run before it joins)';

CREATE FUNCTION dismiss_member(authority text, reason text) RETURNS void
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
COMMENT ON FUNCTION dismiss_member(text, text) IS 'stop serving a member: drops its replication slot, recorded';

-- The tables a subscription would write beyond the four a member may send
-- (NULL if none): pg_subscription_rel, as CREATE or ALTER SUBSCRIPTION ...
-- REFRESH PUBLICATION filled it.
CREATE FUNCTION subscription_extra_tables(sub name) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT string_agg(r.srrelid::regclass::text, ', ' ORDER BY r.srrelid::regclass::text)
	  FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_subscription_rel r ON r.srsubid = s.oid
	 WHERE s.subname = sub AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
	   AND r.srrelid NOT IN ('hcledger.codes'::regclass, 'hcledger.checkpoints'::regclass,
	                         'hcledger.cosignatures'::regclass, 'hcledger.keys'::regclass)
$$;
REVOKE EXECUTE ON FUNCTION subscription_extra_tables(name) FROM PUBLIC;

CREATE FUNCTION replicator_guard_active() RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_replicator_guard_active' LANGUAGE C STABLE;
COMMENT ON FUNCTION replicator_guard_active() IS 'whether this server refuses client connections as hcledger_replicator (hcledger in shared_preload_libraries)';

-- PostgreSQL 16+: every member's subscription belongs to hcledger_replicator,
-- a role without superuser rights that may write the four tables a member
-- sends and nothing else, and its apply worker runs as that role
-- (run_as_owner; the receiving triggers run as the extension's owner).  The
-- role can log in, as an apply worker's must, but no client may (src/
-- replicator.c), nobody holds it, and outside an apply worker its writes
-- are refused (hcl_own_writes).  The subscription connects as a
-- superuser's did (password_required = false: the connection string is set
-- by join_member only).  Makes the role when there is a subscription to
-- give it, and converts the subscriptions that are not its yet (made by
-- hcledger 0.2.0); returns how many.  PostgreSQL 15 lets only superusers
-- own subscriptions: there it changes nothing.
CREATE FUNCTION restrict_subscriptions() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r pg_catalog.pg_authid;
	subs name[];
	sub name;
BEGIN
	IF current_setting('server_version_num')::integer < 160000 THEN
		RAISE NOTICE 'PostgreSQL % lets only superusers own subscriptions: the apply workers run as their owner', current_setting('server_version')
			USING HINT = 'On PostgreSQL 16 or later, hcledger_replicator owns them.';
		RETURN 0;
	END IF;
	SELECT coalesce(array_agg(s.subname ORDER BY s.subname), '{}') INTO subs
	  FROM pg_catalog.pg_subscription s JOIN hcledger.members m ON m.subscription = s.subname
	 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
	   AND (pg_catalog.pg_get_userbyid(s.subowner) <> 'hcledger_replicator' OR s.subpasswordrequired OR NOT s.subrunasowner);
	IF cardinality(subs) = 0 THEN
		RETURN 0;
	END IF;
	IF NOT hcledger.replicator_guard_active() THEN
		RAISE EXCEPTION 'hcledger is not in shared_preload_libraries: nothing would keep clients from logging in as hcledger_replicator'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      HINT = 'A consortium member preloads hcledger (its sealer signs the checkpoints peers check): see docs/consortium.md, "Settings".';
	END IF;
	SELECT * INTO r FROM pg_catalog.pg_authid x WHERE x.rolname = 'hcledger_replicator';
	IF NOT FOUND THEN
		-- (an apply worker starts as its subscription's owner: LOGIN is required)
		CREATE ROLE hcledger_replicator LOGIN;
	ELSIF r.rolsuper OR r.rolbypassrls OR NOT r.rolcanlogin OR r.rolreplication OR r.rolcreaterole OR r.rolcreatedb
	      OR r.rolpassword IS NOT NULL
	      OR EXISTS (SELECT FROM pg_catalog.pg_auth_members a WHERE a.roleid = r.oid OR a.member = r.oid) THEN
		RAISE EXCEPTION 'role hcledger_replicator is not as hcledger made it'
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'Members'' changes are applied as it: it must be a LOGIN role without a password, superuser, BYPASSRLS, REPLICATION, CREATEROLE or CREATEDB, and without members or memberships.',
			      HINT = 'Drop the role or make it so; hcledger makes it when it is missing.';
	END IF;
	GRANT USAGE ON SCHEMA hcledger TO hcledger_replicator;
	-- (SELECT: an UPDATE or DELETE looks the row up by its replica identity)
	GRANT SELECT, INSERT, UPDATE, DELETE ON hcledger.codes, hcledger.checkpoints, hcledger.cosignatures, hcledger.keys TO hcledger_replicator;
	FOREACH sub IN ARRAY subs LOOP
		EXECUTE format('ALTER SUBSCRIPTION %I SET (password_required = false, run_as_owner = true)', sub);
		EXECUTE format('ALTER SUBSCRIPTION %I OWNER TO hcledger_replicator', sub);
	END LOOP;
	RETURN cardinality(subs);
END $$;
COMMENT ON FUNCTION restrict_subscriptions() IS 'PostgreSQL 16+: members'' subscriptions owned by hcledger_replicator, which writes the four consortium tables only (returns how many were changed)';
REVOKE EXECUTE ON FUNCTION restrict_subscriptions() FROM PUBLIC;
CREATE FUNCTION join_member(card jsonb, conninfo text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	me text := hcledger.local_authority();
	a text := card ->> 'authority';
	origin text := card ->> 'origin';
	sub text := 'hcledger_from_' || substr(hcledger.member_slot(a), 10);
	k jsonb;
	had hcledger.keys;
	was hcledger.members;
	extra text;
	sm2 boolean;
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
	IF jsonb_typeof(card -> 'checkpoint_sm2') NOT IN ('boolean', 'null') THEN
		RAISE EXCEPTION 'the card of "%" says checkpoint_sm2 is %, not true or false', a, card -> 'checkpoint_sm2'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	sm2 := coalesce((card ->> 'checkpoint_sm2')::boolean, false);
	IF sm2 AND NOT EXISTS (SELECT FROM jsonb_array_elements(card -> 'keys') e WHERE e ->> 'algorithm' = 'sm2'
	                       AND e ->> 'revoked_at' IS NULL) THEN
		RAISE EXCEPTION 'the card of "%" says its checkpoints carry an SM2 line but has no sm2 key to check it with', a
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'The peer registers its SM2 key (add_key with sm2_public_key()) and calls publish() again for a new card.';
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
	-- peers' rows are checked as rows of our own codes ledger: registered, even if we never issued
	PERFORM hcledger.codes_ledger();
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
		INSERT INTO hcledger.members (authority, origin, ledger_uuid, connection, subscription, checkpoint_sm2)
		VALUES (a, origin, decode(substr(origin, 25), 'hex'), card ->> 'connection', sub, sm2);
	ELSE
		UPDATE hcledger.members m SET left_at = NULL, connection = card ->> 'connection', joined_at = now(),
		       joined_by = session_user, checkpoint_sm2 = sm2
		 WHERE m.authority = a;
	END IF;
	-- made disabled: the tables it would write are checked before anything is received
	EXECUTE format('CREATE SUBSCRIPTION %I CONNECTION %L PUBLICATION hcledger_feed, hcledger_keys'
	               ' WITH (create_slot = false, slot_name = %L, copy_data = true, enabled = false)',
	               sub, conninfo, hcledger.member_slot(me));
	extra := hcledger.subscription_extra_tables(sub);
	IF extra IS NOT NULL THEN
		RAISE EXCEPTION 'the publications of "%" carry tables other than the consortium''s: %', a, extra
			USING ERRCODE = 'object_not_in_prerequisite_state',
			      DETAIL = 'A member publishes hcledger.codes, hcledger.checkpoints, hcledger.cosignatures and hcledger.keys, nothing else; the apply worker would write the others with a superuser''s rights.',
			      HINT = 'Nothing was joined. Ask the member to remove the other tables from its publications hcledger_feed and hcledger_keys.';
	END IF;
	IF current_setting('server_version_num')::integer >= 160000 THEN
		PERFORM hcledger.restrict_subscriptions();
	END IF;
	EXECUTE pg_catalog.format('ALTER SUBSCRIPTION %I ENABLE', sub);
	INSERT INTO hcledger.member_events (authority, event, detail) VALUES (a, 'joined', 'subscription ' || sub);
END $$;
COMMENT ON FUNCTION join_member(jsonb, text) IS 'register a member from its card and subscribe to its publications (it must have admitted us)';

CREATE FUNCTION leave_member(authority text, reason text) RETURNS void
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
COMMENT ON FUNCTION leave_member(text, text) IS 'stop receiving a member''s ledger: drops the subscription (its data here is kept), recorded; its codes no longer verify';

