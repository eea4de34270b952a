-- The canonical row encoding: the same rows inserted and sealed under
-- different DateStyle, IntervalStyle, TimeZone, lc_*, extra_float_digits and
-- client_encoding settings give identical leaves, and a leaf re-derived in SQL from
-- docs/format.md alone (with PostgreSQL's own send functions and sha256,
-- not hcledger's C code) equals the leaf hash the sealer stored.
SET search_path = public, hcledger;

CREATE TABLE enc (
	o_real float4, n_uuid uuid, m_interval interval, l_arr int4[], k_null text, j_json jsonb,
	i_bytes bytea, h_bool bool, g_date date, f_ts timestamptz, e_text text, d_float float8,
	c_num numeric, b_big int8, a_int int4, "Zebra" text,
	p_small int2, q_time time, r_ts timestamp, s_var varchar(10), t_char char(5), u_inet inet
);
SELECT create_ledger('enc') IS NOT NULL AS created;

-- One row, inserted three times under three sets of settings.
CREATE FUNCTION pg_temp.insert_row() RETURNS void LANGUAGE sql AS $$
	INSERT INTO enc VALUES (
		'3.14159', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 year 2 months 3 days 04:05:06.789', '{1,2,NULL,4}',
		NULL, '{"b": [1, 2.50, "x"], "a": null}', '\xdeadbeef', true, '2026-11-24', '2026-11-24 10:30:00.123456+08',
		'Macau 澳門 ✓', '0.1', '12345678901234567890.000123', 9007199254740993, -42, 'first in byte order',
		-7, '23:59:59.999999', '2026-02-28 12:00:00', 'värde', 'ab', '192.0.2.1/24')
$$;
SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Asia/Macau'; SET extra_float_digits = 0;
SET IntervalStyle = 'sql_standard'; SET lc_monetary = 'C'; SET lc_numeric = 'C'; SET lc_time = 'C';
SELECT pg_temp.insert_row();
SET DateStyle = 'German'; SET TimeZone = 'America/New_York'; SET extra_float_digits = 3;
SET IntervalStyle = 'iso_8601'; SET lc_monetary = 'C.UTF-8'; SET lc_numeric = 'C.UTF-8'; SET lc_time = 'C.UTF-8';
SELECT pg_temp.insert_row();
SET DateStyle = 'Postgres, MDY'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET IntervalStyle = 'postgres_verbose';
SELECT pg_temp.insert_row();
-- sealed under yet other settings, with a client encoding that cannot even
-- represent the text (text send functions convert to the client encoding)
SET DateStyle = 'ISO, YMD'; SET TimeZone = 'Pacific/Chatham'; SET extra_float_digits = -15;
SET client_encoding = 'BIG5';
SELECT count(*) FROM seal('enc');
RESET ALL;
SET search_path = public, hcledger;

-- The stored leaf hash of a log position, read from the level-0 tiles.
CREATE FUNCTION pg_temp.stored_leaf(pos int) RETURNS bytea LANGUAGE sql AS $$
	SELECT substring(t.hashes FROM 32 * (pos % 256) + 1 FOR 32)
	FROM hcledger.tiles t JOIN hcledger.ledgers l USING (ledger_id)
	WHERE l.relid = 'enc'::regclass AND t.level = 0 AND t.tile = pos / 256
$$;
-- A leaf with its row number blanked out, to compare rows.
CREATE FUNCTION pg_temp.content(r bigint) RETURNS bytea LANGUAGE sql AS $$
	SELECT overlay(hcledger.row_leaf('enc', r) PLACING '\x0000000000000000'::bytea FROM 33 FOR 8)
$$;

-- docs/format.md, transcribed: one column entry, then the whole leaf.
CREATE FUNCTION pg_temp.entry(name text, typ text, v bytea) RETURNS bytea LANGUAGE sql AS $$
	SELECT int2send(octet_length(convert_to(name, 'UTF8'))::int2) || convert_to(name, 'UTF8')
	    || int2send(octet_length(convert_to(typ, 'UTF8'))::int2) || convert_to(typ, 'UTF8')
	    || CASE WHEN v IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int4send(octet_length(v)) || v END
$$;
CREATE FUNCTION pg_temp.doc_leaf(r bigint) RETURNS bytea LANGUAGE sql AS $$
	SELECT convert_to(E'hcledger-row-v1\n', 'UTF8')
	    || (SELECT ledger_uuid FROM hcledger.ledgers WHERE relid = 'enc'::regclass)
	    || int8send(r) || int2send(22::int2)
	    -- names in byte order: upper case before lower case
	    || pg_temp.entry('Zebra', 'pg_catalog.text', textsend(e."Zebra"))
	    || pg_temp.entry('a_int', 'pg_catalog.int4', int4send(e.a_int))
	    || pg_temp.entry('b_big', 'pg_catalog.int8', int8send(e.b_big))
	    || pg_temp.entry('c_num', 'pg_catalog.numeric', numeric_send(e.c_num))
	    || pg_temp.entry('d_float', 'pg_catalog.float8', float8send(e.d_float))
	    || pg_temp.entry('e_text', 'pg_catalog.text', textsend(e.e_text))
	    || pg_temp.entry('f_ts', 'pg_catalog.timestamptz', timestamptz_send(e.f_ts))
	    || pg_temp.entry('g_date', 'pg_catalog.date', date_send(e.g_date))
	    || pg_temp.entry('h_bool', 'pg_catalog.bool', boolsend(e.h_bool))
	    || pg_temp.entry('i_bytes', 'pg_catalog.bytea', byteasend(e.i_bytes))
	    || pg_temp.entry('j_json', 'pg_catalog.jsonb', jsonb_send(e.j_json))
	    || pg_temp.entry('k_null', 'pg_catalog.text', NULL)
	    || pg_temp.entry('l_arr', 'pg_catalog._int4', array_send(e.l_arr))
	    || pg_temp.entry('m_interval', 'pg_catalog.interval', interval_send(e.m_interval))
	    || pg_temp.entry('n_uuid', 'pg_catalog.uuid', uuid_send(e.n_uuid))
	    || pg_temp.entry('o_real', 'pg_catalog.float4', float4send(e.o_real))
	    || pg_temp.entry('p_small', 'pg_catalog.int2', int2send(e.p_small))
	    || pg_temp.entry('q_time', 'pg_catalog.time', time_send(e.q_time))
	    || pg_temp.entry('r_ts', 'pg_catalog.timestamp', timestamp_send(e.r_ts))
	    || pg_temp.entry('s_var', 'pg_catalog.varchar', varcharsend(e.s_var))
	    || pg_temp.entry('t_char', 'pg_catalog.bpchar', bpcharsend(e.t_char))
	    || pg_temp.entry('u_inet', 'pg_catalog.inet', inet_send(e.u_inet))
	FROM enc e WHERE e.hcl_row = r
$$;

SELECT plan(9);

SELECT is((SELECT count(*) FROM enc), 3::bigint, 'three copies of the row');
SELECT is(pg_temp.content(1), pg_temp.content(2), 'rows inserted under different settings encode identically (1, 2)');
SELECT is(pg_temp.content(1), pg_temp.content(3), 'rows inserted under different settings encode identically (1, 3)');
SET TimeZone = 'Asia/Kolkata'; SET DateStyle = 'SQL, DMY'; SET extra_float_digits = 3; SET client_encoding = 'LATIN1';
SELECT is(pg_temp.content(1), pg_temp.content(3), 'and read back under other settings and client encoding, still');
RESET ALL;
SET search_path = public, hcledger;
SELECT is(pg_temp.doc_leaf(1), row_leaf('enc', 1), 'docs/format.md, transcribed in SQL, gives the same leaf bytes');
SELECT is(pg_catalog.sha256('\x00'::bytea || pg_temp.doc_leaf(1)), pg_temp.stored_leaf(0),
          'SHA-256(0x00 || documented leaf) is the leaf hash the sealer stored for position 0');
SELECT is(pg_catalog.sha256('\x00'::bytea || pg_temp.doc_leaf(3)), pg_temp.stored_leaf(2),
          'and for position 2');
SELECT is((SELECT root::bytea FROM hcledger.checkpoints c JOIN hcledger.ledgers l USING (ledger_id) WHERE l.relid = 'enc'::regclass),
          pg_catalog.sha256('\x01'::bytea
              || pg_catalog.sha256('\x01'::bytea || pg_catalog.sha256('\x00'::bytea || pg_temp.doc_leaf(1))
                                               || pg_catalog.sha256('\x00'::bytea || pg_temp.doc_leaf(2)))
              || pg_catalog.sha256('\x00'::bytea || pg_temp.doc_leaf(3))),
          'the checkpoint root is the RFC 9162 tree of the documented leaves');
SELECT is_empty($$SELECT * FROM verify_ledger('enc')$$, 'verify_ledger agrees');

SELECT * FROM finish();
