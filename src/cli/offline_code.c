/*
 * offline_code.c
 *		hcledger-verify code: a health code's verdict from a trust bundle,
 *		with no database (docs/offline-verification.md).
 *
 *   hcledger-verify code --bundle FILE --key NODE_PUBLIC_KEY [--key ...]
 *                        [--max-age SECONDS] [--at UNIX_SECONDS] PAYLOAD|-
 *
 * The bundle must be signed by one of the keys (the exporting node's
 * Ed25519 key), its body must hash to what the note says, each checkpoint
 * in it must be signed by an Ed25519 key of its authority registered in it,
 * and each status snapshot must name that checkpoint's tree size.  A bundle
 * that fails any of this is refused (exit 2).  Then each payload (one, or
 * one per line of standard input for "-") gets verify_code's steps, the
 * ledger read from the snapshot of its authority, and one line:
 *
 *   <verdict> TAB <colour or -> TAB <authority or -> TAB <age> TAB <reason>
 *
 * age is how old, in seconds, the bundle's knowledge of the authority is.
 * Exits 0 if every payload is valid, 1 if one is not, 2 on a usage or
 * file error or a refused bundle.
 */
#include "postgres_fe.h"

#include <time.h>

#include "port/pg_bswap.h"

#include "../code_payload.h"
#include "../crypto.h"
#include "../note.h"
#include "../status_snapshot.h"
#include "offline_code.h"


typedef struct BundleKey
{
	char	   *key_id;
	char		algorithm[8];
	uint8_t		pub[65];
	size_t		publen;
	int64_t		valid_from;
	int64_t		valid_until;	/* HCL_TIME_NONE: none */
	int64_t		revoked_at;		/* HCL_TIME_NONE: not revoked */
} BundleKey;

typedef HclSnapEntry SnapEntry;

typedef struct BundleAuthority
{
	char	   *name;
	BundleKey  *keys;
	int			nkeys;
	int			keys_cap;
	bool		has_checkpoint;
	uint64_t	checkpoint_size;
	bool		has_snapshot;
	int64_t		as_of;			/* this node's knowledge of the authority dates from */
	int64_t		made_at;
	uint64_t	tree_size;
	int64_t		missing_rows;
	uint8_t		salt[16];
	SnapEntry  *entries;
	int64_t		nentries;
} BundleAuthority;

typedef struct Bundle
{
	int64_t		exported_at;
	char	   *exporter;
	BundleAuthority *auth;
	int			nauth;
	int			auth_cap;
} Bundle;

/* A line of the body: from *p to its newline, which must be there. */
static bool
take_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', end - *p);

	if (nl == NULL)
		return false;
	*line = *p;
	*len = (size_t) (nl - *p);
	*p = nl + 1;
	return true;
}

/* Split a line at spaces into at most max fields (NUL-terminated copies). */
static int
split_fields(const char *line, size_t len, char **fields, int max)
{
	char	   *copy = pnstrdup(line, len);
	int			n = 0;
	char	   *save = NULL;

	for (char *f = strtok_r(copy, " ", &save); f != NULL; f = strtok_r(NULL, " ", &save))
	{
		if (n == max)
			return -1;
		fields[n++] = f;
	}
	return n;
}

static bool
parse_time_field(const char *s, int64_t *out)
{
	if (strcmp(s, "-") == 0)
	{
		*out = HCL_TIME_NONE;
		return true;
	}
	return hcl_parse_decimal(s, strlen(s), out);
}

static BundleAuthority *
find_authority(Bundle *b, const char *name)
{
	for (int i = 0; i < b->nauth; i++)
		if (strcmp(b->auth[i].name, name) == 0)
			return &b->auth[i];
	return NULL;
}

static int
entry_cmp(const void *a, const void *b)
{
	return memcmp(((const SnapEntry *) a)->key, ((const SnapEntry *) b)->key, 4);
}

/* One snapshot (docs/offline-verification.md, "Layout"). */
static const char *
parse_snapshot(BundleAuthority *a, const char *s, size_t len)
{
	HclSnapshot snap;
	const char *why = hcl_snapshot_parse(s, len, &snap);

	if (why != NULL)
		return psprintf("the snapshot is malformed: %s", why);
	if (strcmp(snap.authority, a->name) != 0)
		return "a snapshot names another authority than its line";
	a->as_of = snap.as_of;
	a->made_at = snap.made_at;
	a->tree_size = (uint64_t) snap.tree_size;
	a->missing_rows = snap.missing_rows;
	memcpy(a->salt, snap.salt, 16);
	a->entries = snap.entries;
	a->nentries = snap.nentries;
	qsort(a->entries, a->nentries, sizeof(SnapEntry), entry_cmp);
	a->has_snapshot = true;
	return NULL;
}

/* An authority's Ed25519 keys in the bundle, as checkpoint verifiers take them. */
static int
trusted_node_keys(const BundleAuthority *a, hcl_trusted_key *out)
{
	int			n = 0;

	for (int i = 0; i < a->nkeys; i++)
	{
		const BundleKey *k = &a->keys[i];

		if (strcmp(k->algorithm, "ed25519") != 0)
			continue;
		memcpy(out[n].pub, k->pub, 32);
		out[n].valid_from = k->valid_from;
		out[n].valid_until = k->valid_until;
		out[n].revoked_at = k->revoked_at;
		out[n].label = k->key_id;
		n++;
	}
	return n;
}

const char *
hcl_bundle_load(const char *file, size_t len, const hcl_trusted_key *keys, int nkeys,
				Bundle **out)
{
	const char *p = file;
	const char *end = file + len;
	const char *line;
	size_t		ll;
	int64_t		notelen;
	hcl_checkpoint note;
	int			which;
	char		reason[512];
	uint8_t		digest[32];
	Bundle	   *b = pg_malloc0(sizeof(Bundle));
	const char *why;

	*out = b;
	if (!take_line(&p, end, &line, &ll) || ll != 17 || memcmp(line, "hcledger-bundle/1", 17) != 0)
		return "the file is not a trust bundle (hcledger-bundle/1)";
	if (!take_line(&p, end, &line, &ll) || !hcl_parse_decimal(line, ll, &notelen) ||
		notelen > end - p)
		return "the bundle's note length is malformed";
	if ((why = hcl_checkpoint_parse(p, (size_t) notelen, &note)) != NULL)
		return psprintf("the bundle's note: %s", why);
	if (strncmp(note.origin, "hcledger-bundle/", 16) != 0 || !note.has_time)
		return "the bundle's note is not a bundle's";
	if (!hcl_checkpoint_verify(&note, keys, nkeys, &which, NULL, reason, sizeof(reason)))
		return psprintf("the bundle's signature: %s", reason);
	b->exporter = pstrdup(note.origin + 16);
	b->exported_at = (int64_t) note.size;
	if (note.time != b->exported_at)
		return "the bundle's note has two export times";
	p += notelen;
	if (!hcl_sha256(p, (size_t) (end - p), digest) || memcmp(digest, note.root, 32) != 0)
		return "the bundle's body is not the one its note signs";

	while (p < end)
	{
		char	   *f[8];
		int			nf;
		BundleAuthority *a;

		if (!take_line(&p, end, &line, &ll) || (nf = split_fields(line, ll, f, 8)) < 2)
			return "the bundle's body has a malformed line";
		if (strcmp(f[0], "authority") == 0 && nf == 2)
		{
			if (find_authority(b, f[1]) != NULL)
				return "the bundle names an authority twice";
			if (b->nauth == b->auth_cap)
			{
				b->auth_cap = b->auth_cap * 2 + 8;
				b->auth = pg_realloc(b->auth, sizeof(BundleAuthority) * b->auth_cap);
			}
			memset(&b->auth[b->nauth], 0, sizeof(BundleAuthority));
			b->auth[b->nauth++].name = pstrdup(f[1]);
			continue;
		}
		if ((a = find_authority(b, f[1])) == NULL)
			return "the bundle has a line of an authority it does not name";
		if (strcmp(f[0], "key") == 0 && nf == 8)
		{
			BundleKey  *k;
			size_t		kidcap = strlen(f[2]);
			uint8_t    *kid = pg_malloc(kidcap + 1);
			int			n;

			if (a->nkeys == a->keys_cap)
			{
				a->keys_cap = a->keys_cap * 2 + 8;
				a->keys = pg_realloc(a->keys, sizeof(BundleKey) * a->keys_cap);
			}
			k = &a->keys[a->nkeys++];
			memset(k, 0, sizeof(*k));
			n = hcl_b64_decode_strict(f[2], strlen(f[2]), kid, kidcap);
			if (n < 1)
				return "a key line's key id is not base64";
			k->key_id = pnstrdup((char *) kid, n);
			pg_free(kid);
			for (int j = 0; j < a->nkeys - 1; j++)
				if (strcmp(a->keys[j].key_id, k->key_id) == 0)
					return "a key line repeats a key id of its authority";
			if (strlen(f[3]) >= sizeof(k->algorithm))
				return "a key line's algorithm is unknown";
			strcpy(k->algorithm, f[3]);
			n = hcl_b64_decode_strict(f[4], strlen(f[4]), k->pub, 65);
			if (!((strcmp(k->algorithm, "ed25519") == 0 && n == 32) ||
				  ((strcmp(k->algorithm, "es256") == 0 || strcmp(k->algorithm, "sm2") == 0) && n == 65)))
				return "a key line's algorithm or public key is malformed";
			k->publen = (size_t) n;
			if (!hcl_parse_decimal(f[5], strlen(f[5]), &k->valid_from) ||
				!parse_time_field(f[6], &k->valid_until) || !parse_time_field(f[7], &k->revoked_at))
				return "a key line's times are malformed";
		}
		else if (strcmp(f[0], "checkpoint") == 0 && nf == 3)
		{
			hcl_checkpoint cp;
			hcl_trusted_key *nk = pg_malloc0(sizeof(hcl_trusted_key) * (a->nkeys + 1));
			int			nn = trusted_node_keys(a, nk);
			size_t		b64len = strlen(f[2]);
			char	   *text = pg_malloc(b64len + 4);
			int			n = hcl_b64_decode_strict(f[2], b64len, (uint8_t *) text, b64len);

			if (a->has_checkpoint)
				return "a checkpoint line is repeated";
			if (n < 1)
				return "a checkpoint line is not base64";
			if ((why = hcl_checkpoint_parse(text, (size_t) n, &cp)) != NULL)
				return psprintf("the checkpoint of \"%s\": %s", a->name, why);
			/* the codes ledger's (docs/format.md: origin hcledger/<table>/<uuid>) */
			if (strncmp(cp.origin, "hcledger/hcledger.codes/", 24) != 0)
				return psprintf("the checkpoint of \"%s\" is not of a codes ledger (origin \"%s\")", a->name, cp.origin);
			if (!hcl_checkpoint_verify(&cp, nk, nn, &which, NULL, reason, sizeof(reason)))
				return psprintf("the checkpoint of \"%s\" is not signed by a key of its own in the bundle: %s",
								a->name, reason);
			a->has_checkpoint = true;
			a->checkpoint_size = cp.size;
		}
		else if (strcmp(f[0], "snapshot") == 0 && nf == 3)
		{
			int64_t		slen;

			if (a->has_snapshot || !hcl_parse_decimal(f[2], strlen(f[2]), &slen) || slen > end - p)
				return "a snapshot line is malformed or repeated";
			if ((why = parse_snapshot(a, p, (size_t) slen)) != NULL)
				return psprintf("the snapshot of \"%s\": %s", a->name, why);
			p += slen;
		}
		else
			return "the bundle's body has a line of an unknown kind";
	}
	for (int i = 0; i < b->nauth; i++)
	{
		BundleAuthority *a = &b->auth[i];

		if (!a->has_snapshot)
			return psprintf("the bundle has no snapshot of \"%s\"", a->name);
		if (a->has_checkpoint ? a->tree_size != a->checkpoint_size : a->tree_size != 0)
			return psprintf("the snapshot of \"%s\" is not of its checkpoint's tree size", a->name);
	}
	return NULL;
}

static void
hash_failed(void)
{
	fprintf(stderr, "hcledger-verify: SHA-256 failed\n");
	exit(2);
}

static void
put_be64(uint8_t *p, int64_t v)
{
	uint64_t	be = pg_hton64((uint64_t) v);

	memcpy(p, &be, 8);
}

/* An entry's key and check for a credential (docs/offline-verification.md, "Entries"). */
static void
entry_key_check(const BundleAuthority *a, const HclCode *c, const uint8_t commitment[32],
				uint8_t key[4], uint8_t check[4])
{
	StringInfoData m;
	uint8_t		h[32];
	uint8_t		t[24];

	initStringInfo(&m);
	appendStringInfoString(&m, "hcledger-status-key/1\n");
	appendBinaryStringInfo(&m, (const char *) a->salt, 16);
	appendBinaryStringInfo(&m, (const char *) c->id, HCL_ID_LEN);
	if (!hcl_sha256(m.data, m.len, h))
		hash_failed();
	memcpy(key, h, 4);
	resetStringInfo(&m);
	appendStringInfoString(&m, "hcledger-status-check/1\n");
	appendBinaryStringInfo(&m, (const char *) a->salt, 16);
	appendBinaryStringInfo(&m, (const char *) c->id, HCL_ID_LEN);
	appendBinaryStringInfo(&m, (const char *) commitment, 32);
	appendStringInfo(&m, "%s\n", c->key_id);
	put_be64(t, c->issued_at);
	put_be64(t + 8, c->valid_from);
	put_be64(t + 16, c->valid_until);
	appendBinaryStringInfo(&m, (const char *) t, 24);
	if (!hcl_sha256(m.data, m.len, h))
		hash_failed();
	memcpy(check, h, 4);
	pfree(m.data);
}

static const char *
iso_time(int64_t t, char *buf, size_t len)
{
	time_t		tt = (time_t) t;
	struct tm	tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S+00", &tm);
	return buf;
}

static const char *const colours[] = {"green", "yellow", "red"};

static void
offline_verdict(const Bundle *b, const char *payload, size_t len, int64_t now_us,
				int64_t max_age, hcl_offline_result *r, HclCode *cp)
{
	const char *problem;
	const BundleAuthority *a;
	const BundleKey *k = NULL;
	bool		p256;
	uint8_t		commitment[32];
	uint8_t		key[4],
				check[4];
	StringInfoData msg;
	hcl_verify_result sig;
	const SnapEntry *match = NULL;
	bool		keyed = false;
	char		t1[40];
	int64_t		now = now_us / 1000000;
	int64_t		known_until;

	memset(r, 0, sizeof(*r));
	/* a clock behind the bundle's export cannot be right: never before it */
	if (now < b->exported_at)
	{
		now = b->exported_at;
		now_us = now * 1000000;
	}
	r->age = now - b->exported_at;
	if (max_age >= 0 && r->age > max_age)
	{
		r->verdict = "stale";
		r->reason = psprintf("the bundle is %lld s old, older than the limit of %lld s: a revocation since would not be known",
							 (long long) r->age, (long long) max_age);
		return;
	}
	problem = hcl_code_decode(payload, len, cp);
	if (problem != NULL)
	{
		r->verdict = "invalid";
		r->reason = pstrdup(problem);
		return;
	}
	strlcpy(r->authority_buf, cp->authority, sizeof(r->authority_buf));
	r->authority = r->authority_buf;
	a = NULL;
	for (int i = 0; i < b->nauth; i++)
		if (strcmp(b->auth[i].name, cp->authority) == 0)
			a = &b->auth[i];
	if (a == NULL)
	{
		r->verdict = "unknown authority";
		r->reason = psprintf("authority \"%s\" is not in the bundle", cp->authority);
		return;
	}
	r->age = now - a->as_of;
	p256 = cp->alg == HCL_KEY_KIND_P256;
	for (int i = 0; i < a->nkeys; i++)
		if (strcmp(a->keys[i].key_id, cp->key_id) == 0)
			k = &a->keys[i];
	r->verdict = "bad signature";
	if (k == NULL || strcmp(k->algorithm, p256 ? "es256" : "sm2") != 0)
		r->reason = psprintf("authority \"%s\" has no %s key \"%s\"", cp->authority, p256 ? "es256" : "sm2", cp->key_id);
	else if (k->valid_from > cp->issued_at || (k->valid_until != HCL_TIME_NONE && k->valid_until <= cp->issued_at))
		r->reason = psprintf("key \"%s\" was not valid when the code was issued (%s)", cp->key_id,
							 iso_time(cp->issued_at, t1, sizeof(t1)));
	else if (k->revoked_at != HCL_TIME_NONE && k->revoked_at <= cp->issued_at)
		r->reason = psprintf("key \"%s\" was revoked at %s, at or before the second the code was issued",
							 cp->key_id, iso_time(k->revoked_at, t1, sizeof(t1)));
	if (r->reason != NULL)
		return;

	/* the snapshot's entries of this credential: the one recording it as signed */
	if (!hcl_commitment(cp, commitment))
		hash_failed();
	entry_key_check(a, cp, commitment, key, check);
	{
		SnapEntry	probe;
		const SnapEntry *hit;

		memcpy(probe.key, key, 4);
		hit = bsearch(&probe, a->entries, a->nentries, sizeof(SnapEntry), entry_cmp);
		if (hit != NULL)
		{
			keyed = true;
			while (hit > a->entries && memcmp(hit[-1].key, key, 4) == 0)
				hit--;
			for (; hit < a->entries + a->nentries && memcmp(hit->key, key, 4) == 0; hit++)
				if (memcmp(hit->check, check, 4) == 0)
					match = hit;
		}
	}

	initStringInfo(&msg);
	hcl_code_message_append(&msg, cp->alg, cp->selective, cp->authority, cp->key_id, cp->id, cp->issued_at,
							cp->valid_from, cp->valid_until, commitment);
	sig = p256 ? hcl_p256_verify(k->pub, k->publen, (uint8_t *) msg.data, msg.len, cp->sig, 64, HCL_SIG_RAW)
		: hcl_sm2_verify(k->pub, k->publen, (const uint8_t *) HCL_NOTE_SM2_ID, HCL_NOTE_SM2_ID_LEN,
						 (uint8_t *) msg.data, msg.len, cp->sig, 64, HCL_SIG_RAW);
	pfree(msg.data);
	if (sig != HCL_SIG_VALID)
	{
		if (keyed && match == NULL)
		{
			r->verdict = "tampered";
			r->reason = "the claims or salt are not those the authority signed";
		}
		else
			r->reason = "the issuer's signature does not verify";
		return;
	}
	if (!keyed)
	{
		/*
		 * Not in the snapshot: a code issued before what the snapshot knows
		 * of its authority (when it was made; for a member, when it was last
		 * heard from) should be there; one issued since cannot be.
		 */
		known_until = Min(a->made_at, a->as_of);
		if (cp->valid_until <= a->made_at)
		{
			r->verdict = "expired";
			r->reason = psprintf("valid until %s (the snapshot keeps no code expired when it was made)",
								 iso_time(cp->valid_until, t1, sizeof(t1)));
		}
		else if (cp->issued_at >= known_until)
		{
			r->verdict = "not yet sealed";
			r->reason = psprintf("issued after the bundle's knowledge of \"%s\" ends (%s): verify it online or with a newer bundle",
								 cp->authority, iso_time(known_until, t1, sizeof(t1)));
		}
		else
		{
			r->verdict = "not found";
			r->reason = psprintf("the code is signed by \"%s\" but its ledger has no record of it", cp->authority);
		}
		return;
	}
	if (match == NULL)
	{
		r->verdict = "tampered";
		r->reason = "the ledger does not record this code as it was signed";
		return;
	}
	if (cp->disclosure_problem != NULL)
	{
		r->verdict = "tampered";
		r->reason = cp->disclosure_problem;
		return;
	}
	r->colour = colours[match->state & HCL_ST_COLOUR];
	/* verify_code's order: own rows, own revocation, source revoked, source rows */
	if (match->state & HCL_ST_TAMPERED)
	{
		r->verdict = "tampered";
		r->reason = "a ledger row of this code does not match what was sealed";
		r->colour = NULL;
	}
	else if ((match->state & HCL_ST_REVOKED) && match->revoke_at_us <= now_us)
	{
		r->verdict = "revoked";
		r->reason = match->revoke_at_us <= 0 ? "revoked (in effect when the bundle's snapshot was made)"
			: psprintf("revoked at %s", iso_time(match->revoke_at_us / 1000000, t1, sizeof(t1)));
	}
	else if (match->state & HCL_ST_SRC_REVOKED)
	{
		r->verdict = "revoked";
		r->reason = "source revoked: the code it was converted from is revoked";
	}
	else if (match->state & HCL_ST_SRC_TAMPERED)
	{
		r->verdict = "tampered";
		r->reason = "the code it was converted from does not match what was sealed";
		r->colour = NULL;
	}
	else if (now >= cp->valid_until)
	{
		r->verdict = "expired";
		r->reason = psprintf("valid until %s", iso_time(cp->valid_until, t1, sizeof(t1)));
	}
	else if (now < cp->valid_from)
	{
		r->verdict = "not yet valid";
		r->reason = psprintf("valid from %s", iso_time(cp->valid_from, t1, sizeof(t1)));
	}
	else if (match->state & HCL_ST_SRC_UNSURE)
	{
		r->verdict = "stale";
		r->reason = "the standing of the code it was converted from was not known for certain when the bundle was made";
	}
	else if (a->missing_rows > 0)
	{
		r->verdict = "incomplete";
		r->reason = psprintf("the log of \"%s\" lacked %lld sealed rows when the bundle was made; one may change this code",
							 cp->authority, (long long) a->missing_rows);
	}
	else if (match->state & HCL_ST_PENDING)
	{
		r->verdict = "not yet sealed";
		r->reason = "a ledger row of this code was not yet sealed under a checkpoint when the bundle was made";
	}
	else if (max_age >= 0 && r->age > max_age)
	{
		r->verdict = "stale";
		r->reason = psprintf("the bundle's knowledge of \"%s\" is %lld s old, older than the limit of %lld s",
							 cp->authority, (long long) r->age, (long long) max_age);
	}
	else
	{
		r->verdict = "valid";
		if (match->state & HCL_ST_REVOKED)
			r->reason = psprintf("revocation scheduled for %s", iso_time(match->revoke_at_us / 1000000, t1, sizeof(t1)));
	}
}

void
hcl_offline_verdict(const Bundle *b, const char *payload, size_t len, int64_t now_us,
					int64_t max_age, hcl_offline_result *r)
{
	HclCode		c;

	memset(&c, 0, sizeof(c));
	offline_verdict(b, payload, len, now_us, max_age, r, &c);
	hcl_code_release(&c);
}
