/*
 * fuzz_checkpoint.c
 *		Checkpoints as C2SP signed notes, src/note.c: hcl_checkpoint_parse
 *		and hcl_checkpoint_verify (frontend build, as in hcledger-verify;
 *		the extension runs the same code for verify_checkpoint and
 *		verify_ledger).
 *
 * The input is the note.  When it parses, checks what the parse promises
 * (the text is a prefix of the note ending in a newline, the origin is its
 * first line, 1 to 64 signature lines with names inside the note), verifies
 * it against trusted keys (the seed corpus's key three times, with validity
 * bounds that the hcledger-time line falls inside or outside of, and a
 * stranger's key; its SM2 lines against an SM2 key, required or not), and
 * checks that hcl_note_signature_line rebuilds each
 * Ed25519 line of the origin byte for byte.  Then it signs the note's text
 * with the seed key itself: the re-signed note must parse and verify, by
 * the key whose bounds its time falls in.
 */
#include "postgres_fe.h"

#include "crypto.h"
#include "note.h"
#include "fuzz_common.h"

#define T_FROM_0	INT64_C(1000000000)
#define T_UNTIL_0	INT64_C(1500000000)
#define T_FROM_1	INT64_C(1700000000)
#define T_REVOKED_1 INT64_C(1800000000)

static hcl_trusted_key keys[4];

static void
init_keys(void)
{
	static const uint8_t stranger[32] = {
		0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
		0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a
	};

	hcl_trust_always(&keys[0], (const uint8_t *) HCL_FUZZ_SEED_PUB, "seed/expired");
	keys[0].valid_from = T_FROM_0;
	keys[0].valid_until = T_UNTIL_0;
	hcl_trust_always(&keys[1], (const uint8_t *) HCL_FUZZ_SEED_PUB, "seed/revoked");
	keys[1].valid_from = T_FROM_1;
	keys[1].revoked_at = T_REVOKED_1;
	hcl_trust_always(&keys[2], stranger, "stranger");
	hcl_trust_always(&keys[3], (const uint8_t *) HCL_FUZZ_SEED_PUB, "seed/always");
}

/* Which of keys[] must accept a note signed by the seed key. */
static int
expected_key(const hcl_checkpoint *cp)
{
	if (cp->has_time && cp->time >= T_FROM_0 && cp->time < T_UNTIL_0)
		return 0;
	if (cp->has_time && cp->time >= T_FROM_1 && cp->time < T_REVOKED_1)
		return 1;
	return 3;
}

static void
check_verify(const hcl_checkpoint *cp, const hcl_trusted_key *k, int nkeys)
{
	char		reason[300];
	int			which = -1;
	bool		known = true;
	bool		ok;

	memset(reason, 0x7f, sizeof(reason));
	ok = hcl_checkpoint_verify(cp, k, nkeys, &which, &known, reason, sizeof(reason));
	FZ_CHECK(memchr(reason, '\0', sizeof(reason)) != NULL && reason[0] != '\0');
	if (ok)
		FZ_CHECK(known && which >= 0 && which < nkeys);
	if (nkeys == 0)
		FZ_CHECK(!ok && !known);
}

/*
 * The SM2 lines (hcl_checkpoint_verify_sm2) under one SM2 key, the curve's
 * generator (a valid point, private key 1), and the Ed25519 keys k: a
 * verdict with a reason always; when SM2 is required, valid only with the
 * key that vouched; without SM2 keys, never valid when required.
 */
static void
check_verify_sm2(const hcl_checkpoint *cp, const hcl_trusted_key *k, int nkeys)
{
	static hcl_trusted_sm2_key sm2key = {
		.pub = {
			0x04,
			0x32, 0xc4, 0xae, 0x2c, 0x1f, 0x19, 0x81, 0x19, 0x5f, 0x99, 0x04, 0x46, 0x6a, 0x39, 0xc9, 0x94,
			0x8f, 0xe3, 0x0b, 0xbf, 0xf2, 0x66, 0x0b, 0xe1, 0x71, 0x5a, 0x45, 0x89, 0x33, 0x4c, 0x74, 0xc7,
			0xbc, 0x37, 0x36, 0xa2, 0xf4, 0xf6, 0x77, 0x9c, 0x59, 0xbd, 0xce, 0xe3, 0x6b, 0x69, 0x21, 0x53,
			0xd0, 0xa9, 0x87, 0x7c, 0xc6, 0x2a, 0x47, 0x40, 0x02, 0xdf, 0x32, 0xe5, 0x21, 0x39, 0xf0, 0xa0
		},
		.valid_from = INT64_MIN,
		.valid_until = HCL_TIME_NONE,
		.revoked_at = HCL_TIME_NONE,
		.label = "sm2/generator"
	};

	for (int nsm2 = 0; nsm2 <= 1; nsm2++)
		for (int required = 0; required <= 1; required++)
		{
			char		reason[600];
			int			which = 7;
			bool		ok;

			memset(reason, 0x7f, sizeof(reason));
			ok = hcl_checkpoint_verify_sm2(cp, &sm2key, nsm2, k, nkeys, required, &which,
										   reason, sizeof(reason));
			FZ_CHECK(memchr(reason, '\0', sizeof(reason)) != NULL && reason[0] != '\0');
			FZ_CHECK(which >= -1 && which < nsm2);
			if (ok && required)
				FZ_CHECK(which == 0);
			if (nsm2 == 0 && required)
				FZ_CHECK(!ok);
		}
}

static void
check_parsed(const char *note, size_t size, const hcl_checkpoint *cp)
{
	size_t		olen;

	FZ_CHECK(cp->text == note);
	FZ_CHECK(cp->textlen > 0 && cp->textlen < size);
	FZ_CHECK(note[cp->textlen - 1] == '\n' && note[cp->textlen] == '\n');
	FZ_CHECK(cp->origin != NULL);
	olen = strlen(cp->origin);
	FZ_CHECK(olen > 0 && olen < cp->textlen);
	FZ_CHECK(memcmp(cp->origin, note, olen) == 0 && note[olen] == '\n');
	FZ_CHECK(cp->nsigs >= 1 && cp->nsigs <= HCL_NOTE_MAX_SIGS);
	for (int i = 0; i < cp->nsigs; i++)
	{
		const hcl_note_sig *s = &cp->sigs[i];

		FZ_CHECK(s->name > note + cp->textlen && s->namelen > 0);
		FZ_CHECK(s->name + s->namelen < note + size);
		FZ_CHECK(s->siglen == 0 || s->siglen == 64);
		if (s->siglen == 64 && s->namelen == olen &&
			memcmp(s->name, cp->origin, olen) == 0)
		{
			/* the line this signature came from, rebuilt */
			char	   *line = hcl_note_signature_line(cp->origin, s->key_id, s->sig);
			size_t		linelen = strlen(line);
			const char *start = s->name - 4;

			FZ_CHECK(start + linelen <= note + size);
			FZ_CHECK(memcmp(start, line, linelen) == 0);
			pfree(line);
		}
	}
}

/* The note's text signed by the seed key, alone: it must verify. */
static void
check_resigned(const hcl_checkpoint *cp)
{
	size_t		pemlen;
	const char *pem = fz_seed_key_pem(&pemlen);
	uint8_t		sig[64],
				pub[32],
				id[4];
	char	   *line;
	char	   *note;
	size_t		linelen,
				len;
	hcl_checkpoint again;
	const char *why;
	char		reason[300];
	int			which = -1;

	/* a key name ends at a space and may not hold a plus sign */
	if (strchr(cp->origin, ' ') != NULL || strchr(cp->origin, '+') != NULL)
		return;
	FZ_CHECK(hcl_ed25519_sign_pem(pem, pemlen, (const uint8_t *) cp->text, cp->textlen,
								  sig, pub) == HCL_SIGN_OK);
	FZ_CHECK(memcmp(pub, HCL_FUZZ_SEED_PUB, 32) == 0);
	FZ_CHECK(hcl_note_key_id(cp->origin, strlen(cp->origin), pub, id));
	line = hcl_note_signature_line(cp->origin, id, sig);
	linelen = strlen(line);
	len = cp->textlen + 1 + linelen;
	note = malloc(len);
	memcpy(note, cp->text, cp->textlen);
	note[cp->textlen] = '\n';
	memcpy(note + cp->textlen + 1, line, linelen);

	why = hcl_checkpoint_parse(note, len, &again);
	if (why != NULL)
		fprintf(stderr, "re-signed note refused: %s\n", why);
	FZ_CHECK(why == NULL);
	FZ_CHECK(again.nsigs == 1 && again.textlen == cp->textlen);
	FZ_CHECK(strcmp(again.origin, cp->origin) == 0);
	FZ_CHECK(again.size == cp->size && memcmp(again.root, cp->root, 32) == 0);
	FZ_CHECK(again.has_time == cp->has_time && (!cp->has_time || again.time == cp->time));
	FZ_CHECK(hcl_checkpoint_verify(&again, &keys[3], 1, &which, NULL, reason, sizeof(reason)));
	FZ_CHECK(which == 0);
	FZ_CHECK(hcl_checkpoint_verify(&again, keys, 4, &which, NULL, reason, sizeof(reason)));
	FZ_CHECK(which == expected_key(&again));
	FZ_CHECK(!hcl_checkpoint_verify(&again, &keys[2], 1, &which, NULL, reason, sizeof(reason)));
	free(note);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready = false;
	char	   *note = fz_dup(data, size);
	hcl_checkpoint *cp = malloc(sizeof(hcl_checkpoint));
	const char *why;

	if (!ready)
	{
		init_keys();
		ready = true;
	}
	why = hcl_checkpoint_parse(note, size, cp);
	if (why == NULL)
	{
		check_parsed(note, size, cp);
		check_verify(cp, keys, 4);
		check_verify(cp, &keys[3], 1);
		check_verify(cp, keys, 0);
		check_verify_sm2(cp, keys, 4);
		check_resigned(cp);
	}
	else
		FZ_CHECK(why[0] != '\0');
	free(cp);
	free(note);
	shim_reset();
	return 0;
}
