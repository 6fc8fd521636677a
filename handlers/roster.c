/* SPDX-License-Identifier: MIT */
/* Rosters in the live channel: who may be in a class (connect, AUTH), whose marks count,
 * who is listed by TODAY_SUMMARY and DONE (every rostered student, absent ones too), and the
 * removal of a student from the channel the moment the roster loses them. The rosters are
 * the accounts' (accounts/roster.h); a class without one keeps the token's word. */
#include "hdl_int.h"

#include "roster.h"

#include "brk.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

int hdl__admits(const hdl_t *h, const peer_t *p, const char *class_id)
{
    if (p->role != ROLE_STUDENT || !h->rosters)
        return 1;
    return roster_admits(roster_reg_get(h->rosters, class_id), p->sub);
}

int hdl__roster_has(const hdl_t *h, const char *class_id, const char *student_id)
{
    return !h->rosters || roster_admits(roster_reg_get(h->rosters, class_id), student_id);
}

st_view_t hdl__roster_view(const hdl_t *h, const char *class_id, const st_view_t *view,
                           st_student_t **owned)
{
    *owned = NULL;
    const roster_t *r = h->rosters ? roster_reg_get(h->rosters, class_id) : NULL;
    if (!r || r->n == 0)
        return *view;
    /* Both lists are sorted by id: merge them. */
    st_student_t *out = brk_calloc(view->n + r->n, sizeof *out);
    size_t i = 0, k = 0, n = 0;
    while (i < view->n || k < r->n) {
        int c = i == view->n ? 1
                : k == r->n  ? -1
                             : strcmp(view->students[i].student_id, r->ids[k]);
        if (c <= 0) {
            out[n++] = view->students[i++];
            if (c == 0)
                k++;
        } else {
            st_student_t *s = &out[n++];
            snprintf(s->student_id, sizeof s->student_id, "%s", r->ids[k]);
            snprintf(s->name, sizeof s->name, "%s", r->names[k]);
            s->mark = ST_MARK_NONE;
            k++;
        }
    }
    st_view_t v = *view;
    v.students = out;
    v.n = n;
    *owned = out;
    return v;
}

/* Takes class_id out of p: leaves the channel, drops it from p's classes. */
static void drop_class(hdl_t *h, peer_t *p, const char *class_id)
{
    int kept = 0;
    for (int k = 0; k < p->n_classes; k++) {
        if (strcmp(p->classes[k], class_id) == 0) {
            hdl__class_leave(h, p, class_id);
            free(p->classes[k]);
            continue;
        }
        p->classes[kept++] = p->classes[k];
    }
    p->n_classes = kept;
}

/* {class_id, name, rostered, students: [{student_id, name, online}]}: online is a
 * connection of the student in the class on this instance. */
static json_t *roster_json(hdl_t *h, const char *class_id)
{
    const roster_t *r = h->rosters ? roster_reg_get(h->rosters, class_id) : NULL;
    json_t *students = json_array();
    for (size_t i = 0; r && i < r->n; i++)
        json_array_append_new(
            students,
            json_pack("{s:s, s:s, s:b}", "student_id", r->ids[i], "name", r->names[i], "online",
                      h->host->seat_find(h->host->ud, class_id, r->ids[i]) != NULL));
    return json_pack("{s:s, s:o, s:b, s:o}", "class_id", class_id, "name",
                     r && r->name[0] ? json_string(r->name) : json_null(), "rostered",
                     r != NULL, "students", students);
}

void hdl_roster(hdl_t *h, peer_t *p, const env_t *env, const char *class_id)
{
    hx_reply(h, p, OUT_ROSTER, roster_json(h, class_id), env->id);
}

void hdl_classes(hdl_t *h, peer_t *p, const env_t *env, const char *class_id)
{
    (void)class_id;
    json_t *list = json_array();
    for (int k = 0; k < p->n_classes; k++) {
        const roster_t *r = h->rosters ? roster_reg_get(h->rosters, p->classes[k]) : NULL;
        json_array_append_new(
            list, json_pack("{s:s, s:o, s:b}", "class_id", p->classes[k], "name",
                            r && r->name[0] ? json_string(r->name) : json_null(), "rostered",
                            r != NULL));
    }
    hx_reply(h, p, OUT_CLASSES, json_pack("{s:o}", "classes", list), env->id);
}

static void drop_unlisted(hdl_t *h, const char *class_id);

void hdl_roster_changed(hdl_t *h, const char *class_id)
{
    drop_unlisted(h, class_id);
    /* The class's staff here see the new roster; students never receive it. */
    if (h->host->has_staff(h->host->ud, class_id))
        hx_publish(h, class_id, HOST_TO_STAFF | HOST_LOCAL, NULL, OUT_ROSTER,
                   roster_json(h, class_id));
}

static void drop_unlisted(hdl_t *h, const char *class_id)
{
    size_t n = h->host->students_in(h->host->ud, class_id, NULL, 0);
    if (n == 0)
        return;
    uint64_t *ids = brk_malloc(n * sizeof *ids);
    n = h->host->students_in(h->host->ud, class_id, ids, n);
    for (size_t i = 0; i < n; i++) {
        peer_t *p = h->host->find(h->host->ud, ids[i]);
        if (!p || hdl__admits(h, p, class_id))
            continue;
        /* The class id is copied: drop_class frees the peer's own copy. */
        char cls[AUTH_MAX_ID + 1];
        snprintf(cls, sizeof cls, "%s", class_id);
        drop_class(h, p, cls);
        LOG(INFO, p->id, "removed from class", "sub=%s class=%s left=%d", p->sub, cls,
            p->n_classes);
        /* About this student only: nobody else is told through their connection. */
        hx_reply(h, p, OUT_CLASS_REMOVED,
                 json_pack("{s:s, s:s}", "class_id", cls, "reason", "not on the roster"), NULL);
        if (p->n_classes == 0)
            h->host->close(h->host->ud, p, 4004, "not on the class roster");
    }
    free(ids);
}
