/* SPDX-License-Identifier: MIT */
#include "violations.h"

st_violation_t viol_track(viol_track_t *t, int faces, int looking, int64_t at_ms, double hold_s)
{
    int cond[4] = {0};
    cond[ST_VIOL_NO_FACE] = faces == 0;
    cond[ST_VIOL_MULTI_FACE] = faces >= 2;
    cond[ST_VIOL_LOOKING_AWAY] = faces >= 1 && !looking;
    st_violation_t raise = ST_VIOL_NONE;
    for (int k = ST_VIOL_NO_FACE; k <= ST_VIOL_LOOKING_AWAY; k++) {
        if (!cond[k]) {
            t->since_ms[k] = 0;
            t->raised[k] = 0;
            continue;
        }
        if (t->since_ms[k] == 0)
            t->since_ms[k] = at_ms;
        if (raise == ST_VIOL_NONE && !t->raised[k] &&
            (double)(at_ms - t->since_ms[k]) >= hold_s * 1000.0) {
            t->raised[k] = 1;
            raise = (st_violation_t)k;
        }
    }
    return raise;
}
