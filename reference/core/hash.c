/*
 * hash.c - the intrusive hash table behind sessions, exact subscriptions and
 * retained messages.
 */
#include <stdlib.h>

#include "core_internal.h"

/* FNV-1a: short keys, no adversary-controlled seed needed for a bounded table. */
uint32_t core_hash(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

bool core_htab_init(core_htab *h)
{
    h->nb = 64;
    h->n = 0;
    h->b = calloc(h->nb, sizeof *h->b);
    return h->b != NULL;
}

void core_htab_free(core_htab *h)
{
    free(h->b);
    h->b = NULL;
    h->nb = h->n = 0;
}

core_hnode *core_htab_bucket(const core_htab *h, uint32_t hash)
{
    return h->b[hash & (h->nb - 1)];
}

/* Doubles the bucket array when chains get long; on allocation failure the
 * table keeps working with longer chains. */
static void grow(core_htab *h)
{
    size_t nb = h->nb * 2;
    core_hnode **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < h->nb; i++) {
        core_hnode *n = h->b[i];
        while (n) {
            core_hnode *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(h->b);
    h->b = b;
    h->nb = nb;
}

void core_htab_insert(core_htab *h, core_hnode *n)
{
    if (h->n >= h->nb * 2)
        grow(h);
    core_hnode **slot = &h->b[n->hash & (h->nb - 1)];
    n->next = *slot;
    *slot = n;
    h->n++;
}

void core_htab_remove(core_htab *h, core_hnode *n)
{
    for (core_hnode **p = &h->b[n->hash & (h->nb - 1)]; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            h->n--;
            return;
        }
}
