/*
 * fuzz_receipt.c
 *		Receipts, src/receipt.c: hcl_receipt_parse (the JSON text form)
 *		and hcl_receipt_verify (frontend build, as in hcledger-verify; the
 *		extension's verify_receipt runs the same code).
 *
 * The input is the receipt.  When it parses: hcl_receipt_format must write
 * it out so that it parses again to the same receipt, and formats to the
 * same bytes; hcl_receipt_verify (checkpoint parse and signature, leaf,
 * inclusion or consistency proof) must give both copies the same verdict.
 * The trusted key is the one that signed the seed corpus's checkpoints, so
 * the seeds verify all the way through.
 */
#include "postgres_fe.h"

#include "receipt.h"
#include "fuzz_common.h"

static void
same_receipt(const hcl_receipt *a, const hcl_receipt *b)
{
	FZ_CHECK(a->kind == b->kind);
	FZ_CHECK(a->proof_len == b->proof_len);
	FZ_CHECK(memcmp(a->proof, b->proof, (size_t) a->proof_len * HCL_HASH_LEN) == 0);
	FZ_CHECK(a->checkpoint_len == b->checkpoint_len);
	FZ_CHECK(memcmp(a->checkpoint, b->checkpoint, a->checkpoint_len) == 0);
	if (a->kind == HCL_RECEIPT_CONSISTENCY)
	{
		FZ_CHECK(a->old_checkpoint_len == b->old_checkpoint_len);
		FZ_CHECK(memcmp(a->old_checkpoint, b->old_checkpoint, a->old_checkpoint_len) == 0);
		return;
	}
	FZ_CHECK(a->has_row == b->has_row && a->row == b->row);
	FZ_CHECK((a->leaf == NULL) == (b->leaf == NULL));
	FZ_CHECK(a->leaf_len == b->leaf_len);
	if (a->leaf != NULL)
		FZ_CHECK(memcmp(a->leaf, b->leaf, a->leaf_len) == 0);
	FZ_CHECK(memcmp(a->leaf_hash, b->leaf_hash, HCL_HASH_LEN) == 0);
	FZ_CHECK(a->leaf_index == b->leaf_index && a->tree_size == b->tree_size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static hcl_trusted_key key;
	static bool ready = false;
	char	   *json = fz_dup(data, size);
	hcl_receipt *r = malloc(sizeof(hcl_receipt));
	hcl_receipt *r2 = malloc(sizeof(hcl_receipt));
	hcl_verdict *v = malloc(sizeof(hcl_verdict));
	hcl_verdict *v2 = malloc(sizeof(hcl_verdict));
	const char *why;

	if (!ready)
	{
		hcl_trust_always(&key, (const uint8_t *) HCL_FUZZ_SEED_PUB, "seed");
		ready = true;
	}
	why = hcl_receipt_parse(json, size, r);
	if (why == NULL)
	{
		StringInfoData out,
					out2;
		bool		ok,
					ok2;

		FZ_CHECK(r->proof_len >= 0 && r->proof_len <= HCL_MAX_PROOF);
		FZ_CHECK(r->checkpoint != NULL);
		initStringInfo(&out);
		hcl_receipt_format(r, &out);
		why = hcl_receipt_parse(out.data, out.len, r2);
		if (why != NULL)
			fprintf(stderr, "formatted receipt refused: %s\n%s\n", why, out.data);
		FZ_CHECK(why == NULL);
		same_receipt(r, r2);
		initStringInfo(&out2);
		hcl_receipt_format(r2, &out2);
		FZ_CHECK(out.len == out2.len && memcmp(out.data, out2.data, out.len) == 0);

		ok = hcl_receipt_verify(r, &key, 1, v);
		ok2 = hcl_receipt_verify(r2, &key, 1, v2);
		FZ_CHECK(ok == v->valid && ok2 == v2->valid && ok == ok2);
		FZ_CHECK(memchr(v->reason, '\0', sizeof(v->reason)) != NULL && v->reason[0] != '\0');
		FZ_CHECK(strcmp(v->reason, v2->reason) == 0);
		if (ok)
			FZ_CHECK(v->cp_parsed && v->key == 0);
	}
	else
		FZ_CHECK(why[0] != '\0');
	free(v2);
	free(v);
	free(r2);
	free(r);
	free(json);
	shim_reset();
	return 0;
}
