/* SPDX-License-Identifier: MIT */
/* Not allowed: handlers see the server only through host.h, never its connections. Must not
 * compile (conn.h is not on rc_handlers' include path). */
#include "conn.h"

int layers_handlers_include_broker(void);
int layers_handlers_include_broker(void)
{
    return 0;
}
