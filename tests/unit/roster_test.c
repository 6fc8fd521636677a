/* SPDX-License-Identifier: MIT */
/* Unit tests for accounts/roster.c: the live registry of class rosters. Only students are
 * kept, sorted; a class without a roster admits everyone; a set replaces the whole roster;
 * many classes stay findable in any insertion order. */
#include "roster.h"

#include "test.h"

#include <stdio.h>
#include <string.h>

static class_member_t member(const char *id, const char *name, class_role_t role)
{
    class_member_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.account_id, sizeof m.account_id, "%s", id);
    snprintf(m.name, sizeof m.name, "%s", name);
    m.role = role;
    return m;
}

static void test_students_only_sorted(void)
{
    roster_reg_t *g = roster_reg_new();
    class_member_t m[] = {member("s3", "Cy", CLASS_ROLE_STUDENT),
                          member("t1", "Teach", CLASS_ROLE_TEACHER),
                          member("s1", "Ann", CLASS_ROLE_STUDENT),
                          member("s2", "Ben", CLASS_ROLE_STUDENT)};
    roster_reg_set(g, "c1", "Biology", m, 4);
    const roster_t *r = roster_reg_get(g, "c1");
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(r->name, "Biology");
    ASSERT_EQ(r->n, 3);
    ASSERT_STR_EQ(r->ids[0], "s1");
    ASSERT_STR_EQ(r->names[0], "Ann");
    ASSERT_STR_EQ(r->ids[2], "s3");
    ASSERT_STR_EQ(r->names[2], "Cy");
    ASSERT_EQ(roster_admits(r, "s2"), 1);
    ASSERT_EQ(roster_admits(r, "t1"), 0); /* teachers are not on the students' roster */
    ASSERT_EQ(roster_admits(r, "s"), 0);
    ASSERT_EQ(roster_admits(r, "s22"), 0);
    ASSERT_NULL(roster_reg_get(g, "c2"));
    ASSERT_EQ(roster_admits(NULL, "anyone"), 1); /* no roster: the token decides */
    roster_reg_free(g);
}

static void test_set_replaces_and_rename(void)
{
    roster_reg_t *g = roster_reg_new();
    class_member_t a[] = {member("s1", "Ann", CLASS_ROLE_STUDENT),
                          member("s2", "Ben", CLASS_ROLE_STUDENT)};
    roster_reg_set(g, "c1", "Bio", a, 2);
    class_member_t b[] = {member("s2", "Ben", CLASS_ROLE_STUDENT)};
    roster_reg_set(g, "c1", NULL, b, 1); /* NULL keeps the name */
    const roster_t *r = roster_reg_get(g, "c1");
    ASSERT_EQ(r->n, 1);
    ASSERT_EQ(roster_admits(r, "s1"), 0);
    ASSERT_EQ(roster_admits(r, "s2"), 1);
    ASSERT_STR_EQ(r->name, "Bio");
    roster_reg_rename(g, "c1", "Biology II");
    roster_reg_rename(g, "nope", "ignored");
    ASSERT_STR_EQ(roster_reg_get(g, "c1")->name, "Biology II");
    ASSERT_NULL(roster_reg_get(g, "nope"));
    roster_reg_set(g, "c1", NULL, NULL, 0); /* an empty roster is still a roster */
    r = roster_reg_get(g, "c1");
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(r->n, 0);
    ASSERT_EQ(roster_admits(r, "s2"), 0);
    ASSERT_EQ(roster_reg_size(g), 1);
    roster_reg_free(g);
}

static void test_many_classes(void)
{
    roster_reg_t *g = roster_reg_new();
    char id[32];
    class_member_t m = member("s1", "Ann", CLASS_ROLE_STUDENT);
    /* Inserted in a scrambled order (7 is coprime with 1000). */
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "class-%04d", (i * 7) % 1000);
        roster_reg_set(g, id, id, &m, 1);
    }
    ASSERT_EQ(roster_reg_size(g), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "class-%04d", i);
        const roster_t *r = roster_reg_get(g, id);
        ASSERT_NOT_NULL(r);
        ASSERT_STR_EQ(r->class_id, id);
        ASSERT_STR_EQ(r->name, id);
    }
    ASSERT_NULL(roster_reg_get(g, "class-1000"));
    roster_reg_free(g);
}

static const test_case_t tests[] = {
    {"students_only_sorted", test_students_only_sorted},
    {"set_replaces_and_rename", test_set_replaces_and_rename},
    {"many_classes", test_many_classes},
};

TEST_MAIN(tests)
