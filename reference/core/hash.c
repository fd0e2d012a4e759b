/*
 * hash.c - the intrusive hash table behind sessions, exact subscriptions and
 * retained messages.
 */
#include <stdlib.h>

#include "core_internal.h"

#define ROTL_(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND_                                                                                  \
    do {                                                                                           \
        v0 += v1; v1 = ROTL_(v1, 13); v1 ^= v0; v0 = ROTL_(v0, 32);                               \
        v2 += v3; v3 = ROTL_(v3, 16); v3 ^= v2;                                                    \
        v0 += v3; v3 = ROTL_(v3, 21); v3 ^= v0;                                                    \
        v2 += v1; v1 = ROTL_(v1, 17); v1 ^= v2; v2 = ROTL_(v2, 32);                               \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* SipHash-2-4 (Aumasson, Bernstein 2012): client identifiers and topics are chosen
 * by clients, so the tables use a keyed hash against collision flooding. */
uint64_t core_siphash(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64(in + i);
        v3 ^= m;
        SIPROUND_;
        SIPROUND_;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        b |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND_;
    SIPROUND_;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND_;
    SIPROUND_;
    SIPROUND_;
    SIPROUND_;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t core_hash(const mqws_core *c, const void *p, size_t len)
{
    return (uint32_t)core_siphash(c->cfg.hash_key, p, len);
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
