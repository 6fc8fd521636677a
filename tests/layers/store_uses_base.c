/* SPDX-License-Identifier: MIT */
/* Allowed: the store builds on the ground floor (base/) and its own headers. The control
 * for the two files beside it: the same setup compiles when the include is allowed. */
#include "brk.h"
#include "journal.h"

int layers_store_uses_base(void);
int layers_store_uses_base(void)
{
    return BRK_EINVAL;
}
