-- Privileges review: as each role, what that role must not do is refused
-- with a permission error (SQLSTATE 42501) and changes nothing:
--  - a verifier reads no subject data and writes nothing;
--  - an auditor reads but appends to no ledger and signs nothing;
--  - an issuer issues but runs no administration;
--  - a writer (INSERT on a ledger table) cannot unlock DDL, drop the ledger,
--    switch triggers off or move the row-number sequence, even when it owns
--    the table;
--  - nobody but a superuser reads the key files or their paths, or changes
--    a setting that would point them elsewhere or stop the guards;
--  - search_path attacks on the SECURITY DEFINER functions fail: functions
--    and operators planted first in the caller's search_path, and temporary
--    tables named like the extension's, are never used by them.
-- It runs in a database of its own, so that what earlier test files left
-- (a revoked credential key, a damaged ledger) does not stand in its way.
CREATE DATABASE regress_privileges;
\c regress_privileges
CREATE EXTENSION pgtap;
CREATE EXTENSION hcledger;
SET search_path = public, hcledger;
SELECT plan(75);

CREATE ROLE regress_priv_verifier IN ROLE hcledger_verifier;
CREATE ROLE regress_priv_auditor IN ROLE hcledger_auditor;
CREATE ROLE regress_priv_issuer IN ROLE hcledger_issuer;
CREATE ROLE regress_priv_writer;
CREATE ROLE regress_priv_owner;
GRANT USAGE ON SCHEMA hcledger TO regress_priv_writer, regress_priv_owner;

-- The local authority and its credential key.
SELECT add_authority('regress-priv', 'Privileges Bureau', true);
SELECT add_key('regress-priv', 'es256-priv', 'es256', credential_public_key(), now() - interval '1 day');

-- A ledger the writer appends to, and one the owner owns.
CREATE TABLE priv_visits (id int NOT NULL, place text NOT NULL);
SELECT create_ledger('priv_visits');
GRANT SELECT, INSERT ON priv_visits TO regress_priv_writer;
GRANT CREATE ON SCHEMA public TO regress_priv_owner;
SET ROLE regress_priv_owner;
CREATE TABLE public.priv_owned (id int NOT NULL);
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_priv_owner;
SELECT create_ledger('priv_owned');

-- A code to look for, issued before any attack.
SET ROLE regress_priv_issuer;
CREATE TEMP TABLE priv_code AS
SELECT payload, credential_id FROM hcledger.issue_code('{"name": "Priv Traveller", "document_number": "PRIV0001",
	"birth_date": "1970-01-01", "test_result": "negative"}');
RESET ROLE;
SELECT seal();
CREATE TEMP TABLE priv_verdict AS SELECT * FROM hcledger.verify_code((SELECT payload FROM priv_code));
GRANT SELECT ON priv_code, priv_verdict TO PUBLIC;
SELECT is((SELECT verdict FROM priv_verdict), 'valid', 'the code issued for these tests is valid');

CREATE FUNCTION pg_temp.checkpoints() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM hcledger.checkpoints $$;
CREATE TEMP TABLE priv_before AS
SELECT (SELECT count(*) FROM hcledger.codes) AS codes, (SELECT count(*) FROM priv_visits) AS visits,
       pg_temp.checkpoints() AS checkpoints, (SELECT count(*) FROM hcledger.keys) AS keys,
       (SELECT count(*) FROM hcledger.authorities) AS authorities;

-- A verifier: no subject data, no writing
SET ROLE regress_priv_verifier;
SELECT throws_ok($$SELECT count(*) FROM hcledger.codes$$, '42501', NULL, 'verifier: cannot read the codes ledger');
SELECT throws_ok($$SELECT count(*) FROM hcledger.peer_codes$$, '42501', NULL, 'verifier: nor peers'' codes');
SELECT throws_ok($$SELECT hcledger.row_leaf('hcledger.codes', 1)$$, '42501', NULL, 'verifier: nor a row''s leaf bytes');
SELECT throws_ok($$SELECT hcledger.local_code((SELECT credential_id FROM priv_code))$$, '42501', NULL,
                 'verifier: nor look a code up by its id');
SELECT throws_ok($$SELECT hcledger.pseudonym('regress-priv', 'PRIV0001')$$, '42501', NULL,
                 'verifier: nor compute a traveller''s pseudonym');
SELECT throws_ok($$SELECT hcledger.ledger_rows_check('hcledger.codes', '{1}', 1)$$, '42501', NULL,
                 'verifier: nor check ledger rows itself');
SELECT throws_ok($$SELECT count(*) FROM priv_visits$$, '42501', NULL, 'verifier: nor read another ledger');
SELECT throws_ok($$SELECT hcledger.issue_code('{"name": "X", "document_number": "X1", "birth_date": "1970-01-01"}')$$,
                 '42501', NULL, 'verifier: cannot issue');
SELECT throws_ok($$SELECT hcledger.set_status((SELECT credential_id FROM priv_code), 'red')$$, '42501', NULL,
                 'verifier: nor change a status');
SELECT throws_ok($$SELECT hcledger.revoke_code((SELECT credential_id FROM priv_code), 'x')$$, '42501', NULL,
                 'verifier: nor revoke');
SELECT is((SELECT verdict FROM hcledger.verify_code((SELECT payload FROM priv_code))), 'valid',
          'verifier: but verifies codes');
RESET ROLE;

-- An auditor: reads, appends nothing
SET ROLE regress_priv_auditor;
SELECT lives_ok($$SELECT count(*) FROM hcledger.codes$$, 'auditor: reads the codes ledger');
SELECT throws_ok($$INSERT INTO hcledger.codes (entry, credential_id, authority, at, colour)
                   VALUES ('status', '\x00000000000000000000000000000000', 'regress-priv', now(), 'red')$$,
                 '42501', NULL, 'auditor: cannot append to the codes ledger');
SELECT throws_ok($$SELECT hcledger.issue_code('{"name": "X", "document_number": "X1", "birth_date": "1970-01-01"}')$$,
                 '42501', NULL, 'auditor: nor issue');
SELECT throws_ok($$SELECT hcledger.set_status((SELECT credential_id FROM priv_code), 'red')$$, '42501', NULL,
                 'auditor: nor change a status');
SELECT throws_ok($$INSERT INTO priv_visits VALUES (1, 'x')$$, '42501', NULL, 'auditor: nor append to another ledger');
SELECT throws_ok($$INSERT INTO hcledger.checkpoints (ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash)
                   SELECT ledger_id, tree_size, root, last_row, sealed_at, prev_hash, body, checkpoint_hash
                   FROM hcledger.checkpoints LIMIT 1$$, '42501', NULL, 'auditor: nor write a checkpoint');
SELECT throws_ok($$UPDATE hcledger.ledgers SET tree_size = 0$$, '42501', NULL, 'auditor: nor touch the ledger catalog');
SELECT throws_ok($$DELETE FROM hcledger.tiles$$, '42501', NULL, 'auditor: nor the Merkle log');
SELECT throws_ok($$SELECT hcledger.seal()$$, '42501', NULL, 'auditor: nor seal');
SELECT throws_ok($$SELECT hcledger.node_sign('\x00')$$, '42501', NULL, 'auditor: nor sign with the node key');
SELECT throws_ok($$SELECT hcledger.add_key('regress-priv', 'k', 'ed25519', hcledger.signing_public_key())$$, '42501', NULL,
                 'auditor: nor register a key');
SELECT throws_ok($$SELECT hcledger.acknowledge_refusal(1, 'x')$$, '42501', NULL, 'auditor: nor acknowledge a refusal');
RESET ROLE;

-- An issuer: issues, administers nothing
SET ROLE regress_priv_issuer;
SELECT throws_ok($$SELECT hcledger.add_authority('regress-evil', 'Evil')$$, '42501', NULL, 'issuer: cannot register an authority');
SELECT throws_ok($$SELECT hcledger.revoke_key('regress-priv', 'es256-priv', now())$$, '42501', NULL, 'issuer: nor revoke a key');
SELECT throws_ok($$SELECT hcledger.publish('host=x')$$, '42501', NULL, 'issuer: nor publish the ledger');
SELECT throws_ok($$SELECT hcledger.join_member('{}', 'host=x')$$, '42501', NULL, 'issuer: nor join a consortium');
SELECT throws_ok($$SELECT hcledger.drop_ledger('hcledger.codes', 'x')$$, '42501', NULL, 'issuer: nor drop the codes ledger');
SELECT throws_ok($$DELETE FROM hcledger.codes$$, '42501', NULL, 'issuer: nor delete codes directly');
RESET ROLE;

-- A writer: appends, nothing more
SET ROLE regress_priv_writer;
SELECT lives_ok($$INSERT INTO priv_visits VALUES (1, 'gate 1')$$, 'writer: appends');
SELECT throws_ok($$SELECT hcledger.unlock_ddl('priv_visits', 'x')$$, '42501', NULL, 'writer: cannot unlock DDL');
SELECT throws_ok($$SELECT hcledger.drop_ledger('priv_visits', 'x')$$, '42501', NULL, 'writer: nor drop the ledger');
SELECT throws_ok($$SELECT hcledger.ledger_event('priv_visits', 'ddl_unlocked', 'x')$$, '42501', NULL,
                 'writer: nor record a ledger event');
SELECT throws_ok($$ALTER TABLE priv_visits DISABLE TRIGGER hcl_append_only$$, '42501', NULL,
                 'writer: nor switch the append-only trigger off');
SELECT throws_ok($$UPDATE priv_visits SET place = 'x'$$, '42501', NULL, 'writer: nor update rows');
SELECT throws_ok($$SELECT setval(pg_get_serial_sequence('priv_visits', 'hcl_row'), 1)$$, '42501', NULL,
                 'writer: nor move the row-number sequence');
SELECT throws_ok($$SELECT hcledger.seal_ledger('priv_visits')$$, '42501', NULL, 'writer: nor seal');
SELECT throws_ok($$SET session_replication_role = replica$$, '42501', NULL,
                 'writer: nor turn triggers off for its session');
SELECT throws_ok($$SELECT hcledger.create_ledger('priv_owned')$$, '42501', NULL, 'writer: nor make another''s table a ledger');
RESET ROLE;

-- The owner of a ledger table: the guards hold even for it
SET ROLE regress_priv_owner;
SELECT lives_ok($$INSERT INTO priv_owned VALUES (1)$$, 'owner: appends');
SELECT throws_ok($$SELECT hcledger.unlock_ddl('priv_owned', 'x')$$, '42501', NULL, 'owner: cannot unlock DDL');
SELECT throws_ok($$SELECT hcledger.drop_ledger('priv_owned', 'x')$$, '42501', NULL, 'owner: nor drop the ledger');
SELECT throws_ok($$ALTER TABLE priv_owned DISABLE TRIGGER hcl_append_only$$, '55000', NULL,
                 'owner: nor switch the append-only trigger off (the DDL guard)');
SELECT throws_ok($$DROP TABLE priv_owned$$, '55000', NULL, 'owner: nor drop the table');
SELECT throws_ok($$UPDATE priv_owned SET id = 2$$, '55000', NULL, 'owner: nor update rows (the append-only trigger)');
SELECT throws_ok($$TRUNCATE priv_owned$$, '55000', NULL, 'owner: nor truncate');
RESET ROLE;

-- A role with no grant on the extension's schema runs DDL on its own tables
-- (the DDL guard reads the ledger catalog with its owner's rights)
CREATE ROLE regress_priv_stranger;
GRANT CREATE ON SCHEMA public TO regress_priv_stranger;
SET ROLE regress_priv_stranger;
SELECT lives_ok($$CREATE TABLE public.priv_strangers_own (id int); ALTER TABLE public.priv_strangers_own ADD COLUMN n int;
                  DROP TABLE public.priv_strangers_own$$,
                'a role with no hcledger grant creates, alters and drops its own tables');
SELECT throws_ok($$SELECT count(*) FROM hcledger.ledgers$$, '42501', NULL, 'and still cannot reach the extension''s schema');
RESET ROLE;
REVOKE CREATE ON SCHEMA public FROM regress_priv_stranger;

-- Key files and settings: for superusers only
SET ROLE regress_priv_issuer;
SELECT throws_ok($$SELECT current_setting('hcledger.signing_key_file')$$, '42501', NULL,
                 'the signing key file''s path is hidden from non-superusers');
SELECT throws_ok($$SELECT current_setting('hcledger.credential_key_file')$$, '42501', NULL, 'so is the credential key file''s');
SELECT throws_ok($$SELECT current_setting('hcledger.pseudonym_key_file')$$, '42501', NULL, 'and the pseudonym key file''s');
SELECT throws_ok($$SELECT pg_read_file('../../test/keys/regress_credential.pem')$$, '42501', NULL,
                 'the credential key file cannot be read');
SELECT throws_ok($$SELECT pg_read_binary_file('../../test/keys/regress_pseudonym.key')$$, '42501', NULL,
                 'nor the pseudonym secret');
SELECT throws_ok($$COPY priv_code FROM '/etc/hostname'$$, '42501', NULL, 'nor any file, through COPY');
SELECT throws_ok($$SET hcledger.credential_key_file = '/tmp/mine.pem'$$, '55P02', NULL,
                 'a key file cannot be swapped for a session');
SELECT throws_ok($$ALTER ROLE regress_priv_issuer SET hcledger.seal_interval = 0$$, '55P02', NULL,
                 'the seal interval cannot be set for a role (server settings only)');
SELECT throws_ok($$ALTER DATABASE regress_privileges SET search_path = evil, pg_catalog$$, '42501', NULL,
                 'nor a database''s search_path');
SELECT throws_ok($$SELECT pg_reload_conf()$$, '42501', NULL, 'the configuration cannot be reloaded');
SELECT throws_ok($$ALTER EVENT TRIGGER hcledger_ddl_guard DISABLE$$, '42501', NULL, 'the DDL guard cannot be switched off');
SELECT throws_ok($$SELECT hcledger.node_sign('\x00')$$, '42501', NULL, 'nor the node key used to sign');
-- ALTER SYSTEM cannot run inside a function (throws_ok): its error is in the expected output
\set VERBOSITY terse
ALTER SYSTEM SET hcledger.signing_key_file = '/tmp/mine.pem';
\set VERBOSITY default
RESET ROLE;

-- search_path attacks.  Every SECURITY DEFINER function fixes its own path
-- (pg_catalog, then pg_temp last), and every C function that runs queries
-- as the extension's owner is behind one.
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p
                  WHERE p.pronamespace = 'hcledger'::regnamespace AND p.prosecdef
                    AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)$$,
                'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');
-- (but resume_member, a procedure that commits and so can have no SET clause:
-- superusers only, every name in it schema-qualified)
SELECT is_empty($$SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                  WHERE p.pronamespace = 'hcledger'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
                    AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)
                    AND p.oid <> 'hcledger.resume_member(text)'::regprocedure$$,
                'so does every SQL and PL/pgSQL function of the extension');
SELECT is((SELECT array_agg(r.rolname ORDER BY r.rolname) FROM pg_proc p, aclexplode(p.proacl) a JOIN pg_roles r ON r.oid = a.grantee
            WHERE p.oid = 'hcledger.resume_member(text)'::regprocedure AND a.privilege_type = 'EXECUTE'),
          (SELECT array_agg(rolname) FROM pg_roles WHERE rolsuper AND oid = (SELECT extowner FROM pg_extension WHERE extname = 'hcledger')),
          'and resume_member is for the extension''s owner (a superuser) alone');

-- The attacker: an issuer and verifier who may create objects.  What it
-- plants records every call, and who made it; a call made as the
-- extension's owner would be an escalation.
CREATE ROLE regress_priv_attacker IN ROLE hcledger_issuer, hcledger_verifier;
CREATE SCHEMA evil AUTHORIZATION regress_priv_attacker;
CREATE TABLE public.priv_planted_calls (fn text, caller name);
GRANT INSERT, SELECT ON public.priv_planted_calls TO PUBLIC;
SET ROLE regress_priv_attacker;
CREATE FUNCTION evil.log(fn text) RETURNS void LANGUAGE sql AS
	$$ INSERT INTO public.priv_planted_calls VALUES (fn, current_user) $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS
	$$ SELECT evil.log('now'); SELECT pg_catalog.now() $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS
	$$ SELECT evil.log('lower'); SELECT pg_catalog.lower($1) $$;
CREATE FUNCTION evil.length(bytea) RETURNS int LANGUAGE sql AS
	$$ SELECT evil.log('length'); SELECT pg_catalog.length($1) $$;
CREATE FUNCTION evil.octet_length(text) RETURNS int LANGUAGE sql AS
	$$ SELECT evil.log('octet_length'); SELECT pg_catalog.octet_length($1) $$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS
	$$ SELECT evil.log('jsonb_typeof'); SELECT pg_catalog.jsonb_typeof($1) $$;
CREATE FUNCTION evil.to_timestamp(bigint) RETURNS timestamptz LANGUAGE sql AS
	$$ SELECT evil.log('to_timestamp'); SELECT pg_catalog.to_timestamp($1) $$;
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE sql AS
	$$ SELECT evil.log('='); SELECT pg_catalog.texteq($1, $2) $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE FUNCTION evil.bytea_eq(bytea, bytea) RETURNS boolean LANGUAGE sql AS
	$$ SELECT evil.log('='); SELECT pg_catalog.byteaeq($1, $2) $$;
CREATE OPERATOR evil.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = evil.bytea_eq);
-- temporary tables named like the extension's, holding what suits the attacker
CREATE TEMP TABLE authorities AS SELECT * FROM hcledger.authorities;
CREATE TEMP TABLE keys AS SELECT * FROM hcledger.keys;
DELETE FROM pg_temp.keys;
CREATE TEMP TABLE codes (credential_id bytea, colour text);
CREATE TEMP TABLE checkpoints (ledger_id int);
CREATE TEMP TABLE ledgers (relid regclass);
-- Under the attack no pgTAP function is called (they would use what is
-- planted): the results are kept, and checked once the path is reset.
SET search_path = evil, public, pg_catalog;
SELECT lower('ABC') AS planted_lower_is_in_the_path;
CREATE TEMP TABLE attack_verdict AS SELECT verdict, colour FROM hcledger.verify_code((SELECT payload FROM priv_code));
CREATE TEMP TABLE attack_issue AS SELECT payload FROM hcledger.issue_code('{"name": "Attacker Issued",
	"document_number": "ATK0001", "birth_date": "1970-01-01", "test_result": "negative"}');
CREATE TEMP TABLE attack_status AS SELECT 1 AS done FROM hcledger.set_status((SELECT credential_id FROM priv_code), 'yellow', 'attack test');
CREATE TEMP TABLE attack_claims AS SELECT hcledger.canonical_claims('{"document_number": "ATK0001", "b": 1, "a": "x"}') AS c;
RESET ROLE;
SET search_path = public, hcledger;
SELECT results_eq($$SELECT fn, caller::text COLLATE "C" FROM priv_planted_calls$$, $$VALUES ('lower', 'regress_priv_attacker' COLLATE "C")$$,
                  'the planted functions and operators ran for the attacker''s own query, never inside the extension''s functions');
SELECT results_eq($$SELECT verdict, colour FROM attack_verdict$$, $$SELECT verdict, colour FROM priv_verdict$$,
                  'verify_code gave the same verdict under the attack');
SELECT is((SELECT verdict FROM attack_issue, hcledger.verify_code(payload)), 'not yet sealed',
          'issue_code issued a real code under the attack');
SELECT is((SELECT c FROM attack_claims), '{"a":"x","b":1,"document_number":"ATK0001"}', 'canonical_claims was not misled');
SELECT is((SELECT count(*) FROM hcledger.codes), (SELECT codes + 2 FROM priv_before),
          'the issue and the status change went to the real codes ledger');
SELECT is((SELECT count(*) FROM pg_roles WHERE rolname = 'regress_priv_attacker' AND (rolsuper OR rolcreaterole)), 0::bigint,
          'the attacker gained nothing');

-- Nothing the refused attempts tried has changed anything.
SELECT is((SELECT count(*) FROM priv_visits), (SELECT visits + 1 FROM priv_before), 'only the writer''s own row was added');
SELECT is((SELECT count(*) FROM hcledger.keys), (SELECT keys FROM priv_before), 'no key was added');
SELECT is((SELECT count(*) FROM hcledger.authorities), (SELECT authorities FROM priv_before), 'no authority was added');
SELECT is((SELECT setting FROM pg_settings WHERE name = 'session_replication_role'), 'origin', 'triggers are on');
SELECT seal();
SELECT is((SELECT count(*) FROM hcledger.ledgers l, hcledger.verify_ledger(l.relid) WHERE l.dropped_at IS NULL), 0::bigint,
          'every ledger verifies');

SELECT * FROM finish();
\c contrib_regression
DROP DATABASE regress_privileges;
DROP ROLE regress_priv_verifier, regress_priv_auditor, regress_priv_issuer, regress_priv_writer,
	regress_priv_owner, regress_priv_stranger, regress_priv_attacker;
