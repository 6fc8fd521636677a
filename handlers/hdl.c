/* SPDX-License-Identifier: MIT */
/* The handlers' object: what they work with, and their timers and pool, started and
 * stopped together. */
#include "hdl_int.h"

#include "brk.h"

#include <stdlib.h>

hdl_t *hdl_new(const hdl_deps_t *d)
{
    BRK_ASSERT(d && d->loop && d->cfg && d->st && d->host && d->stats && d->draining);
    hdl_t *h = brk_calloc(1, sizeof *h);
    h->loop = d->loop;
    h->cfg = d->cfg;
    h->st = d->st;
    h->jr = d->jr;
    h->auth = d->auth;
    h->host = d->host;
    h->stats = d->stats;
    h->draining = d->draining;
    h->clustered = d->clustered;
    h->rosters = d->rosters;
    return h;
}

int hdl_start(hdl_t *h)
{
    if (hdl__frames_start(h) != 0)
        return -1;
    hdl__tokens_start(h);
    return 0;
}

void hdl_stop(hdl_t *h)
{
    hdl__frames_stop(h);
    hdl__tokens_stop(h);
}

void hdl_free(hdl_t *h)
{
    if (!h)
        return;
    hdl__frames_free(h);
    hdl__tokens_free(h);
    free(h);
}
