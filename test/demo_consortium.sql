-- The demo, part 3 (docs/consortium.md): Guangdong and Macau recognise
-- each other's codes over PostgreSQL's logical replication.  Run by
-- test/demo.sh with psql variables mo_conn and gd_conn (connection strings).
\set ON_ERROR_STOP 1
\echo
\echo '== 17. A consortium: Guangdong''s health commission runs its own server; the two exchange cards'
\connect :gd_conn
SELECT hcledger.add_authority('gd-wjw', 'Guangdong Health Commission', true);
SELECT hcledger.add_key('gd-wjw', 'es256-2026', 'es256', hcledger.credential_public_key(), now() - interval '1 minute');
SELECT hcledger.add_key('gd-wjw', 'node-2026', 'ed25519', hcledger.signing_public_key(), now() - interval '1 minute');
\echo 'Each publishes its ledger and gets its card: its name, its log and its public keys (nothing secret):'
SELECT hcledger.publish(:'gd_conn') AS gd_card \gset
SELECT jsonb_pretty(:'gd_card'::jsonb - 'keys') AS "Guangdong's card (keys left out here)";
\connect :mo_conn
SELECT hcledger.publish(:'mo_conn') AS mo_card \gset
\echo 'Each admits the other (a replication slot), then joins it from its card (a subscription):'
SELECT hcledger.admit_member('gd-wjw');
\connect :gd_conn
SELECT hcledger.admit_member('mo-ssm');
SELECT hcledger.join_member(:'mo_card', :'mo_conn');
\connect :mo_conn
SELECT hcledger.join_member(:'gd_card', :'gd_conn');
SELECT authority, display_name, subscription FROM hcledger.member_status;
\connect :gd_conn

\echo
\echo '== 18. A Guangdong clinic issues a code; Guangdong seals it'
SELECT credential_id AS gd_id, payload AS gd_code
  FROM hcledger.issue_code('{"name": "Lei Ming", "document_number": "H12345678", "test_result": "negative"}') \gset
SELECT tree_size AS sealed_tree_size FROM hcledger.seal('hcledger.codes');

\echo
\echo '== 19. At the Macau border: the code verifies against Guangdong''s replicated, verified ledger'
\connect :mo_conn
SELECT set_config('demo.code', :'gd_code', false) IS NOT NULL AS waiting_for_replication;
DO $$ BEGIN
	FOR i IN 1 .. 100 LOOP
		EXIT WHEN EXISTS (SELECT FROM hcledger.verify_code(current_setting('demo.code')) WHERE verdict = 'valid');
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT verdict, colour, authority, valid_until FROM hcledger.verify_code(:'gd_code');
\echo 'How far Macau has verified Guangdong''s log, and what it refused (nothing):'
SELECT authority, accepted_size, checkpoints_waiting, refused FROM hcledger.member_status;
SELECT count(*) AS refused FROM hcledger.refused;
\echo 'Macau cosigned the Guangdong checkpoint it verified (a witness for split views):'
SELECT witness, tree_size, root FROM hcledger.cosignatures WHERE witness = 'mo-ssm';
SELECT count(*) AS split_views FROM hcledger.split_views;
