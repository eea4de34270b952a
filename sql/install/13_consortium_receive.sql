-- The replica triggers: they run only as the logical replication apply worker
-- writes (ENABLE REPLICA), check what a member sent, keep it in the peer_*
-- tables (or the registry), and never let it into our own ledger.  They run
-- as the extension's owner (SECURITY DEFINER): on PostgreSQL 16+ the apply
-- worker itself runs as hcledger_replicator, which may write the four
-- consortium tables and nothing else (restrict_subscriptions).
CREATE FUNCTION receive_code() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	m hcledger.members;
	had hcledger.peer_codes;
	leaf hcledger.hash256;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		-- a ledger is append-only: never let a member's change reach a row here, ours least of all
		PERFORM hcledger.refuse_change_from('row', format('row %s of "%s"', OLD.hcl_row, OLD.authority),
		                                    format('a member may only add rows; its %s was not applied', TG_OP));
		RETURN NULL;
	END IF;
	m := hcledger.sending_member(NEW.authority, 'row', format('row %s', NEW.hcl_row));
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	-- locked before looking for its leaf, so that a checkpoint decided meanwhile counts the row either
	-- as missing (and it is counted off here) or as arrived, never neither
	PERFORM FROM hcledger.members x WHERE x.authority = m.authority FOR UPDATE;
	SELECT l.leaf_hash INTO leaf FROM hcledger.peer_leaves l WHERE l.authority = m.authority AND l.row_number = NEW.hcl_row;
	SELECT * INTO had FROM hcledger.peer_codes p WHERE p.authority = NEW.authority AND p.hcl_row = NEW.hcl_row;
	IF had.hcl_row IS NOT NULL THEN
		IF hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, had)
		   OPERATOR(hcledger.=) hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, NEW) THEN
			RETURN NULL;		-- the same row again (a re-copy)
		ELSIF leaf IS NOT NULL AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, had) OPERATOR(hcledger.<>) leaf
		      AND hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, NEW) OPERATOR(hcledger.=) leaf THEN
			-- the sealed row at last, where a copy that did not match its leaf was kept: it replaces it
			DELETE FROM hcledger.peer_codes p WHERE p.authority = NEW.authority AND p.hcl_row = NEW.hcl_row;
		ELSE
			PERFORM hcledger.refuse(m.authority, 'row', format('row %s', NEW.hcl_row),
			                        'it arrived again with other content; the first copy is kept');
			RETURN NULL;
		END IF;
	END IF;
	INSERT INTO hcledger.peer_codes SELECT (NEW).*;
	IF leaf IS NOT NULL THEN
		IF hcledger.peer_leaf_hash('hcledger.codes', m.ledger_uuid, NEW) OPERATOR(hcledger.=) leaf THEN
			-- a sealed row has arrived; one that does not match its leaf has not (a revocation
			-- withheld and replaced by another row must not count)
			UPDATE hcledger.members x SET missing_rows = greatest(x.missing_rows - 1, 0) WHERE x.authority = m.authority;
		ELSE
			PERFORM hcledger.refuse(m.authority, 'row', format('row %s', NEW.hcl_row),
			                        'its content does not match its leaf in the accepted log');
		END IF;
	END IF;
	RETURN NULL;
END $$;

CREATE FUNCTION receive_checkpoint() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	cp_origin text;
	a text;
	m hcledger.members;
	too_big text;
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM hcledger.refuse_change_from('checkpoint', format('checkpoint of size %s of %s', OLD.tree_size,
		                                                         split_part(OLD.body, E'\n', 1)),
		                                    format('a member may only add checkpoints; its %s was not applied', TG_OP));
		RETURN NULL;
	END IF;
	cp_origin := split_part(NEW.body, E'\n', 1);
	a := (SELECT x.authority FROM hcledger.members x WHERE x.origin = cp_origin);
	m := hcledger.sending_member(coalesce(a, cp_origin), 'checkpoint', format('checkpoint of size %s', NEW.tree_size));
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	-- sizes the format bounds, checked before any work in proportion to them
	-- (docs/format.md): at most 65,536 entries of 40 bytes, a note of a few lines
	too_big := CASE
		WHEN length(NEW.leaves) > 65536 * 40 THEN
			format('its published log entries are %s bytes, more than the 65,536 entries (2,621,440 bytes) a checkpoint may add',
			       length(NEW.leaves))
		WHEN octet_length(NEW.note) > 65536 THEN
			format('its signed note is %s bytes, more than the 65,536 a checkpoint note may have', octet_length(NEW.note))
		END;
	IF too_big IS NOT NULL THEN
		-- kept without the oversized parts, as refused
		INSERT INTO hcledger.peer_checkpoints (authority, tree_size, root, subscription, state, reason, decided_at)
		VALUES (m.authority, NEW.tree_size, NEW.root, hcledger.applying_subscription(), 'refused', too_big, clock_timestamp());
		PERFORM hcledger.refuse(m.authority, 'checkpoint', format('checkpoint of size %s', NEW.tree_size), too_big);
		RETURN NULL;
	END IF;
	INSERT INTO hcledger.peer_checkpoints (authority, tree_size, root, note, leaves, subscription)
	VALUES (m.authority, NEW.tree_size, NEW.root, NEW.note, NEW.leaves, hcledger.applying_subscription());
	PERFORM hcledger.member_advance(m.authority);
	RETURN NULL;
END $$;

-- Is public_key a key of algorithm in the raw form the registry keeps
-- (what add_key stores)?  Never an error.
CREATE FUNCTION key_usable(algorithm text, public_key bytea) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN hcledger.public_key_raw(algorithm, public_key) = public_key;
EXCEPTION WHEN invalid_parameter_value THEN
	RETURN false;
END $$;
REVOKE EXECUTE ON FUNCTION key_usable(text, bytea) FROM PUBLIC;

CREATE FUNCTION receive_key() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k hcledger.keys := CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	subject text := format('key %s', k.key_id);
	m hcledger.members;
	had hcledger.keys;
	why text;
BEGIN
	IF current_setting('hcledger_apply.own_write', true) = 'on' THEN
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	m := hcledger.sending_member(k.authority, 'key', subject);
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		why := 'keys are never deleted; the registered key is kept';
	ELSE
		IF TG_OP = 'INSERT' THEN
			SELECT * INTO had FROM hcledger.keys x WHERE x.authority = NEW.authority AND x.key_id = NEW.key_id;
		ELSE
			SELECT * INTO had FROM hcledger.keys x WHERE x.authority = OLD.authority AND x.key_id = OLD.key_id;
		END IF;
		IF had.key_id IS NOT NULL AND (had.authority, had.key_id, had.algorithm, had.public_key, had.valid_from)
		                              IS DISTINCT FROM (NEW.authority, NEW.key_id, NEW.algorithm, NEW.public_key, NEW.valid_from) THEN
			why := 'it differs from the registered key in algorithm, public key or start; the registered key is kept';
		ELSIF had.key_id IS NOT NULL AND (NEW.valid_until, NEW.revoked_at, NEW.revocation_reason)
		      IS NOT DISTINCT FROM (had.valid_until, had.revoked_at, had.revocation_reason) THEN
			RETURN NULL;		-- nothing new
		ELSIF had.key_id IS NOT NULL AND NEW.valid_until IS DISTINCT FROM had.valid_until
		      AND (NEW.valid_until IS NULL OR NEW.valid_until > had.valid_until) THEN
			why := 'a key''s validity can only be shortened';
		ELSIF had.revoked_at IS NOT NULL AND (NEW.revoked_at, NEW.revocation_reason) IS DISTINCT FROM (had.revoked_at, had.revocation_reason) THEN
			why := 'a revocation cannot be changed';
		ELSIF NOT hcledger.key_usable(NEW.algorithm, NEW.public_key) THEN
			-- a key no signature check can use would make every check of it an error
			why := format('its public key is not a valid %s key in raw form', NEW.algorithm);
		ELSIF NOT hcledger.key_endorsed(NEW) THEN
			-- a new key, or a change of one, is taken only on the word of a key the member already had
			why := CASE WHEN NEW.endorsement IS NULL THEN 'it is not signed by a key the member already had (no endorsement)'
			            ELSE format('it is not signed by a key the member already had (its endorsement by %s does not verify under a registered, unrevoked ed25519 key of "%s")',
			                        coalesce(NEW.endorsed_by, 'no key'), m.authority) END;
		ELSIF had.key_id IS NULL THEN
			INSERT INTO hcledger.member_events (authority, event, detail)
			VALUES (m.authority, 'key added', format('%s %s valid from %s, endorsed by %s', NEW.algorithm, NEW.key_id,
			                                          NEW.valid_from, NEW.endorsed_by));
			RETURN NEW;
		ELSE
			INSERT INTO hcledger.member_events (authority, event, detail)
			VALUES (m.authority, 'key changed', format('%s valid until %s, revoked at %s, endorsed by %s', NEW.key_id,
			        coalesce(NEW.valid_until::text, 'open'), coalesce(NEW.revoked_at::text, 'never'), NEW.endorsed_by));
			IF TG_OP = 'UPDATE' THEN
				RETURN NEW;
			END IF;
			PERFORM set_config('hcledger_apply.own_write', 'on', true);
			UPDATE hcledger.keys x SET valid_until = NEW.valid_until, revoked_at = NEW.revoked_at,
			       revocation_reason = NEW.revocation_reason, endorsed_by = NEW.endorsed_by, endorsement = NEW.endorsement
			 WHERE x.authority = NEW.authority AND x.key_id = NEW.key_id;
			PERFORM set_config('hcledger_apply.own_write', '', true);
			RETURN NULL;
		END IF;
	END IF;
	PERFORM hcledger.refuse(m.authority, 'key', subject, why);
	RETURN NULL;
END $$;

CREATE FUNCTION receive_cosignature() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subject text := format('cosignature of %s at size %s', left(NEW.origin, 200), NEW.tree_size);
	m hcledger.members;
	lines text[];
	had hcledger.cosignatures;
	why text;
BEGIN
	IF current_setting('hcledger_apply.own_write', true) = 'on' THEN
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		PERFORM hcledger.refuse_change_from('cosignature', format('cosignature by %s of %s at size %s', OLD.witness, OLD.origin, OLD.tree_size),
		                                    format('a member may only add cosignatures; its %s was not applied', TG_OP));
		RETURN NULL;
	END IF;
	m := hcledger.sending_member(NEW.witness, 'cosignature', subject);
	IF m.authority IS NULL THEN
		RETURN NULL;
	END IF;
	-- a checkpoint body is a few lines: refused before any work in proportion to its size
	IF octet_length(NEW.body) > 65536 THEN
		PERFORM hcledger.refuse(m.authority, 'cosignature', subject,
		                        format('the checkpoint body it signs is %s bytes, more than the 65,536 a checkpoint may have',
		                               octet_length(NEW.body)));
		RETURN NULL;
	END IF;
	lines := string_to_array(NEW.body, E'\n');
	IF lines[1] IS DISTINCT FROM NEW.origin OR lines[2] IS DISTINCT FROM NEW.tree_size::text
	   OR lines[3] IS DISTINCT FROM encode(NEW.root::bytea, 'base64') THEN
		why := 'its origin, size or root are not those of the checkpoint body it signs';
	ELSIF extract(epoch FROM NEW.cosigned_at) <> floor(extract(epoch FROM NEW.cosigned_at))
	      OR NOT hcledger.verify_signature(NEW.witness,
	               convert_to(format(E'cosignature/v1\ntime %s\n', extract(epoch FROM NEW.cosigned_at)::bigint) || NEW.body, 'UTF8'),
	               NEW.signature, NEW.cosigned_at) THEN
		why := 'its signature does not verify under the witness''s registered keys';
	ELSE
		SELECT * INTO had FROM hcledger.cosignatures x
		 WHERE x.witness = NEW.witness AND x.origin = NEW.origin AND x.tree_size = NEW.tree_size;
		IF NOT FOUND THEN
			-- our own root of that log at the cosigned size, where our accepted log reaches it
			INSERT INTO hcledger.peer_roots (authority, tree_size, root)
			SELECT o.authority, NEW.tree_size, hcledger.peer_root(o.authority, NEW.tree_size)
			  FROM hcledger.members o
			 WHERE o.origin = NEW.origin AND NEW.tree_size <= o.tree_size AND NEW.tree_size > 0
			ON CONFLICT DO NOTHING;
			RETURN NEW;
		END IF;
		IF had.root OPERATOR(hcledger.=) NEW.root THEN
			RETURN NULL;
		END IF;
		why := format('the witness cosigned another root for this size before (%s)', had.root);
	END IF;
	PERFORM hcledger.refuse(m.authority, 'cosignature', subject, why);
	RETURN NULL;
END $$;

-- Every other table of ours: the apply worker never writes it (join_member
-- subscribes to the four tables above only, and the DDL guard keeps it so);
-- should a subscription reach one anyway, what arrives is refused.
CREATE FUNCTION receive_nothing() RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_LEVEL = 'STATEMENT' THEN
		RAISE EXCEPTION 'hcledger refused a replicated % of %.%', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = format('Subscription %s may not change this table.', coalesce(hcledger.applying_subscription()::text, '(none)')),
			      HINT = 'A member publishes hcledger.codes, checkpoints, cosignatures and keys only; see docs/consortium.md.';
	END IF;
	IF pg_trigger_depth() > 1 THEN
		-- our own receiving triggers' writes
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	PERFORM hcledger.refuse_change_from('table', format('%s of %s.%s', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME),
	                                    'a member may write only hcledger.codes, checkpoints, cosignatures and keys');
	RETURN NULL;
END $$;

REVOKE EXECUTE ON FUNCTION receive_code(), receive_checkpoint(), receive_key(), receive_cosignature(), receive_nothing() FROM PUBLIC;
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON codes FOR EACH ROW EXECUTE FUNCTION receive_code();
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON checkpoints FOR EACH ROW EXECUTE FUNCTION receive_checkpoint();
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON keys FOR EACH ROW EXECUTE FUNCTION receive_key();
CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON cosignatures FOR EACH ROW EXECUTE FUNCTION receive_cosignature();
CREATE TRIGGER hcl_endorse BEFORE INSERT OR UPDATE ON keys FOR EACH ROW EXECUTE FUNCTION endorse_local_key();
ALTER TABLE codes ENABLE REPLICA TRIGGER hcl_receive;
ALTER TABLE checkpoints ENABLE REPLICA TRIGGER hcl_receive;
ALTER TABLE keys ENABLE REPLICA TRIGGER hcl_receive;
ALTER TABLE cosignatures ENABLE REPLICA TRIGGER hcl_receive;
DO $$
DECLARE t text;
BEGIN
	-- a replicated TRUNCATE can only be stopped with an error (the apply worker retries, the member's feed stalls)
	FOREACH t IN ARRAY ARRAY['checkpoints', 'keys', 'cosignatures', 'ledgers', 'tiles', 'log_runs', 'ledger_events', 'ledger_columns', 'dropped_values', 'authorities',
	                         'members', 'member_events', 'peer_codes', 'peer_leaves', 'peer_checkpoints', 'refusals', 'peer_roots'] LOOP
		EXECUTE format('CREATE TRIGGER hcl_receive_truncate BEFORE TRUNCATE ON hcledger.%I FOR EACH STATEMENT EXECUTE FUNCTION hcledger.receive_nothing()', t);
		EXECUTE format('ALTER TABLE hcledger.%I ENABLE REPLICA TRIGGER hcl_receive_truncate', t);
		IF t NOT IN ('checkpoints', 'keys', 'cosignatures') THEN
			EXECUTE format('CREATE TRIGGER hcl_receive BEFORE INSERT OR UPDATE OR DELETE ON hcledger.%I FOR EACH ROW EXECUTE FUNCTION hcledger.receive_nothing()', t);
			EXECUTE format('ALTER TABLE hcledger.%I ENABLE REPLICA TRIGGER hcl_receive', t);
		END IF;
	END LOOP;
END $$;

-- Outside an apply worker (session_replication_role = origin), the four
-- tables a member sends are written by hcledger's own functions only, as
-- the extension's owner, a superuser: whoever else holds write rights on
-- them (hcledger_replicator, and so a role that could act as it) is
-- refused.  Once per statement.
CREATE FUNCTION only_own_writes() RETURNS trigger
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user), false) THEN
		RAISE EXCEPTION 'only hcledger''s own functions write %.%', TG_TABLE_SCHEMA, TG_TABLE_NAME
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = format('Role %s is not a superuser; a member''s rows, checkpoints, cosignatures and keys arrive through its subscription only.', current_user);
	END IF;
	RETURN NULL;
END $$;
REVOKE EXECUTE ON FUNCTION only_own_writes() FROM PUBLIC;
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.codes FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.cosignatures FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();
CREATE TRIGGER hcl_own_writes BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hcledger.keys FOR EACH STATEMENT EXECUTE FUNCTION hcledger.only_own_writes();

-- A split view: two checkpoints of one log at the same size with different
-- roots, among our own, those we accepted, and those other witnesses cosigned.
CREATE VIEW split_views AS
WITH seen AS (
	SELECT c.witness, c.origin, c.tree_size, c.root FROM hcledger.cosignatures c
	UNION
	-- our accepted root of a member's log where another witness cosigned a size we never saw signed
	SELECT a.authority, m.origin, r.tree_size, r.root
	  FROM hcledger.peer_roots r JOIN hcledger.members m USING (authority) JOIN hcledger.authorities a ON a.is_local
	UNION
	SELECT a.authority, l.origin, k.tree_size, k.root
	  FROM hcledger.checkpoints k JOIN hcledger.ledgers l USING (ledger_id)
	  JOIN hcledger.authorities a ON a.is_local
	 WHERE l.relid = 'hcledger.codes'::regclass AND l.dropped_at IS NULL
), split AS (
	SELECT s.origin, s.tree_size FROM seen s GROUP BY s.origin, s.tree_size HAVING count(DISTINCT s.root) > 1
)
SELECT coalesce(m.authority, (SELECT a.authority FROM hcledger.authorities a WHERE a.is_local)) AS authority,
       s.origin, s.tree_size, x.root, array_agg(x.witness ORDER BY x.witness) AS witnesses
  FROM split s JOIN seen x ON x.origin = s.origin AND x.tree_size = s.tree_size
  LEFT JOIN hcledger.members m ON m.origin = s.origin
 GROUP BY m.authority, s.origin, s.tree_size, x.root;
COMMENT ON VIEW split_views IS 'logs shown with different histories: the same size cosigned (or sealed) with different roots, and who saw which';
GRANT SELECT ON split_views TO PUBLIC;

CREATE VIEW member_status AS
SELECT m.authority, a.display_name, m.subscription, s.subenabled AS enabled,
       st.last_msg_receipt_time AS last_received_at, m.tree_size AS accepted_size, m.accepted_at,
       (SELECT count(*) FROM hcledger.peer_checkpoints c WHERE c.authority = m.authority AND c.state = 'waiting') AS checkpoints_waiting,
       (SELECT count(*) FROM hcledger.refused r WHERE r.authority = m.authority) AS refused,
       m.left_at, m.missing_rows, ss.apply_error_count AS apply_errors,
       h.heard_at, date_trunc('second', clock_timestamp() - h.heard_at) AS state_age,
       m.left_at IS NULL AND hcledger.peer_max_age() > interval '0'
         AND (h.heard_at IS NULL OR clock_timestamp() - h.heard_at > hcledger.peer_max_age()) AS stale,
       pg_catalog.pg_get_userbyid(s.subowner) AS apply_role
  FROM hcledger.members m JOIN hcledger.authorities a USING (authority)
  CROSS JOIN LATERAL (SELECT hcledger.member_heard_at(m.authority) AS heard_at) h
  LEFT JOIN pg_catalog.pg_subscription s ON s.subname = m.subscription AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = current_database())
  LEFT JOIN pg_catalog.pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
  LEFT JOIN pg_catalog.pg_stat_subscription_stats ss ON ss.subid = s.oid;
COMMENT ON VIEW member_status IS 'each member: its subscription, how far its log is verified here, and what is waiting or refused';
GRANT SELECT ON member_status TO hcledger_admin, hcledger_auditor;

