/*
 * table.h: the terminal tables of the command front-ends (`certbridge plan`,
 * `demo` and `report`): columns with a header, widths measured in display
 * columns of UTF-8 text, so that Vietnamese names, composed or with
 * combining marks, line up.
 *
 * Rows are collected first and written at the end, once every width is
 * known. Columns are separated by two spaces; a left-aligned cell is padded
 * to its column's width unless nothing but empty cells follows it, so no line
 * ends in spaces. A row can continue the one before it: its grouped columns
 * (an event's id and type, an organization's name) are then left blank. A
 * span row is free text that starts where a column starts and takes no part
 * in the widths (the plan's "-> new subject" lines).
 *
 * Every cell is copied and capped at CB_TABLE_CELL_MAX bytes, cut at a
 * character and ended with "…" when longer; a table holds at most
 * CB_TABLE_MAX_ROWS rows. The table does not clean its text: a caller that
 * shows outside strings removes control characters first (report_render.c).
 *
 * A table is used by one thread at a time.
 */
#ifndef CB_TABLE_H
#define CB_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "certbridge/error.h"

#define CB_TABLE_CELL_MAX 4096              /* bytes of one cell or span, "…" included */
#define CB_TABLE_MAX_ROWS (4 * 1024 * 1024) /* rows of one table (CB_ERR_LIMIT beyond) */
#define CB_TABLE_MAX_COLS 16

typedef enum cb_table_align { CB_TABLE_LEFT = 0, CB_TABLE_RIGHT } cb_table_align_t;

/* Which end of a value too wide for its column gives way to "…":
 * ELIDE_END keeps the start ("Sở Kế hoạ…"), ELIDE_START keeps the end
 * ("…DDE0206E", a serial number's distinctive digits). */
typedef enum cb_table_elide { CB_TABLE_ELIDE_END = 0, CB_TABLE_ELIDE_START } cb_table_elide_t;

typedef struct cb_table_column {
    const char *title;      /* header cell (copied); NULL or "" for none */
    cb_table_align_t align; /* header and cells */
    bool grouped;           /* left blank on a continuation row */
    size_t max_width;       /* 0: any width; else cells wider are elided to it */
    cb_table_elide_t elide; /* with max_width: the end that gives way */
} cb_table_column_t;

/* How a row relates to the one before it. */
typedef enum cb_table_row_kind {
    CB_TABLE_ROW = 0,      /* a row of its own */
    CB_TABLE_CONTINUATION, /* the grouped columns are blank (their cells are ignored) */
} cb_table_row_kind_t;

typedef struct cb_table cb_table_t;

/* A table of ncols columns (1..CB_TABLE_MAX_COLS) described by cols (copied).
 * The header is written when any column has a title. NULL with err
 * (CB_ERR_INVALID, CB_ERR_NOMEM) on failure; the caller frees the table with
 * cb_table_destroy(). */
cb_table_t *cb_table_new(const cb_table_column_t *cols, size_t ncols, cb_error_t *err);
void cb_table_destroy(cb_table_t *t);

/* Appends a row of ncols cells (copied; NULL is an empty cell). Fails with
 * CB_ERR_LIMIT past CB_TABLE_MAX_ROWS, or CB_ERR_NOMEM. */
int cb_table_add_row(cb_table_t *t, const char *const *cells, cb_table_row_kind_t kind,
                     cb_error_t *err);

/* Appends a span row: text (copied) starting where column col starts.
 * CB_ERR_INVALID when col is out of range; as cb_table_add_row otherwise. */
int cb_table_add_span(cb_table_t *t, size_t col, const char *text, cb_error_t *err);

/* Rows added so far (the header not counted). */
size_t cb_table_rows(const cb_table_t *t);

/* Writes the header and the rows to out. CB_ERR_IO when out reports an
 * error. The table stays as it is (it can be written again). */
int cb_table_write(const cb_table_t *t, FILE *out, cb_error_t *err);

/* Copies s into buf[size] elided to at most max_width display columns ("…"
 * counts as one; max_width >= 1): unchanged when it fits, else the end
 * `where` names gives way to "…". Combining marks stay with their letter.
 * A result longer than size - 1 bytes is cut at a character. Returns buf. */
char *cb_table_elide(const char *s, size_t max_width, cb_table_elide_t where, char *buf,
                     size_t size);

/* snprintf into buf[size] for a cell or a label: a result that does not
 * fit is cut at a character boundary, never inside a UTF-8 sequence, and
 * ends in "…" (when size is 5 or more). Returns buf. */
char *cb_table_cellf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
