/*
 * shim_mem.c
 *		palloc and friends for the fuzzing harnesses: a per-input memory
 *		context.
 *
 * The extension allocates with palloc and lets the server free a memory
 * context wholesale; the offline verifier's libpgcommon (fe_memutils.c)
 * allocates with malloc and never frees.  Here every allocation is a
 * separate malloc (so AddressSanitizer puts a red zone around each one and
 * sees any overflow), kept on a list that shim_reset() frees after each
 * input, as the end of a query frees its context.  LeakSanitizer then
 * reports only what was allocated outside palloc (OpenSSL objects).
 *
 * Compiled with the frontend's declarations (common/fe_memutils.h) and
 * defining every symbol fe_memutils.o exports, so that the linker never
 * pulls libpgcommon's own allocator in beside this one.
 */
#include "postgres_fe.h"

#include "pgshim.h"

typedef struct ShimChunk
{
	struct ShimChunk *prev;
	struct ShimChunk *next;
	size_t		size;
	size_t		pad;			/* keeps the user pointer 16-byte aligned */
} ShimChunk;

static ShimChunk shim_head = {&shim_head, &shim_head, 0, 0};
static size_t shim_live_chunks = 0;

static void *
shim_alloc(size_t size, int flags)
{
	ShimChunk  *c;

	if (size > MaxAllocSize && !(flags & MCXT_ALLOC_HUGE))
		shim_alloc_too_large(size);
	c = malloc(sizeof(ShimChunk) + size);
	if (c == NULL)
	{
		if (flags & MCXT_ALLOC_NO_OOM)
			return NULL;
		fprintf(stderr, "pgshim: out of memory (%zu bytes)\n", size);
		abort();
	}
	c->size = size;
	c->next = shim_head.next;
	c->prev = &shim_head;
	shim_head.next->prev = c;
	shim_head.next = c;
	shim_live_chunks++;
	if (flags & MCXT_ALLOC_ZERO)
		memset(c + 1, 0, size);
	return c + 1;
}

static void
shim_unlink(ShimChunk *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	shim_live_chunks--;
}

void
shim_reset(void)
{
	ShimChunk  *c = shim_head.next;

	while (c != &shim_head)
	{
		ShimChunk  *next = c->next;

		free(c);
		c = next;
	}
	shim_head.next = shim_head.prev = &shim_head;
	shim_live_chunks = 0;
}

void *
palloc(Size size)
{
	return shim_alloc(size, 0);
}

void *
palloc0(Size size)
{
	return shim_alloc(size, MCXT_ALLOC_ZERO);
}

void *
palloc_extended(Size size, int flags)
{
	return shim_alloc(size, flags);
}

void
pfree(void *pointer)
{
	ShimChunk  *c = (ShimChunk *) pointer - 1;

	shim_unlink(c);
	free(c);
}

void *
repalloc(void *pointer, Size size)
{
	ShimChunk  *old = (ShimChunk *) pointer - 1;
	void	   *p;

	if (size > MaxAllocSize)
		shim_alloc_too_large(size);
	/* a fresh chunk, not realloc: a stale pointer to the old one is caught */
	p = shim_alloc(size, 0);
	memcpy(p, pointer, Min(size, old->size));
	pfree(pointer);
	return p;
}

char *
pstrdup(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = shim_alloc(len + 1, 0);

	memcpy(out, in, len + 1);
	return out;
}

char *
pnstrdup(const char *in, Size size)
{
	size_t		len = strnlen(in, size);
	char	   *out = shim_alloc(len + 1, 0);

	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

Size
add_size(Size s1, Size s2)
{
	Size		result = s1 + s2;

	if (result < s1 || result < s2)
		shim_alloc_too_large(SIZE_MAX);
	return result;
}

Size
mul_size(Size s1, Size s2)
{
	Size		result;

	if (s1 == 0 || s2 == 0)
		return 0;
	result = s1 * s2;
	if (result / s2 != s1)
		shim_alloc_too_large(SIZE_MAX);
	return result;
}

void *
palloc_mul(Size s1, Size s2)
{
	return palloc(mul_size(s1, s2));
}

void *
palloc0_mul(Size s1, Size s2)
{
	return palloc0(mul_size(s1, s2));
}

void *
palloc_mul_extended(Size s1, Size s2, int flags)
{
	return palloc_extended(mul_size(s1, s2), flags);
}

void *
repalloc_mul(void *p, Size s1, Size s2)
{
	return repalloc(p, mul_size(s1, s2));
}

/* The frontend's pg_ names: the same allocator. */
char *
pg_strdup(const char *in)
{
	return pstrdup(in);
}

void *
pg_malloc(size_t size)
{
	return palloc(size);
}

void *
pg_malloc0(size_t size)
{
	return palloc0(size);
}

void *
pg_malloc_extended(size_t size, int flags)
{
	return palloc_extended(size, flags);
}

void *
pg_realloc(void *pointer, size_t size)
{
	return pointer == NULL ? palloc(size) : repalloc(pointer, size);
}

void
pg_free(void *pointer)
{
	if (pointer != NULL)
		pfree(pointer);
}

void *
pg_malloc_mul(Size s1, Size s2)
{
	return palloc(mul_size(s1, s2));
}

void *
pg_malloc0_mul(Size s1, Size s2)
{
	return palloc0(mul_size(s1, s2));
}

void *
pg_malloc_mul_extended(Size s1, Size s2, int flags)
{
	return palloc_extended(mul_size(s1, s2), flags);
}

void *
pg_realloc_mul(void *p, Size s1, Size s2)
{
	return pg_realloc(p, mul_size(s1, s2));
}
