/* SPDX-License-Identifier: MIT */
/* A compact JSON Schema validator for the subset rollcall's schemas use: type (a name or
 * an array of names), properties, required, additionalProperties (boolean), enum, const,
 * minLength, maxLength (in code points), minimum, maximum, items, minItems, maxItems,
 * anyOf, oneOf. Unknown keywords are refused when the schema is compiled, so a schema can
 * never silently check less than it says. */
#ifndef BRK_VALIDATE_H
#define BRK_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

typedef struct vs_schema vs_schema_t;

/* Compiles a schema (borrowed; the compiled schema keeps its own reference). Returns NULL
 * and a reason in err when the schema uses an unsupported keyword or is malformed. */
vs_schema_t *vs_compile(json_t *schema, char *err, size_t errlen);
void vs_free(vs_schema_t *s);

/* Returns 0 when instance matches; otherwise BRK_EINVAL and a message naming the path of
 * the first failing value, e.g. "data.status: must be one of present, absent, late". */
int vs_validate(const vs_schema_t *s, const json_t *instance, char *err, size_t errlen);

/* As vs_validate, which names the instance "data" (the envelope's payload); root is the
 * name the path starts with ("" for none, then top-level messages say "(root)"). */
int vs_validate_at(const vs_schema_t *s, const json_t *instance, const char *root, char *err,
                   size_t errlen);

#endif
