/* A bump allocator for the state of small tensors. Each small tensor's
 * state buffers are placed one after another in a slab of 1 MiB, so many
 * small tensors' state is contiguous in memory (the step streams through it
 * as through one large tensor) instead of one allocation per buffer, each
 * with its own header and its own partial pages. Slabs start on a 4 KiB
 * boundary, so a buffer of whole pages occupies exactly its pages. Nothing
 * moves once placed; slabs are freed only with the optimizer. */
#include "internal.h"

#include <string.h>

#define ARENA_PAGE ((size_t)4096)
#define ARENA_SLAB ((size_t)1 << 20)

struct descent_arena_slab {
    struct descent_arena_slab *next;
    unsigned char *data;        /* ARENA_SLAB bytes, 4 KiB aligned */
    size_t used;
};

void *descent_arena_take(descent_optimizer *opt, size_t bytes)
{
    bytes = (bytes + DESCENT_ALIGN - 1) / DESCENT_ALIGN * DESCENT_ALIGN;
    if (bytes > DESCENT_ARENA_MAX)
        return NULL;
    descent_arena_slab *s = opt->arena;
    if (!s || ARENA_SLAB - s->used < bytes) {
        unsigned char *raw = descent_mem_alloc(&opt->mem, sizeof *s + ARENA_PAGE + ARENA_SLAB);
        if (!raw)
            return NULL;
        s = (descent_arena_slab *)(void *)raw;
        uintptr_t start = (uintptr_t)(raw + sizeof *s);
        s->data = raw + sizeof *s + ((ARENA_PAGE - start % ARENA_PAGE) % ARENA_PAGE);
        s->used = 0;
        s->next = opt->arena;
        opt->arena = s;
    }
    void *p = s->data + s->used;
    s->used += bytes;
    return p;
}

size_t descent_arena_mark(const descent_optimizer *opt) { return opt->arena ? opt->arena->used : 0; }

void descent_arena_rollback(descent_optimizer *opt, size_t mark, const descent_arena_slab *head)
{
    /* A slab added since the mark stays, empty, for the next tensor. */
    if (opt->arena && opt->arena == head)
        opt->arena->used = mark;
    else if (opt->arena)
        opt->arena->used = 0;
}

void descent_arena_free(descent_optimizer *opt)
{
    descent_arena_slab *s = opt->arena;
    while (s) {
        descent_arena_slab *next = s->next;
        descent_mem_free(&opt->mem, s);
        s = next;
    }
    opt->arena = NULL;
}
