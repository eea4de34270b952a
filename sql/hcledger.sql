-- hcledger: the extension's install script (copied to hcledger--X.Y.Z.sql).
\echo Use "CREATE EXTENSION hcledger" to load this file. \quit

--
-- Type hash256: exactly 32 bytes.
--
CREATE TYPE hash256;

CREATE FUNCTION hash256_in(cstring) RETURNS hash256
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hash256_out(hash256) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hash256_recv(internal) RETURNS hash256
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION hash256_send(hash256) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE hash256 (
	INPUT = hash256_in,
	OUTPUT = hash256_out,
	RECEIVE = hash256_recv,
	SEND = hash256_send,
	INTERNALLENGTH = 32,
	ALIGNMENT = char,
	STORAGE = plain
);
COMMENT ON TYPE hash256 IS 'a 32-byte hash (SHA-256), written as 64 hex digits';

CREATE FUNCTION hash256_cmp(hash256, hash256) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_eq(hash256, hash256) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_ne(hash256, hash256) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_lt(hash256, hash256) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_le(hash256, hash256) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_gt(hash256, hash256) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_ge(hash256, hash256) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_hash(hash256) RETURNS integer
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION hash256_hash_extended(hash256, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR = (
	LEFTARG = hash256, RIGHTARG = hash256, PROCEDURE = hash256_eq,
	COMMUTATOR = =, NEGATOR = <>, RESTRICT = eqsel, JOIN = eqjoinsel,
	HASHES, MERGES
);
CREATE OPERATOR <> (
	LEFTARG = hash256, RIGHTARG = hash256, PROCEDURE = hash256_ne,
	COMMUTATOR = <>, NEGATOR = =, RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR < (
	LEFTARG = hash256, RIGHTARG = hash256, PROCEDURE = hash256_lt,
	COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR <= (
	LEFTARG = hash256, RIGHTARG = hash256, PROCEDURE = hash256_le,
	COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR > (
	LEFTARG = hash256, RIGHTARG = hash256, PROCEDURE = hash256_gt,
	COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR >= (
	LEFTARG = hash256, RIGHTARG = hash256, PROCEDURE = hash256_ge,
	COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS hash256_ops DEFAULT FOR TYPE hash256 USING btree AS
	OPERATOR 1 <,
	OPERATOR 2 <=,
	OPERATOR 3 =,
	OPERATOR 4 >=,
	OPERATOR 5 >,
	FUNCTION 1 hash256_cmp(hash256, hash256);

CREATE OPERATOR CLASS hash256_ops DEFAULT FOR TYPE hash256 USING hash AS
	OPERATOR 1 =,
	FUNCTION 1 hash256_hash(hash256),
	FUNCTION 2 hash256_hash_extended(hash256, bigint);

-- Casts: bytea -> hash256 checks the length; both are explicit.
CREATE FUNCTION hash256(bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hash256_from_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bytea(hash256) RETURNS bytea
	AS 'MODULE_PATHNAME', 'hash256_to_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE CAST (bytea AS hash256) WITH FUNCTION hash256(bytea);
CREATE CAST (hash256 AS bytea) WITH FUNCTION bytea(hash256);

--
-- Hashing and RFC 9162 Merkle trees.
--
CREATE FUNCTION sha256(data bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_sha256_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sha256(bytea) IS 'SHA-256 of data, as hash256 (call it as hcledger.sha256: pg_catalog.sha256 returns bytea)';

CREATE FUNCTION leaf_hash(leaf bytea) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_leaf_hash_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION leaf_hash(bytea) IS 'RFC 9162 leaf hash: SHA-256(0x00 || leaf)';

CREATE FUNCTION node_hash(left_hash hash256, right_hash hash256) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_node_hash_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION node_hash(hash256, hash256) IS 'RFC 9162 interior node hash: SHA-256(0x01 || left || right)';

CREATE FUNCTION merkle_root_accum(internal, bytea) RETURNS internal
	AS 'MODULE_PATHNAME', 'hcl_merkle_root_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION merkle_root_hash_accum(internal, hash256) RETURNS internal
	AS 'MODULE_PATHNAME', 'hcl_merkle_root_hash_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION merkle_root_final(internal) RETURNS hash256
	AS 'MODULE_PATHNAME', 'hcl_merkle_root_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE merkle_root(leaf bytea) (
	SFUNC = merkle_root_accum,
	STYPE = internal,
	FINALFUNC = merkle_root_final,
	FINALFUNC_EXTRA = false
);
COMMENT ON AGGREGATE merkle_root(bytea) IS 'RFC 9162 tree head of the leaves in aggregate order (use ORDER BY)';

CREATE AGGREGATE merkle_root_of_leaf_hashes(leaf_hash hash256) (
	SFUNC = merkle_root_hash_accum,
	STYPE = internal,
	FINALFUNC = merkle_root_final
);
COMMENT ON AGGREGATE merkle_root_of_leaf_hashes(hash256) IS 'RFC 9162 tree head of already computed leaf hashes in aggregate order';

CREATE FUNCTION inclusion_proof(leaves bytea[], leaf_index bigint) RETURNS hash256[]
	AS 'MODULE_PATHNAME', 'hcl_inclusion_proof_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inclusion_proof(bytea[], bigint) IS 'RFC 9162 inclusion proof PATH(leaf_index, leaves)';

CREATE FUNCTION consistency_proof(leaves bytea[], old_size bigint) RETURNS hash256[]
	AS 'MODULE_PATHNAME', 'hcl_consistency_proof_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION consistency_proof(bytea[], bigint) IS 'RFC 9162 consistency proof PROOF(old_size, leaves)';

CREATE FUNCTION verify_inclusion(leaf_hash hash256, leaf_index bigint, tree_size bigint,
								 proof hash256[], root hash256) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_verify_inclusion_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_inclusion(hash256, bigint, bigint, hash256[], hash256) IS 'RFC 9162 section 2.1.3.2 inclusion proof verification';

CREATE FUNCTION verify_consistency(old_size bigint, new_size bigint, old_root hash256,
								   new_root hash256, proof hash256[]) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_verify_consistency_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION verify_consistency(bigint, bigint, hash256, hash256, hash256[]) IS 'RFC 9162 section 2.1.4.2 consistency proof verification';

--
-- Signature checks.
--
CREATE FUNCTION ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_ed25519_verify_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ed25519_verify(bytea, bytea, bytea) IS 'Ed25519 (RFC 8032) signature check; key as raw 32 bytes, SubjectPublicKeyInfo DER or PEM';

CREATE FUNCTION ecdsa_p256_verify(public_key bytea, message bytea, signature bytea,
								  signature_format text DEFAULT 'raw') RETURNS boolean
	AS 'MODULE_PATHNAME', 'hcl_p256_verify_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecdsa_p256_verify(bytea, bytea, bytea, text) IS 'ECDSA P-256 with SHA-256; signature raw r||s (ES256) or DER; key as a raw point, SubjectPublicKeyInfo DER or PEM';
