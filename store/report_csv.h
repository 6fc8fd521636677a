/* SPDX-License-Identifier: MIT */
/* Attendance records as CSV text (RFC 4180), for exports a teacher opens in a spreadsheet.
 * Pure: no I/O, no SQLite, no state; the rows usually come from jr_class_export() or
 * jr_student_history() (journal.h). */
#ifndef BRK_REPORT_CSV_H
#define BRK_REPORT_CSV_H

#include "journal.h"

#include <stddef.h>

/* Formats n rows (borrowed; NULL when n is 0) as CSV: a header line
 *
 *   date,session_id,class_id,student_id,student_name,status,source,engagement_percentage,
 *   engagement_duration_seconds,total_class_duration_seconds,frames_analyzed,trust_score,
 *   started_at,ended_at,finalized_at
 *
 * (one line), then one line per row in the given order; every line ends with CRLF.
 *
 * Text fields (date, the ids, the name, status, source) are written as stored, read up to
 * their field's size. A text field that begins with = + - @ TAB or CR gets a leading ' so
 * that a spreadsheet shows it as text instead of evaluating it as a formula. A field that
 * contains a comma, a double quote, CR or LF is enclosed in double quotes, its quotes
 * doubled. Numbers are never prefixed: percentages with 2 decimals, durations in seconds with
 * 3 (millisecond precision), counts as integers; a value that is not finite is written as an
 * empty field. Times are ISO 8601 UTC with milliseconds ("2026-09-07T09:00:00.000Z"), or
 * empty when outside the years 0000..9999. Numbers are formatted by snprintf, so the decimal
 * point is '.' only under the "C" LC_NUMERIC locale, which the broker never changes.
 *
 * Returns a new NUL-terminated string that the caller frees with free(), its length without
 * the NUL in *len (len may be NULL). Aborts on OOM like brk_malloc. Any thread. */
char *jr_csv_records(const jr_dated_record_t *rows, size_t n, size_t *len);

#endif
