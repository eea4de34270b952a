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

