/* llmgw_report.c — llmgw-report (SPEC §9): one month of llmgw.monthly_cost grouped by
 * user, team, provider or model, as an aligned text table, CSV, JSON or one
 * self-contained HTML page with an SVG bar chart. Numbers travel as SQL text, never
 * through a double, so costs print with the database's full precision. */
#include "auditd.h"

#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NCOLS       7       /* requests .. cost_usd */
#define COST        6
#define CHART_ROWS  30

static const char *const COLS[NCOLS] = {
    "requests", "prompt_tokens", "completion_tokens", "cached_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost_usd",
};

typedef struct row {
    const char *label;      /* NULL: the dimension was unknown (SQL NULL) */
    const char *v[NCOLS];
} row;

typedef struct report {
    const char *month;      /* YYYY-MM */
    const char *by;         /* user | team | provider | model */
    row *rows;
    int nrows;
    row total;
    int has_total;          /* total.v[COST] was allocated by trim_cost */
} report;

static const char *label_of(const row *r)
{
    return r->label ? r->label : "(none)";
}

/* 12.500000000000 -> 12.50, 0.000123000000 -> 0.000123: the same number, readable. */
static char *trim_cost(const char *s)
{
    char *t = xstrdup(s);
    char *dot = strchr(t, '.');
    if (!dot) return t;
    char *end = t + strlen(t);
    while (end > dot + 3 && end[-1] == '0') *--end = '\0';
    return t;
}

/* ---- text ---------------------------------------------------------------------------- */

/* Display width: UTF-8 continuation bytes take no column. */
static int width(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void print_text(const report *rp)
{
    int w[NCOLS + 1];
    w[0] = (int)strlen(rp->by) > 5 ? (int)strlen(rp->by) : 5;
    for (int c = 0; c < NCOLS; c++) w[c + 1] = (int)strlen(COLS[c]);
    for (int i = 0; i <= rp->nrows; i++) {
        const row *r = i < rp->nrows ? &rp->rows[i] : &rp->total;
        if (i < rp->nrows && width(label_of(r)) > w[0]) w[0] = width(label_of(r));
        for (int c = 0; c < NCOLS; c++)
            if ((int)strlen(r->v[c]) > w[c + 1]) w[c + 1] = (int)strlen(r->v[c]);
    }
    printf("LLM usage for %s by %s\n\n", rp->month, rp->by);
    printf("%-*s", w[0], rp->by);
    for (int c = 0; c < NCOLS; c++) printf("  %*s", w[c + 1], COLS[c]);
    putchar('\n');
    for (int i = 0; i <= rp->nrows; i++) {
        const row *r = i < rp->nrows ? &rp->rows[i] : &rp->total;
        const char *l = i < rp->nrows ? label_of(r) : "TOTAL";
        printf("%s%*s", l, w[0] - width(l), "");
        for (int c = 0; c < NCOLS; c++) printf("  %*s", w[c + 1], r->v[c]);
        putchar('\n');
    }
}

/* ---- csv ----------------------------------------------------------------------------- */

static void csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"') putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void csv_row(const char *label, const row *r)
{
    csv_field(label);
    for (int c = 0; c < NCOLS; c++) printf(",%s", r->v[c]);
    putchar('\n');
}

static void print_csv(const report *rp)
{
    printf("%s", rp->by);
    for (int c = 0; c < NCOLS; c++) printf(",%s", COLS[c]);
    putchar('\n');
    for (int i = 0; i < rp->nrows; i++) csv_row(label_of(&rp->rows[i]), &rp->rows[i]);
    csv_row("TOTAL", &rp->total);
}

/* ---- json ---------------------------------------------------------------------------- */

static void json_str(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void json_numbers(const row *r)
{
    for (int c = 0; c < NCOLS; c++) printf("%s\"%s\":%s", c ? "," : "", COLS[c], r->v[c]);
}

static void print_json(const report *rp)
{
    printf("{\"month\":\"%s\",\"by\":\"%s\",\"rows\":[", rp->month, rp->by);
    for (int i = 0; i < rp->nrows; i++) {
        printf("%s{\"%s\":", i ? "," : "", rp->by);
        json_str(rp->rows[i].label);
        putchar(',');
        json_numbers(&rp->rows[i]);
        putchar('}');
    }
    printf("],\"total\":{");
    json_numbers(&rp->total);
    printf("}}\n");
}

/* ---- html ---------------------------------------------------------------------------- */

static void html(const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", stdout); break;
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        case '\'': fputs("&#39;", stdout); break;
        default: putchar(*s);
        }
    }
}

/* Chart labels are cut to n characters, at a UTF-8 character boundary. */
static void html_cut(const char *s, int n)
{
    char buf[256];
    size_t i = 0;
    int chars = 0;
    while (s[i] && i < sizeof buf - 4) {
        if (((unsigned char)s[i] & 0xC0) != 0x80 && chars++ == n) break;
        buf[i] = s[i];
        i++;
    }
    buf[i] = '\0';
    html(buf);
    if (s[i]) fputs("…", stdout);
}

static const char CSS[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#1f2933}"
    "h1{font-size:1.4em;margin:0 0 .2em}p.sum{margin:0 0 1.2em;color:#52606d}"
    "p.sum b{color:#1f2933;font-size:1.2em}"
    "table{border-collapse:collapse;margin-top:1.5em}"
    "th,td{padding:.3em .8em;border-bottom:1px solid #e4e7eb;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f5f7fa}"
    "tr.total td{font-weight:bold;border-top:2px solid #9aa5b1}"
    "svg text{font-size:12px;fill:#1f2933}svg rect{fill:#3e7bfa}";

static void html_chart(const report *rp)
{
    int n = rp->nrows < CHART_ROWS ? rp->nrows : CHART_ROWS;
    double max = 0;
    /* strtod only sizes the bars; the printed figures stay exact. */
    for (int i = 0; i < n; i++) {
        double v = strtod(rp->rows[i].v[COST], NULL);
        if (v > max) max = v;
    }
    printf("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"%d\" "
           "role=\"img\" aria-label=\"Cost by %s\">\n", n * 24 + 8, rp->by);
    for (int i = 0; i < n; i++) {
        double v = strtod(rp->rows[i].v[COST], NULL);
        int bar = max > 0 ? (int)(v / max * 420 + 0.5) : 0;
        int y = 4 + i * 24;
        printf("<text x=\"190\" y=\"%d\" text-anchor=\"end\">", y + 15);
        html_cut(label_of(&rp->rows[i]), 28);
        printf("</text><rect x=\"200\" y=\"%d\" width=\"%d\" height=\"18\" rx=\"2\"/>"
               "<text x=\"%d\" y=\"%d\">$", y, bar, 206 + bar, y + 15);
        html(rp->rows[i].v[COST]);
        printf("</text>\n");
    }
    printf("</svg>\n");
    if (rp->nrows > n) printf("<p class=\"sum\">Chart: the %d most expensive of %d.</p>\n", n, rp->nrows);
}

static void html_table_row(const char *cls, const char *label, const row *r)
{
    printf("<tr%s><td>", cls);
    html(label);
    printf("</td>");
    for (int c = 0; c < NCOLS; c++) {
        printf("<td>");
        html(r->v[c]);
        printf("</td>");
    }
    printf("</tr>\n");
}

static void print_html(const report *rp)
{
    printf("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<title>LLM usage %s by %s</title><style>%s</style></head><body>\n",
           rp->month, rp->by, CSS);
    printf("<h1>LLM usage — %s</h1>\n<p class=\"sum\">Total cost <b>$", rp->month);
    html(rp->total.v[COST]);
    printf("</b> for ");
    html(rp->total.v[0]);
    printf(" requests, by %s.</p>\n", rp->by);
    html_chart(rp);
    printf("<table><thead><tr><th>");
    html(rp->by);
    printf("</th>");
    for (int c = 0; c < NCOLS; c++) printf("<th>%s</th>", COLS[c]);
    printf("</tr></thead><tbody>\n");
    for (int i = 0; i < rp->nrows; i++) html_table_row("", label_of(&rp->rows[i]), &rp->rows[i]);
    html_table_row(" class=\"total\"", "TOTAL", &rp->total);
    printf("</tbody></table>\n</body></html>\n");
}

/* ---- query --------------------------------------------------------------------------- */

static const char *column_of(const char *by)
{
    if (!strcmp(by, "user")) return "user_id";
    if (!strcmp(by, "team") || !strcmp(by, "provider") || !strcmp(by, "model")) return by;
    return NULL;
}

static PGresult *run_query(PGconn *c, const report *rp)
{
    char sql[2048], first_day[16];
    const char *col = column_of(rp->by);   /* from a fixed list: safe to splice in */

    snprintf(sql, sizeof sql,
        "SELECT %s, GROUPING(%s),"
        " coalesce(sum(requests), 0)::text, coalesce(sum(prompt_tokens), 0)::text,"
        " coalesce(sum(completion_tokens), 0)::text, coalesce(sum(cached_tokens), 0)::text,"
        " coalesce(sum(cache_write_tokens), 0)::text, coalesce(sum(reasoning_tokens), 0)::text,"
        " coalesce(sum(cost_usd), 0)::text"
        " FROM llmgw.monthly_cost WHERE month = $1::date"
        " GROUP BY ROLLUP (%s)"
        " ORDER BY GROUPING(%s), sum(cost_usd) DESC NULLS LAST, %s NULLS LAST",
        col, col, col, col, col);
    snprintf(first_day, sizeof first_day, "%s-01", rp->month);
    const char *params[1] = {first_day};
    return PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
}

static void fill_row(PGresult *res, int i, row *r)
{
    r->label = PQgetisnull(res, i, 0) ? NULL : PQgetvalue(res, i, 0);
    for (int c = 0; c < NCOLS; c++) r->v[c] = PQgetvalue(res, i, 2 + c);
    r->v[COST] = trim_cost(r->v[COST]);
}

static void load(PGresult *res, report *rp)
{
    int n = PQntuples(res);
    rp->rows = xcalloc((size_t)n + 1, sizeof *rp->rows);
    for (int c = 0; c < NCOLS; c++) rp->total.v[c] = "0";   /* in case no total row came */
    for (int i = 0; i < n; i++) {
        if (!strcmp(PQgetvalue(res, i, 1), "1")) {
            fill_row(res, i, &rp->total);
            rp->has_total = 1;
        } else {
            fill_row(res, i, &rp->rows[rp->nrows++]);
        }
    }
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: llmgw-report --db CONNINFO --month YYYY-MM [--by user|team|provider|model]\n"
        "                    [--format text|csv|json|html]\n"
        "\n"
        "Prints one month of llmgw.monthly_cost grouped by one dimension (default: user),\n"
        "with requests, token counts and cost in USD, plus a total. --db defaults to\n"
        "$LLMGW_DB, then libpq's PG* variables. Exit status: 0 ok, 1 database error,\n"
        "2 usage error. Short forms: -d (--db), -m (--month), -b (--by), -f (--format),\n"
        "-h (--help).\n");
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "llmgw-report: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    fprintf(stderr, "Try 'llmgw-report --help'.\n");
    return 2;
}

static int valid_month(const char *m)
{
    return strlen(m) == 7 && m[4] == '-' && strspn(m, "0123456789-") == 7
        && strchr(m, '-') == m + 4 && atoi(m + 5) >= 1 && atoi(m + 5) <= 12;
}

static const struct option longopts[] = {
    {"db", required_argument, NULL, 'd'},
    {"month", required_argument, NULL, 'm'},
    {"by", required_argument, NULL, 'b'},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_args(int argc, char **argv, report *rp, const char **db, const char **fmt)
{
    int c;
    while ((c = getopt_long(argc, argv, "d:m:b:f:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': *db = optarg; break;
        case 'm': rp->month = optarg; break;
        case 'b': rp->by = optarg; break;
        case 'f': *fmt = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return bad("unknown option", NULL);
        }
    }
    if (optind < argc) return bad("unexpected argument", argv[optind]);
    if (!rp->month) return bad("--month YYYY-MM is required", NULL);
    if (!valid_month(rp->month)) return bad("--month wants YYYY-MM", rp->month);
    if (!column_of(rp->by)) return bad("--by wants user, team, provider or model", rp->by);
    if (strcmp(*fmt, "text") && strcmp(*fmt, "csv") && strcmp(*fmt, "json") && strcmp(*fmt, "html"))
        return bad("--format wants text, csv, json or html", *fmt);
    return -1;
}

int main(int argc, char **argv)
{
    report rp = {.by = "user"};
    const char *env_db = getenv("LLMGW_DB");
    const char *db = env_db ? env_db : "", *fmt = "text";

    int rc = parse_args(argc, argv, &rp, &db, &fmt);
    if (rc >= 0) return rc;

    PGconn *c = PQconnectdb(db);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "llmgw-report: cannot connect to the database: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    PGresult *res = run_query(c, &rp);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "llmgw-report: query failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(c);
        return 1;
    }
    load(res, &rp);
    if (!strcmp(fmt, "csv")) print_csv(&rp);
    else if (!strcmp(fmt, "json")) print_json(&rp);
    else if (!strcmp(fmt, "html")) print_html(&rp);
    else print_text(&rp);
    fflush(stdout);
    for (int i = 0; i < rp.nrows; i++) free((char *)rp.rows[i].v[COST]);
    if (rp.has_total) free((char *)rp.total.v[COST]);
    free(rp.rows);
    PQclear(res);
    PQfinish(c);
    return ferror(stdout) ? 1 : 0;
}
