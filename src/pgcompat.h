/*
 * pgcompat.h
 *		What differs between the PostgreSQL versions hcledger builds
 *		against (15 to 17), in one place.
 */
#ifndef HCL_PGCOMPAT_H
#define HCL_PGCOMPAT_H

#include "common/jsonapi.h"

/* A JSON lexer over len bytes of json, and its release. */
#if PG_VERSION_NUM >= 170000
#define hcl_json_lexer(json, len, encoding, escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (encoding), (escapes))
#define hcl_json_lexer_free(lex) freeJsonLexContext(lex)
#else
#define hcl_json_lexer(json, len, encoding, escapes) \
	makeJsonLexContextCstringLen((json), (int) (len), (encoding), (escapes))
static inline void
hcl_json_lexer_free(JsonLexContext *lex)
{
	if (lex->strval != NULL)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}
#endif

/* This backend's local transaction id (the server only). */
#if PG_VERSION_NUM >= 170000
#define HCL_MY_LXID (MyProc->vxid.lxid)
#else
#define HCL_MY_LXID (MyProc->lxid)
#endif

/*
 * Memory for a setting's "extra" (a check hook's result): PostgreSQL 16 on
 * frees it with guc_free, so it must come from guc_malloc; before, malloc.
 */
#if PG_VERSION_NUM >= 160000
#define hcl_guc_extra_alloc(size) guc_malloc(LOG, (size))
#else
#define hcl_guc_extra_alloc(size) malloc(size)
#endif

#endif							/* HCL_PGCOMPAT_H */
