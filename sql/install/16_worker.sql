-- The sealer (src/worker.c): this database is sealed from the next round on.
CREATE FUNCTION wake_sealer() RETURNS void
	AS 'MODULE_PATHNAME', 'hcl_wake_sealer' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION wake_sealer() IS 'have the sealer look at this database again from its next round (called as the extension is created)';
SELECT wake_sealer();
