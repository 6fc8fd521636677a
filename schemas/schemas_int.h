/* SPDX-License-Identifier: MIT */
/* Internal to the schema module: the JSON Schema files compiled into the binary. The table
 * is generated at build time by embed.cmake from the files schemas/in/EVENT.json. */
#ifndef BRK_SCHEMAS_INT_H
#define BRK_SCHEMAS_INT_H

#include <stddef.h>

typedef struct {
    const char *name; /* the event name: the file name without ".json" */
    const char *text; /* the file's bytes, NUL-terminated */
    size_t len;       /* without the NUL */
} schema_src_t;

/* Sorted by name; static storage. */
extern const schema_src_t schema__in[];
extern const size_t schema__in_count;

#endif
