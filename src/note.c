/*
 * note.c
 *		Checkpoints as C2SP signed notes (c2sp.org/signed-note,
 *		c2sp.org/tlog-checkpoint): parsing, signature lines, verification.
 *
 * Compiled into the extension and into hcledger-verify.  See note.h.
 */
#ifdef FRONTEND
#include "postgres_fe.h"
#else
#include "postgres.h"
#endif

#include <limits.h>

#include "common/base64.h"
#include "mb/pg_wchar.h"

#include "crypto.h"
#include "note.h"

/* U+2014 EM DASH and a space: how a signature line starts. */
static const char hcl_sig_prefix[] = "\xe2\x80\x94 ";
#define HCL_SIG_PREFIX_LEN 4

void
hcl_trust_always(hcl_trusted_key *key, const uint8_t pub[32], const char *label)
{
	memcpy(key->pub, pub, 32);
	key->valid_from = INT64_MIN;
	key->valid_until = HCL_TIME_NONE;
	key->revoked_at = HCL_TIME_NONE;
	key->label = label;
}

bool
hcl_note_key_id(const char *name, size_t namelen, const uint8_t pub[32],
				uint8_t out[4])
{
	uint8_t		h[HCL_HASH_LEN];
	uint8_t		tail[2 + 32];

	/* SHA-256(name || 0x0A || 0x01 || pub), keep 4 bytes */
	tail[0] = 0x0a;
	tail[1] = HCL_NOTE_ED25519;
	memcpy(tail + 2, pub, 32);
	if (namelen == 0 || !hcl_sha256_prefixed((uint8_t) name[0], name + 1, namelen - 1,
											 tail, sizeof(tail), h))
		return false;
	memcpy(out, h, 4);
	return true;
}

bool
hcl_note_sm2_key_id(const char *name, size_t namelen, const uint8_t pub[65],
					uint8_t out[4])
{
	uint8_t		h[HCL_HASH_LEN];
	uint8_t		tail[1 + HCL_NOTE_SM2_TYPE_LEN + 65];

	/* SHA-256(name || 0x0A || 0xFF || "hcledger/sm2-sm3" || pub), keep 4 bytes */
	tail[0] = 0x0a;
	memcpy(tail + 1, HCL_NOTE_SM2_TYPE, HCL_NOTE_SM2_TYPE_LEN);
	memcpy(tail + 1 + HCL_NOTE_SM2_TYPE_LEN, pub, 65);
	if (namelen == 0 || !hcl_sha256_prefixed((uint8_t) name[0], name + 1, namelen - 1,
											 tail, sizeof(tail), h))
		return false;
	memcpy(out, h, 4);
	return true;
}

int
hcl_b64_decode_strict(const char *src, size_t len, uint8_t *dst, size_t dstlen)
{
	int			n;
	char	   *again;
	bool		same;

	if (len == 0 || len % 4 != 0 || len > INT_MAX / 2 ||
		(size_t) pg_b64_dec_len((int) len) > dstlen + 2)
		return -1;
	n = pg_b64_decode(src, (int) len, (char *) dst, (int) dstlen);
	if (n < 0)
		return -1;
	/* Only the canonical encoding: no whitespace, no stray padding bits. */
	again = palloc(pg_b64_enc_len(n) + 1);
	same = pg_b64_encode((const char *) dst, n, again, pg_b64_enc_len(n)) == (int) len &&
		memcmp(again, src, len) == 0;
	pfree(again);
	return same ? n : -1;
}

char *
hcl_note_signature_line(const char *name, const uint8_t key_id[4],
						const uint8_t sig[64])
{
	uint8_t		raw[4 + 64];
	char		b64[100];
	int			n;
	size_t		namelen = strlen(name);
	char	   *line;

	memcpy(raw, key_id, 4);
	memcpy(raw + 4, sig, 64);
	n = pg_b64_encode((const char *) raw, sizeof(raw), b64, sizeof(b64));
	line = palloc(HCL_SIG_PREFIX_LEN + namelen + 1 + n + 2);
	memcpy(line, hcl_sig_prefix, HCL_SIG_PREFIX_LEN);
	memcpy(line + HCL_SIG_PREFIX_LEN, name, namelen);
	line[HCL_SIG_PREFIX_LEN + namelen] = ' ';
	memcpy(line + HCL_SIG_PREFIX_LEN + namelen + 1, b64, n);
	line[HCL_SIG_PREFIX_LEN + namelen + 1 + n] = '\n';
	line[HCL_SIG_PREFIX_LEN + namelen + 1 + n + 1] = '\0';
	return line;
}

bool
hcl_parse_decimal(const char *s, size_t len, int64_t *out)
{
	uint64_t	v = 0;

	if (len == 0 || len > 19 || (s[0] == '0' && len > 1))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t) (s[i] - '0');
	}
	if (v > (uint64_t) INT64_MAX)
		return false;
	*out = (int64_t) v;
	return true;
}

/*
 * One signature line (without its newline).  Signatures of other types
 * (a witness's cosignature, a post-quantum one) may be longer than
 * Ed25519's 64 bytes: they are kept with siglen 0 and never match.
 */
static const char *
hcl_parse_sig_line(const char *line, size_t len, hcl_note_sig *sig)
{
	const char *name;
	const char *sp;
	const char *b64;
	size_t		b64len;
	uint8_t    *raw;
	int			n;

	if (len < HCL_SIG_PREFIX_LEN || memcmp(line, hcl_sig_prefix, HCL_SIG_PREFIX_LEN) != 0)
		return "a signature line does not start with an em dash and a space";
	name = line + HCL_SIG_PREFIX_LEN;
	sp = memchr(name, ' ', len - HCL_SIG_PREFIX_LEN);
	if (sp == NULL || sp == name)
		return "a signature line has no key name";
	for (const char *p = name; p < sp; p++)
		if (*p == '+' || *p == '\t')
			return "a key name contains a plus sign or a tab";
	b64 = sp + 1;
	b64len = len - (size_t) (b64 - line);
	raw = palloc(b64len + 3);
	n = hcl_b64_decode_strict(b64, b64len, raw, b64len);
	if (n < 5)
	{
		pfree(raw);
		return "a signature is not canonical base64 of a key ID and a signature";
	}
	sig->name = name;
	sig->namelen = (size_t) (sp - name);
	memcpy(sig->key_id, raw, 4);
	sig->siglen = (size_t) n - 4;
	if (sig->siglen == sizeof(sig->sig))
		memcpy(sig->sig, raw + 4, sig->siglen);
	else
		sig->siglen = 0;		/* not Ed25519: never verifies here */
	pfree(raw);
	return NULL;
}

/* The checkpoint's text: origin, size, root, extension lines. */
static const char *
hcl_parse_text(hcl_checkpoint *cp)
{
	const char *p = cp->text;
	const char *end = cp->text + cp->textlen;
	int			lineno = 0;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', end - p);
		size_t		len = (size_t) (nl - p);
		int64_t		v;

		if (len == 0)
			return "the checkpoint text has an empty line";
		if (lineno == 0)
		{
			cp->origin = palloc(len + 1);
			memcpy(cp->origin, p, len);
			cp->origin[len] = '\0';
		}
		else if (lineno == 1)
		{
			if (!hcl_parse_decimal(p, len, &v))
				return "the tree size is not a decimal number without leading zeros";
			cp->size = (uint64_t) v;
		}
		else if (lineno == 2)
		{
			uint8_t		root[32 + 3];

			if (hcl_b64_decode_strict(p, len, root, sizeof(root)) != 32)
				return "the root hash is not canonical base64 of 32 bytes";
			memcpy(cp->root, root, 32);
		}
		else if (len > 14 && memcmp(p, "hcledger-time ", 14) == 0)
		{
			if (cp->has_time || !hcl_parse_decimal(p + 14, len - 14, &v))
				return "the hcledger-time line is malformed or repeated";
			cp->has_time = true;
			cp->time = v;
		}
		lineno++;
		p = nl + 1;
	}
	if (lineno < 3)
		return "the checkpoint text has fewer than three lines";
	return NULL;
}

const char *
hcl_checkpoint_parse(const char *note, size_t len, hcl_checkpoint *cp)
{
	const char *split = NULL;
	const char *p;
	const char *end = note + len;
	const char *reason;

	memset(cp, 0, sizeof(*cp));
	if (len == 0 || note[len - 1] != '\n')
		return "the checkpoint does not end in a newline";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) note[i] < 0x20 && note[i] != '\n')
			return "the checkpoint contains a control character";
	if (pg_encoding_verifymbstr(PG_UTF8, note, (int) len) != (int) len)
		return "the checkpoint is not valid UTF-8";
	/* the text ends at the last blank line */
	for (p = note; p + 1 < end; p++)
		if (p[0] == '\n' && p[1] == '\n')
			split = p;
	if (split == NULL)
		return "the checkpoint has no signatures (no blank line after its text)";
	cp->text = note;
	cp->textlen = (size_t) (split - note) + 1;
	if ((reason = hcl_parse_text(cp)) != NULL)
		return reason;
	for (p = split + 2; p < end;)
	{
		const char *nl = memchr(p, '\n', end - p);

		if (cp->nsigs == HCL_NOTE_MAX_SIGS)
			return "the checkpoint has too many signatures";
		if ((reason = hcl_parse_sig_line(p, (size_t) (nl - p), &cp->sigs[cp->nsigs])) != NULL)
			return reason;
		cp->nsigs++;
		p = nl + 1;
	}
	if (cp->nsigs == 0)
		return "the checkpoint has no signature lines";
	return NULL;
}

bool
hcl_checkpoint_verify(const hcl_checkpoint *cp, const hcl_trusted_key *keys,
					  int nkeys, int *which, bool *known,
					  char *reason, size_t reasonlen)
{
	size_t		olen = strlen(cp->origin);
	bool		dummy;

	if (known == NULL)
		known = &dummy;
	*known = false;

	snprintf(reason, reasonlen, "no signature by a trusted key for origin \"%s\"",
			 cp->origin);
	for (int i = 0; i < cp->nsigs; i++)
	{
		const hcl_note_sig *s = &cp->sigs[i];
		int			matched = 0;
		int			last = -1;
		bool		verified = false;

		if (s->namelen != olen || memcmp(s->name, cp->origin, olen) != 0)
			continue;
		/*
		 * A key id is 4 bytes: other keys may share it (by chance, or made
		 * to with 2^32 work).  The line is tried under every trusted key
		 * with its id; it is bad only if it verifies under none of them.
		 */
		for (int k = 0; k < nkeys; k++)
		{
			uint8_t		id[4];
			const hcl_trusted_key *key = &keys[k];

			if (!hcl_note_key_id(cp->origin, olen, key->pub, id))
			{
				snprintf(reason, reasonlen, "SHA-256 failed");
				return false;
			}
			if (memcmp(id, s->key_id, 4) != 0)
				continue;
			matched++;
			last = k;
			*known = true;
			if (s->siglen != 64 ||
				hcl_ed25519_verify(key->pub, 32, (const uint8_t *) cp->text, cp->textlen,
								   s->sig, s->siglen) != HCL_SIG_VALID)
				continue;
			verified = true;
			if (!cp->has_time &&
				(key->valid_from != INT64_MIN || key->valid_until != HCL_TIME_NONE ||
				 key->revoked_at != HCL_TIME_NONE))
				snprintf(reason, reasonlen,
						 "the checkpoint has no hcledger-time line, so key %s (valid for a period) cannot vouch for it",
						 key->label);
			else if (cp->has_time && cp->time >= key->revoked_at)
				snprintf(reason, reasonlen,
						 "signed by key %s at %lld, at or after its revocation at %lld",
						 key->label, (long long) cp->time, (long long) key->revoked_at);
			else if (cp->has_time && cp->time < key->valid_from)
				snprintf(reason, reasonlen,
						 "signed by key %s at %lld, before it became valid at %lld",
						 key->label, (long long) cp->time, (long long) key->valid_from);
			else if (cp->has_time && cp->time >= key->valid_until)
				snprintf(reason, reasonlen,
						 "signed by key %s at %lld, after it expired at %lld",
						 key->label, (long long) cp->time, (long long) key->valid_until);
			else
			{
				*which = k;
				snprintf(reason, reasonlen, "signed by key %s", key->label);
				return true;
			}
		}
		if (matched > 0 && !verified)
		{
			snprintf(reason, reasonlen, "the signature by key %s%s does not verify",
					 keys[last].label, matched > 1 ? " (or any other trusted key with its key id)" : "");
			return false;
		}
	}
	return false;
}

/*
 * Can an SM2 key that verified a line vouch for the checkpoint (at its
 * hcledger-time)?  If not, false with the reason.
 */
static bool
hcl_sm2_key_in_time(const hcl_checkpoint *cp, const hcl_trusted_sm2_key *key,
					char *reason, size_t reasonlen)
{
	if (!cp->has_time)
	{
		if (key->valid_from == INT64_MIN && key->valid_until == HCL_TIME_NONE &&
			key->revoked_at == HCL_TIME_NONE)
			return true;
		snprintf(reason, reasonlen,
				 "the checkpoint has no hcledger-time line, so SM2 key %s (valid for a period) cannot vouch for it",
				 key->label);
	}
	else if (cp->time >= key->revoked_at)
		snprintf(reason, reasonlen,
				 "signed with SM2 key %s at %lld, at or after its revocation at %lld",
				 key->label, (long long) cp->time, (long long) key->revoked_at);
	else if (cp->time < key->valid_from)
		snprintf(reason, reasonlen,
				 "signed with SM2 key %s at %lld, before it became valid at %lld",
				 key->label, (long long) cp->time, (long long) key->valid_from);
	else if (cp->time >= key->valid_until)
		snprintf(reason, reasonlen,
				 "signed with SM2 key %s at %lld, after it expired at %lld",
				 key->label, (long long) cp->time, (long long) key->valid_until);
	else
		return true;
	return false;
}

bool
hcl_checkpoint_verify_sm2(const hcl_checkpoint *cp,
						  const hcl_trusted_sm2_key *sm2keys, int nsm2,
						  const hcl_trusted_key *edkeys, int ned,
						  bool required, int *which,
						  char *reason, size_t reasonlen)
{
	size_t		olen = strlen(cp->origin);
	char		late[512];

	*which = -1;
	late[0] = '\0';
	for (int i = 0; i < cp->nsigs; i++)
	{
		const hcl_note_sig *s = &cp->sigs[i];
		int			matched = 0;
		int			last = -1;
		bool		verified = false;

		if (s->namelen != olen || memcmp(s->name, cp->origin, olen) != 0)
			continue;
		/* as for Ed25519: every SM2 key with the line's key ID is tried */
		for (int k = 0; k < nsm2; k++)
		{
			uint8_t		id[4];

			if (!hcl_note_sm2_key_id(cp->origin, olen, sm2keys[k].pub, id))
			{
				snprintf(reason, reasonlen, "SHA-256 failed");
				return false;
			}
			if (memcmp(id, s->key_id, 4) != 0)
				continue;
			matched++;
			last = k;
			if (s->siglen != 64 ||
				hcl_sm2_verify(sm2keys[k].pub, 65,
							   (const uint8_t *) HCL_NOTE_SM2_ID, HCL_NOTE_SM2_ID_LEN,
							   (const uint8_t *) cp->text, cp->textlen,
							   s->sig, s->siglen, HCL_SIG_RAW) != HCL_SIG_VALID)
				continue;
			verified = true;
			if (*which < 0)
			{
				if (hcl_sm2_key_in_time(cp, &sm2keys[k], late, sizeof(late)))
					*which = k;
			}
		}
		if (matched > 0 && !verified)
		{
			snprintf(reason, reasonlen, "the SM2 signature by key %s%s does not verify",
					 sm2keys[last].label,
					 matched > 1 ? " (or any other SM2 key with its key id)" : "");
			return false;
		}
		if (matched == 0 && required)
		{
			bool		known = false;

			for (int k = 0; k < ned && !known; k++)
			{
				uint8_t		id[4];

				if (!hcl_note_key_id(cp->origin, olen, edkeys[k].pub, id))
				{
					snprintf(reason, reasonlen, "SHA-256 failed");
					return false;
				}
				known = memcmp(id, s->key_id, 4) == 0;
			}
			if (!known)
			{
				snprintf(reason, reasonlen,
						 "signature line %d is under the origin's name with key id %02x%02x%02x%02x, which is none of the signer's registered keys",
						 i + 1, s->key_id[0], s->key_id[1], s->key_id[2], s->key_id[3]);
				return false;
			}
		}
	}
	if (*which >= 0)
	{
		snprintf(reason, reasonlen, "SM2 signature by key %s", sm2keys[*which].label);
		return true;
	}
	if (!required)
	{
		snprintf(reason, reasonlen, "no SM2 signature is required%s%s",
				 late[0] ? "; " : "", late);
		return true;
	}
	if (late[0] != '\0')
		snprintf(reason, reasonlen, "%s", late);
	else
		snprintf(reason, reasonlen,
				 "the checkpoint has no SM2 signature line by a registered SM2 key of the signer");
	return false;
}
