-- Copied unchanged from the project's shared/bench/baseline_plpgsql.sql.
-- What a user would write today without hcledger: a plpgsql + pgcrypto hash chain.
-- Used as the "user would pick instead" anchor for append cost.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP TABLE IF EXISTS plain_codes, chained_codes, chain_head CASCADE;
CREATE TABLE plain_codes (
  id bigserial PRIMARY KEY,
  subject_commitment bytea NOT NULL,
  issuer text NOT NULL,
  status text NOT NULL,
  valid_until timestamptz NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE chained_codes (LIKE plain_codes INCLUDING ALL, prev_hash bytea, row_hash bytea);
CREATE TABLE chain_head (id int PRIMARY KEY, seq bigint NOT NULL, hash bytea NOT NULL);
INSERT INTO chain_head VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');
CREATE FUNCTION chain_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE h record;
BEGIN
  SELECT * INTO h FROM chain_head WHERE id = 1 FOR UPDATE;
  NEW.prev_hash := h.hash;
  NEW.row_hash := digest(h.hash || convert_to(concat_ws('|', NEW.id, encode(NEW.subject_commitment,'hex'), NEW.issuer, NEW.status, NEW.valid_until, NEW.issued_at), 'UTF8'), 'sha256');
  UPDATE chain_head SET seq = h.seq + 1, hash = NEW.row_hash WHERE id = 1;
  RETURN NEW;
END $$;
CREATE TRIGGER chain BEFORE INSERT ON chained_codes FOR EACH ROW EXECUTE FUNCTION chain_row();
CREATE FUNCTION no_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'append-only'; END $$;
CREATE TRIGGER noupd BEFORE UPDATE OR DELETE ON chained_codes FOR EACH ROW EXECUTE FUNCTION no_change();
