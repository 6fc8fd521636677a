/* SPDX-License-Identifier: MIT */
/* The proctoring rules, as a pure state machine over one student connection's analyzed
 * frames. Three conditions: no face, several faces, and one face or more not looking at the
 * screen. A condition that has held for hold_s seconds raises its violation once; it
 * raises again only after it stopped (a frame without it) and held again. At most one
 * violation per frame: when two fall due on the same frame, the first in st_violation_t
 * order is raised and the other with the next frame that still shows it. No I/O, no
 * clock: the caller passes each frame's time. */
#ifndef BRK_VIOLATIONS_H
#define BRK_VIOLATIONS_H

#include "state.h"

#include <stdint.h>

/* One connection's memory of the conditions; all zero to start. */
typedef struct viol_track {
    int64_t since_ms[4]; /* by st_violation_t: when the condition began, 0 if not holding */
    int raised[4];       /* the current episode already raised its violation */
} viol_track_t;

/* Feeds one analyzed frame taken at at_ms (faces found, whether the main face looks at the
 * screen) and returns the violation to raise now, or ST_VIOL_NONE. */
st_violation_t viol_track(viol_track_t *t, int faces, int looking, int64_t at_ms, double hold_s);

#endif
