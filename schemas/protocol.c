/* SPDX-License-Identifier: MIT */
/* Wire names of the server events and error codes. */
#include "protocol.h"

#include <string.h>

static const char *const names[OUT__COUNT] = {
    [OUT_WELCOME] = "WELCOME",
    [OUT_PRESENCE_SNAPSHOT] = "PRESENCE_SNAPSHOT",
    [OUT_PRESENCE] = "PRESENCE",
    [OUT_SESSION_STARTED] = "SESSION_STARTED",
    [OUT_ATTENDANCE_MARKED] = "ATTENDANCE_MARKED",
    [OUT_TODAY_SUMMARY] = "TODAY_SUMMARY",
    [OUT_ATTENDANCE_FINALIZED] = "ATTENDANCE_FINALIZED",
    [OUT_MY_ATTENDANCE] = "MY_ATTENDANCE",
    [OUT_PONG] = "PONG",
    [OUT_ERROR] = "ERROR",
    [OUT_FRAME_RESULT] = "FRAME_RESULT",
    [OUT_ENGAGEMENT_UPDATE] = "ENGAGEMENT_UPDATE",
    [OUT_VIOLATION] = "VIOLATION",
    [OUT_ANNOUNCEMENT] = "ANNOUNCEMENT",
    [OUT_TOKEN_EXPIRING] = "TOKEN_EXPIRING",
    [OUT_AUTHENTICATED] = "AUTHENTICATED",
    [OUT_CLASS_REMOVED] = "CLASS_REMOVED",
    [OUT_ROSTER] = "ROSTER",
    [OUT_CLASSES] = "CLASSES",
};

const char *msg_type_name(out_type_t t)
{
    return (unsigned)t < OUT__COUNT ? names[t] : "?";
}

static const char *const err_names[ERR__COUNT] = {
    [ERR_BAD_JSON] = "BAD_JSON",
    [ERR_INVALID_UTF8] = "INVALID_UTF8",
    [ERR_TOO_DEEP] = "TOO_DEEP",
    [ERR_MESSAGE_TOO_LARGE] = "MESSAGE_TOO_LARGE",
    [ERR_BAD_ENVELOPE] = "BAD_ENVELOPE",
    [ERR_UNKNOWN_EVENT] = "UNKNOWN_EVENT",
    [ERR_INVALID_PAYLOAD] = "INVALID_PAYLOAD",
    [ERR_FORBIDDEN] = "FORBIDDEN",
    [ERR_CLASS_REQUIRED] = "CLASS_REQUIRED",
    [ERR_CLASS_FORBIDDEN] = "CLASS_FORBIDDEN",
    [ERR_NO_SESSION] = "NO_SESSION",
    [ERR_SESSION_FINALIZED] = "SESSION_FINALIZED",
    [ERR_NOT_IMPLEMENTED] = "NOT_IMPLEMENTED",
    [ERR_UNAVAILABLE] = "UNAVAILABLE",
    [ERR_BAD_FRAME] = "BAD_FRAME",
    [ERR_FRAME_TOO_LARGE] = "FRAME_TOO_LARGE",
    [ERR_RATE_LIMITED] = "RATE_LIMITED",
    [ERR_FRAME_SKIPPED] = "FRAME_SKIPPED",
    [ERR_TOKEN_INVALID] = "TOKEN_INVALID",
    [ERR_TOKEN_MISMATCH] = "TOKEN_MISMATCH",
    [ERR_NOT_ON_ROSTER] = "NOT_ON_ROSTER",
    [ERR_INTERNAL] = "INTERNAL",
};

const char *err_code_name(err_code_t c)
{
    return (unsigned)c < ERR__COUNT ? err_names[c] : "INTERNAL";
}

err_code_t err_code_from_name(const char *name)
{
    for (int i = 0; i < ERR__COUNT; i++)
        if (strcmp(err_names[i], name) == 0)
            return (err_code_t)i;
    return ERR_INTERNAL;
}

