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
