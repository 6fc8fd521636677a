/* SPDX-License-Identifier: MIT */
/* Not allowed: the store below the network layer reaching up into broker/. Must not
 * compile (conn.h is not on rc_store's include path). */
#include "conn.h"

int layers_store_includes_broker(void);
int layers_store_includes_broker(void)
{
    return 0;
}
