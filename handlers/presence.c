/* SPDX-License-Identifier: MIT */
/* Connection life cycle: WELCOME, room membership, live presence for teachers, and the
 * token's deadlines (token.c). */
#include "hdl_int.h"

#include "brk.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

void hdl_presence_changed(hdl_t *h, const char *class_id, const char *student_id,
                          const char *name, int online_now, int online_students)
{
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:i}", "class_id", class_id, "student_id",
                             student_id, "name", name, "status",
                             online_now ? "online" : "offline", "online", online_students);
    hx_publish(h, class_id, HOST_TO_STAFF, NULL, OUT_PRESENCE,
               data);
}

typedef struct presence_req {
    hdl_t *h;
    char class_id[ST_ID];
    char student_id[ST_ID];
    char name[ST_NAME];
    int delta;
} presence_req_t;

static void on_presence(int err, int changed, int online_students, void *ud)
{
    presence_req_t *p = ud;
    if (err)
        LOG(WARN, 0, "presence not recorded", "class=%s err=\"%s\"", p->class_id,
            brk_strerror(err));
    else if (changed)
        hdl_presence_changed(p->h, p->class_id, p->student_id, p->name, p->delta > 0,
                           online_students);
    free(p);
}

static void presence(hdl_t *h, peer_t *c, const char *class_id, int delta)
{
    presence_req_t *p = brk_calloc(1, sizeof *p);
    p->h = h;
    snprintf(p->class_id, sizeof p->class_id, "%s", class_id);
    snprintf(p->student_id, sizeof p->student_id, "%s", c->sub);
    snprintf(p->name, sizeof p->name, "%s", c->name);
    p->delta = delta;
    st_presence(h->st, class_id, c->sub, c->name, delta, brk_now_ms(), on_presence, p);
}

static void on_snapshot_view(int err, const st_view_t *v, void *ud)
{
    hdl_req_t *r = ud;
    peer_t *c = hdl__req_peer(r);
    if (c && !err) {
        json_t *students = json_array();
        for (size_t i = 0; i < v->n; i++)
            if (v->students[i].online > 0)
                json_array_append_new(students,
                                      json_pack("{s:s, s:s}", "student_id",
                                                v->students[i].student_id, "name",
                                                v->students[i].name));
        hx_reply(r->h, c, OUT_PRESENCE_SNAPSHOT,
                   json_pack("{s:s, s:o}", "class_id", r->class_id, "students", students), NULL);
    }
    hdl__req_free(r);
}

void hdl__class_join(hdl_t *h, peer_t *c, const char *class_id)
{
    h->host->join(h->host->ud, c, class_id);
    if (c->role == ROLE_STUDENT) {
        presence(h, c, class_id, +1);
    } else {
        hdl_req_t *r = hdl__req_new(h, c, NULL, class_id);
        st_view(h->st, class_id, brk_now_ms(), on_snapshot_view, r);
    }
}

void hdl__class_leave(hdl_t *h, peer_t *c, const char *class_id)
{
    h->host->leave(h->host->ud, c, class_id);
    if (c->role == ROLE_STUDENT)
        presence(h, c, class_id, -1);
}

void hdl_conn_open(hdl_t *h, peer_t *c)
{
    /* A token may name a class whose roster does not have this student: that class's
     * channel stays closed to them, and a connection left with no class is closed. */
    int kept = 0, refused = 0;
    for (int k = 0; k < c->n_classes; k++) {
        if (!hdl__admits(h, c, c->classes[k])) {
            LOG(INFO, c->id, "not on the roster", "sub=%s class=%s", c->sub, c->classes[k]);
            free(c->classes[k]);
            refused++;
            continue;
        }
        c->classes[kept++] = c->classes[k];
    }
    c->n_classes = kept;
    if (kept == 0 && refused > 0) {
        h->host->close(h->host->ud, c, 4004, "not on the class roster");
        return;
    }
    json_t *classes = json_array();
    for (int i = 0; i < c->n_classes; i++)
        json_array_append_new(classes, json_string(c->classes[i]));
    /* What a client paces itself by: the student page sends a frame every frame_interval
     * seconds, never more than frame_rate a second, each at most frame_max_bytes. */
    const cfg_t *cfg = h->cfg;
    json_t *settings = json_pack("{s:f, s:i, s:i, s:i}", "frame_interval", cfg->frame_interval,
                                 "frame_rate", cfg->frame_rate, "frame_max_bytes",
                                 cfg->frame_max_bytes, "token_warning", cfg->token_warning);
    hx_reply(h, c, OUT_WELCOME,
               json_pack("{s:s, s:s, s:o, s:o, s:o, s:i, s:o}", "user_id", c->sub, "role",
                         auth_role_name(c->role), "name",
                         c->name[0] ? json_string(c->name) : json_null(), "classes", classes,
                         "server_time", hdl__iso(brk_now_ms()), "protocol", 1, "settings",
                         settings),
               NULL);
    hdl__token_track(h, c);
    for (int k = 0; k < c->n_classes; k++)
        hdl__class_join(h, c, c->classes[k]);
}

void hdl_conn_close(hdl_t *h, peer_t *c)
{
    hdl__token_untrack(h, c);
    for (int k = 0; k < c->n_classes; k++)
        hdl__class_leave(h, c, c->classes[k]);
}
