/* SPDX-License-Identifier: MIT */
/* Rooms by class id: a chained hash table of member arrays with O(1) leave, and in each
 * room a chained hash table of student seats. */
#include "room.h"
#include "hdl.h"

#include "brk.h"
#include "cluster.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

room_t *room_find(srv_t *s, const char *class_id)
{
    if (!s->rooms_cap)
        return NULL;
    for (room_t *r = s->rooms[hash_str(class_id) % s->rooms_cap]; r; r = r->next)
        if (strcmp(r->class_id, class_id) == 0)
            return r;
    return NULL;
}

static void rehash(srv_t *s, size_t ncap)
{
    room_t **nb = brk_calloc(ncap, sizeof *nb);
    for (size_t i = 0; i < s->rooms_cap; i++) {
        room_t *r = s->rooms[i];
        while (r) {
            room_t *next = r->next;
            size_t b = hash_str(r->class_id) % ncap;
            r->next = nb[b];
            nb[b] = r;
            r = next;
        }
    }
    free(s->rooms);
    s->rooms = nb;
    s->rooms_cap = ncap;
}

static room_t *room_get(srv_t *s, const char *class_id)
{
    room_t *r = room_find(s, class_id);
    if (r)
        return r;
    if (s->rooms_len + 1 > s->rooms_cap)
        rehash(s, s->rooms_cap ? s->rooms_cap * 2 : 64);
    r = brk_calloc(1, sizeof *r);
    r->class_id = brk_strdup(class_id);
    r->h.class_id = r->class_id;
    size_t b = hash_str(class_id) % s->rooms_cap;
    r->next = s->rooms[b];
    s->rooms[b] = r;
    s->rooms_len++;
    clu_room_opened(s, class_id);
    return r;
}

static void room_destroy(srv_t *s, room_t *r)
{
    room_t **pp = &s->rooms[hash_str(r->class_id) % s->rooms_cap];
    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    s->rooms_len--;
    hdl_class_gone(s->hdl, &r->h);
    clu_room_closed(s, r->class_id);
    BRK_ASSERT(r->n_seats == 0);
    free(r->seats);
    free(r->students);
    free(r->staff);
    free(r->class_id);
    free(r);
}

static int is_staff(const conn_t *c)
{
    return c->p.role != ROLE_STUDENT;
}

/* --- seats ---------------------------------------------------------------------------- */

room_seat_t *room_seat_find(const room_t *r, const char *student_id)
{
    if (!r || !r->seats_cap)
        return NULL;
    for (room_seat_t *t = r->seats[hash_str(student_id) & (r->seats_cap - 1)]; t; t = t->next)
        if (strcmp(t->sub, student_id) == 0)
            return t;
    return NULL;
}

static void seats_grow(room_t *r)
{
    size_t ncap = r->seats_cap ? r->seats_cap * 2 : 8;
    room_seat_t **nb = brk_calloc(ncap, sizeof *nb);
    for (size_t i = 0; i < r->seats_cap; i++) {
        room_seat_t *t = r->seats[i];
        while (t) {
            room_seat_t *next = t->next;
            size_t b = hash_str(t->sub) & (ncap - 1);
            t->next = nb[b];
            nb[b] = t;
            t = next;
        }
    }
    free(r->seats);
    r->seats = nb;
    r->seats_cap = ncap;
}

/* Seats student connection c in r (creating the student's seat on their first one). */
static room_seat_t *seat_add(room_t *r, conn_t *c)
{
    room_seat_t *t = room_seat_find(r, c->p.sub);
    if (!t) {
        if (r->n_seats + 1 > r->seats_cap)
            seats_grow(r);
        size_t len = strlen(c->p.sub);
        t = brk_calloc(1, sizeof *t + len + 1);
        memcpy(t->sub, c->p.sub, len + 1);
        size_t b = hash_str(t->sub) & (r->seats_cap - 1);
        t->next = r->seats[b];
        r->seats[b] = t;
        r->n_seats++;
    }
    if (t->n_conns == t->cap_conns) {
        t->cap_conns = t->cap_conns ? t->cap_conns * 2 : 2;
        t->conns = brk_realloc(t->conns, t->cap_conns * sizeof *t->conns);
    }
    t->conns[t->n_conns++] = c;
    return t;
}

/* Unseats c (freeing the seat with the student's last connection in the room). */
static void seat_remove(room_t *r, room_seat_t *t, conn_t *c)
{
    size_t i = 0;
    while (i < t->n_conns && t->conns[i] != c)
        i++;
    BRK_ASSERT(i < t->n_conns);
    t->conns[i] = t->conns[--t->n_conns];
    if (t->n_conns > 0)
        return;
    room_seat_t **pp = &r->seats[hash_str(t->sub) & (r->seats_cap - 1)];
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
    r->n_seats--;
    free(t->conns);
    free(t);
}

/* Index of class_id among c's memberships, or -1. */
static int slot_of_class(const conn_t *c, const char *class_id)
{
    for (int i = 0; i < c->n_rooms; i++)
        if (strcmp(c->rooms[i].room->class_id, class_id) == 0)
            return i;
    return -1;
}

/* Index of room r among c's memberships. */
static int slot_of(const conn_t *c, const room_t *r)
{
    for (int i = 0; i < c->n_rooms; i++)
        if (c->rooms[i].room == r)
            return i;
    BRK_ASSERT(!"member without its room");
    return -1;
}

void room_join(srv_t *s, conn_t *c, const char *class_id)
{
    if (slot_of_class(c, class_id) >= 0)
        return;
    room_t *r = room_get(s, class_id);
    conn_t ***arr = is_staff(c) ? &r->staff : &r->students;
    size_t *n = is_staff(c) ? &r->n_staff : &r->n_students;
    size_t *cap = is_staff(c) ? &r->cap_staff : &r->cap_students;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *arr = brk_realloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[*n] = c;
    if (c->n_rooms == c->cap_rooms) {
        c->cap_rooms = c->cap_rooms ? c->cap_rooms * 2 : 1;
        c->rooms = brk_realloc(c->rooms, (size_t)c->cap_rooms * sizeof *c->rooms);
    }
    conn_room_t *m = &c->rooms[c->n_rooms++];
    m->room = r;
    m->idx = (*n)++;
    m->seat = is_staff(c) ? NULL : seat_add(r, c);
}

void room_leave(srv_t *s, conn_t *c, const char *class_id)
{
    int k = slot_of_class(c, class_id);
    if (k < 0)
        return;
    room_t *r = c->rooms[k].room;
    conn_t **arr = is_staff(c) ? r->staff : r->students;
    size_t *n = is_staff(c) ? &r->n_staff : &r->n_students;
    size_t idx = c->rooms[k].idx;
    BRK_ASSERT(idx < *n && arr[idx] == c);
    conn_t *last = arr[*n - 1];
    arr[idx] = last;
    if (last != c)
        last->rooms[slot_of(last, r)].idx = idx;
    (*n)--;
    if (c->rooms[k].seat)
        seat_remove(r, c->rooms[k].seat, c);
    c->rooms[k] = c->rooms[--c->n_rooms];
    if (r->n_staff == 0 && r->n_students == 0)
        room_destroy(s, r);
}

void room_broadcast(room_t *r, evt_msg_t *m, int to, const char *subject, const conn_t *except)
{
    if (!r)
        return;
    /* The subject is a student: never both every student and the one. */
    BRK_ASSERT(!((to & ROOM_TO_SUBJECT) && (to & ROOM_TO_STUDENTS)));
    /* conn_send may close a slow consumer but never removes it from the room here (that
     * happens in its CLOSED callback), so the arrays are stable during the walk. */
    if (to & ROOM_TO_STAFF)
        for (size_t i = 0; i < r->n_staff; i++)
            if (r->staff[i] != except)
                conn_send(r->staff[i], m);
    if (to & ROOM_TO_STUDENTS)
        for (size_t i = 0; i < r->n_students; i++)
            if (r->students[i] != except)
                conn_send(r->students[i], m);
    if ((to & ROOM_TO_SUBJECT) && subject) {
        room_seat_t *t = room_seat_find(r, subject);
        for (size_t i = 0; t && i < t->n_conns; i++)
            if (t->conns[i] != except)
                conn_send(t->conns[i], m);
    }
}

void room_publish_about(srv_t *s, const char *class_id, const char *student_id, evt_msg_t *m,
                        int to, const conn_t *except)
{
    BRK_ASSERT(!(to & ROOM_TO_SUBJECT) || student_id);
    room_broadcast(room_find(s, class_id), m, to, student_id, except);
    if (s->clu)
        clu_publish(s, class_id, m, to, (to & ROOM_TO_SUBJECT) ? student_id : NULL);
}

void room_publish(srv_t *s, const char *class_id, evt_msg_t *m, int to, const conn_t *except)
{
    BRK_ASSERT(!(to & ROOM_TO_SUBJECT));
    room_publish_about(s, class_id, NULL, m, to, except);
}

void room_free_all(srv_t *s)
{
    for (size_t i = 0; i < s->rooms_cap; i++) {
        room_t *r = s->rooms[i];
        while (r) {
            room_t *next = r->next;
            hdl_class_gone(s->hdl, &r->h);
            BRK_ASSERT(r->n_seats == 0);
            free(r->seats);
            free(r->students);
            free(r->staff);
            free(r->class_id);
            free(r);
            r = next;
        }
    }
    free(s->rooms);
    s->rooms = NULL;
    s->rooms_cap = s->rooms_len = 0;
}
