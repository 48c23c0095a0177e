/* test_decode.c — cmocka tests of auditd_decode.c: usage records (SPEC §7) that must be
 * accepted with exact values, every kind that must be rejected with its reason, the
 * rows they are encoded into (shown as text by auditd_rowtext.h), and a differential
 * test: hand-made hostile lines, generated records and thousands of mutations of them
 * decoded by the jansson decoder auditd used before (auditd_decode_reference.h) and by
 * auditd_decode and each of its two readers, which must agree on the verdict, the
 * reason and every field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditd_decode.h"
#include "auditd_decode_reference.h"
#include "auditd_rowtext.h"

#define MIN_REC "{\"request_id\":\"r1\",\"timestamp\":\"2026-11-24T10:30:00.123Z\""

static const char FULL[] =
    "{\"timestamp\":\"2026-11-24T10:30:00.123Z\",\"request_id\":\"req-1\",\"user\":\"alice\","
    "\"email\":\"alice@example.com\",\"team\":\"research\",\"roles\":[\"premium\",\"dev\"],"
    "\"provider\":\"openai\",\"model\":\"gpt-4o\",\"endpoint\":\"/v1/chat/completions\","
    "\"status\":200,\"stream\":true,\"prompt_tokens\":100,\"completion_tokens\":50,"
    "\"cached_tokens\":10,\"cache_write_tokens\":5,\"reasoning_tokens\":7,\"total_tokens\":150,"
    "\"cost_usd\":0.001234567891,\"latency_ms\":1234,\"ttft_ms\":210,\"conversation_id\":\"c-9\","
    "\"client_ip\":\"10.0.0.1\",\"blocked_rule\":null,\"redactions\":2,\"node\":\"gw1\"}";

/* Decodes s; asserts success; the caller frees. */
static void decode_ok(const char *s, auditd_record *rec)
{
    char reason[AUDITD_REASON_MAX] = "";
    int rc = auditd_decode(s, strlen(s), rec, reason, sizeof reason);
    if (rc != 0) fprintf(stderr, "unexpected rejection: %s\n  of %.200s\n", reason, s);
    assert_int_equal(rc, 0);
}

/* Decodes s; asserts a rejection whose reason starts with want. */
static void decode_bad(const char *s, size_t len, const char *want)
{
    auditd_record rec;
    char reason[AUDITD_REASON_MAX] = "";
    int rc = auditd_decode(s, len, &rec, reason, sizeof reason);
    if (rc == 0 || strncmp(reason, want, strlen(want)) != 0)
        fprintf(stderr, "want \"%s...\", got rc=%d \"%s\" for %.200s\n", want, rc, reason, s);
    assert_int_equal(rc, -1);
    assert_true(strncmp(reason, want, strlen(want)) == 0);
    auditd_record_free(&rec);
}

static void bad(const char *s, const char *want)
{
    decode_bad(s, strlen(s), want);
}

/* MIN_REC plus one more member. */
static void bad_field(const char *member, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof buf, MIN_REC ",%s}", member);
    bad(buf, want);
}

static void good_field(const char *member, auditd_record *rec)
{
    char buf[512];
    snprintf(buf, sizeof buf, MIN_REC ",%s}", member);
    decode_ok(buf, rec);
}

/* ---- accepted ------------------------------------------------------------------------ */

static void test_full_record(void **state)
{
    auditd_record r;
    decode_ok(FULL, &r);
    assert_string_equal(r.request_id, "req-1");
    assert_true(r.ts_us == 1795516200123000LL);
    assert_int_equal(r.month, 2026 * 12 + 10);
    assert_string_equal(r.user, "alice");
    assert_string_equal(r.team, "research");
    assert_int_equal(r.nroles, 2);
    assert_string_equal(r.roles[1], "dev");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.stream, 1);
    assert_int_equal(r.prompt_tokens, 100);
    assert_int_equal(r.cache_write_tokens, 5);
    assert_int_equal(r.total_tokens, 150);
    assert_int_equal(r.has_cost, 1);
    assert_null(r.blocked_rule);
    assert_int_equal(r.redactions, 2);

    char *row = rowtext_of(&r);
    assert_string_equal(row,
        "@1795516200123000\treq-1\talice\talice@example.com\tresearch\t"
        "{\"premium\",\"dev\"}\topenai\tgpt-4o\t/v1/chat/completions\t200\tt\t100\t50\t10\t5\t7\t150\t"
        "0.001234567891\t1234\t210\tc-9\t10.0.0.1\t\\N\t2\tgw1\t\\N\t\\N\n");
    free(row);
    auditd_record_free(&r);
}

static void test_minimal_record_defaults(void **state)
{
    auditd_record r;
    decode_ok(MIN_REC "}", &r);
    assert_null(r.user);
    assert_int_equal(r.nroles, 0);
    assert_int_equal(r.status, -1);
    assert_int_equal(r.latency_ms, -1);
    assert_int_equal(r.prompt_tokens, 0);
    assert_int_equal(r.total_tokens, 0);
    assert_int_equal(r.stream, 0);
    assert_int_equal(r.has_cost, 0);
    char *row = rowtext_of(&r);
    assert_string_equal(row,
        "@1795516200123000\tr1\t\\N\t\\N\t\\N\t{}\t\\N\t\\N\t\\N\t\\N\tf\t"
        "0\t0\t0\t0\t0\t0\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t0\t\\N\t\\N\t\\N\n");
    free(row);
    auditd_record_free(&r);
}

/* LLMGWAuditBodies: the texts travel in the record and end the row, as they are. */
static void test_bodies(void **state)
{
    auditd_record r;
    decode_ok(MIN_REC ",\"prompt\":\"{\\\"a\\\":1}\\n\",\"completion\":\"Hi\\tthere\"}", &r);
    assert_string_equal(r.prompt, "{\"a\":1}\n");
    assert_string_equal(r.completion, "Hi\tthere");
    char *row = rowtext_of(&r);
    const char *tail = "\t{\"a\":1}\n\tHi\tthere\n";
    assert_true(strlen(row) > strlen(tail));
    assert_string_equal(row + strlen(row) - strlen(tail), tail);
    free(row);
    auditd_record_free(&r);
}

static void test_nulls_everywhere(void **state)
{
    auditd_record r;
    decode_ok(MIN_REC ",\"user\":null,\"email\":null,\"team\":null,\"roles\":null,"
              "\"provider\":null,\"model\":null,\"endpoint\":null,\"status\":null,\"stream\":null,"
              "\"prompt_tokens\":null,\"completion_tokens\":null,\"total_tokens\":null,"
              "\"cost_usd\":null,\"latency_ms\":null,\"ttft_ms\":null,\"conversation_id\":null,"
              "\"client_ip\":null,\"blocked_rule\":null,\"redactions\":null,\"node\":null}", &r);
    assert_null(r.model);
    assert_int_equal(r.prompt_tokens, 0);
    assert_int_equal(r.has_cost, 0);
    assert_int_equal(r.ttft_ms, -1);
    auditd_record_free(&r);
}

static void test_total_defaults_to_sum(void **state)
{
    auditd_record r;
    good_field("\"prompt_tokens\":30,\"completion_tokens\":12", &r);
    assert_int_equal(r.total_tokens, 42);
    auditd_record_free(&r);
}

static void test_unknown_fields_ignored(void **state)
{
    auditd_record r;
    good_field("\"future_field\":{\"a\":[1,2]},\"another\":\"x\"", &r);
    auditd_record_free(&r);
}

static void test_timestamps_accepted(void **state)
{
    static const struct { const char *s; long long us; } ok[] = {
        {"2026-11-24T10:30:00.123Z", 1795516200123000LL},
        {"2026-11-24T10:30:00.123+00:00", 1795516200123000LL},
        {"2026-11-24 10:30:00.123+00", 1795516200123000LL},
        {"2026-11-24T10:30:00.1230009Z", 1795516200123000LL},   /* beyond µs: truncated */
        {"2000-01-01T00:00:00Z", 946684800000000LL},
        {"2024-02-29T23:59:59.999999Z", 1709251199999999LL},
        {"2099-12-31T23:59:59Z", 4102444799000000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t us;
        int month;
        assert_int_equal(auditd_parse_ts(ok[i].s, &us, &month), 0);
        assert_true(us == ok[i].us);
    }
}

static void test_timestamps_rejected(void **state)
{
    static const char *const no[] = {
        "", "2026-11-24", "2026-11-24T10:30:00", "2026-11-24T10:30:00.123",
        "2026-11-24T10:30:00.123+01:00", "2026-11-24T10:30:00.Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-24T24:00:00Z",
        "2026-11-24T10:60:00Z", "2026-11-24T10:30:60Z", "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z", "2026-11-24T10:30:00.1234567890Z", "2026-11-24T10:30:00ZZ",
        "26-11-24T10:30:00Z", "2026/11/24T10:30:00Z", "2026-11-24T10:30:00.123Z ",
    };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        int64_t us;
        int month;
        if (auditd_parse_ts(no[i], &us, &month) == 0) fprintf(stderr, "accepted %s\n", no[i]);
        assert_int_equal(auditd_parse_ts(no[i], &us, &month), -1);
    }
    bad("{\"request_id\":\"r\",\"timestamp\":\"yesterday\"}", "timestamp: not ISO-8601");
    bad("{\"request_id\":\"r\",\"timestamp\":1795516200}", "timestamp: must be a string");
}

static void test_unicode(void **state)
{
    auditd_record r;
    /* escaped and raw UTF-8 (including a surrogate pair) come out as the same bytes */
    good_field("\"user\":\"Zo\\u00eb \\u65e5\\u672c \\ud83d\\ude80\",\"team\":\"Zoë 日本 🚀\"", &r);
    assert_string_equal(r.user, "Zoë 日本 🚀");
    assert_string_equal(r.user, r.team);
    char *row = rowtext_of(&r);
    assert_non_null(strstr(row, "\tZoë 日本 🚀\t"));
    free(row);
    auditd_record_free(&r);
}

static void test_text_and_roles_quoting(void **state)
{
    auditd_record r;
    good_field("\"model\":\"a\\tb\\nc\\\\d\\re\",\"roles\":[\"x\\\"y\",\"p\\\\q\",\"\",\"NULL\"]", &r);
    char *row = rowtext_of(&r);
    /* text: sent as its bytes; text[]: a literal, each element quoted for the array parser */
    assert_non_null(strstr(row, "\ta\tb\nc\\d\re\t"));
    assert_non_null(strstr(row, "\t{\"x\\\"y\",\"p\\\\q\",\"\",\"NULL\"}\t"));
    free(row);
    auditd_record_free(&r);
}

static void test_costs(void **state)
{
    static const struct { const char *json, *text; } cases[] = {
        {"0.001234567891", "\t0.001234567891\t"},
        {"0.000000000001", "\t0.000000000001\t"},
        {"3", "\t3.000000000000\t"},
        {"0", "\t0.000000000000\t"},
        {"8191.999999999999", "\t8191.999999999999\t"},
        {"12.5e-3", "\t0.012500000000\t"},
        {"-0.0", "\t0.000000000000\t"},          /* accepted, and written without its sign */
        {"-0", "\t0.000000000000\t"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char member[64];
        auditd_record r;
        snprintf(member, sizeof member, "\"cost_usd\":%s", cases[i].json);
        good_field(member, &r);
        char *row = rowtext_of(&r);
        assert_non_null(strstr(row, cases[i].text));
        free(row);
        auditd_record_free(&r);
    }
}

static void test_long_strings_at_limit(void **state)
{
    size_t n = AUDITD_MAX_STR;
    char *s = malloc(n + 200);
    auditd_record r;
    int k = snprintf(s, 200, MIN_REC ",\"model\":\"");
    memset(s + k, 'm', n);
    strcpy(s + k + n, "\"}");
    decode_ok(s, &r);
    assert_int_equal(strlen(r.model), n);
    auditd_record_free(&r);
    free(s);
}

/* ---- rejected ------------------------------------------------------------------------ */

static void test_missing_identity(void **state)
{
    bad("{\"timestamp\":\"2026-11-24T10:30:00.123Z\"}", "request_id: missing");
    bad("{\"request_id\":null,\"timestamp\":\"2026-11-24T10:30:00.123Z\"}", "request_id: missing");
    bad("{\"request_id\":\"r1\"}", "timestamp: missing");
    bad("{\"request_id\":42,\"timestamp\":\"2026-11-24T10:30:00.123Z\"}", "request_id: must be a string");
    bad("{\"request_id\":\"\",\"timestamp\":\"2026-11-24T10:30:00.123Z\"}", "request_id: empty");
}

static void test_request_id_reported(void **state)
{
    auditd_record rec;
    char reason[AUDITD_REASON_MAX];
    const char *s = MIN_REC ",\"prompt_tokens\":-1}";
    assert_int_equal(auditd_decode(s, strlen(s), &rec, reason, sizeof reason), -1);
    assert_string_equal(rec.request_id, "r1");
    assert_string_equal(reason, "prompt_tokens: must not be negative");
    auditd_record_free(&rec);
}

static void test_not_json(void **state)
{
    bad("", "invalid JSON");
    bad("{\"request_id\":", "invalid JSON");
    bad("not json at all", "invalid JSON");
    bad("[1,2,3]", "not a JSON object");
    bad("\"a string\"", "invalid JSON");   /* jansson refuses bare scalars by default */
    bad(MIN_REC ",\"user\":\"a\",\"user\":\"b\"}", "invalid JSON");   /* duplicate key */
    bad(MIN_REC ",\"user\":\"\xff\xfe\"}", "invalid JSON");             /* not UTF-8 */
    bad(MIN_REC ",\"user\":\"a\\u0000b\"}", "invalid JSON");            /* NUL */
    bad(MIN_REC ",\"prompt_tokens\":99999999999999999999999}", "invalid JSON");
    decode_bad(MIN_REC "}\0junk", sizeof(MIN_REC "}\0junk") - 1, "invalid JSON");
}

static void test_wrong_types(void **state)
{
    bad_field("\"user\":123", "user: must be a string or null");
    bad_field("\"model\":[\"gpt\"]", "model: must be a string or null");
    bad_field("\"node\":true", "node: must be a string or null");
    bad_field("\"roles\":\"premium\"", "roles: must be an array of strings");
    bad_field("\"roles\":[\"a\",1]", "roles: must be an array of strings");
    bad_field("\"roles\":[null]", "roles: must be an array of strings");
    bad_field("\"stream\":\"true\"", "stream: must be true or false");
    bad_field("\"stream\":1", "stream: must be true or false");
    bad_field("\"cost_usd\":\"0.1\"", "cost_usd: must be a number or null");
    bad_field("\"cost_usd\":true", "cost_usd: must be a number or null");
}

static void test_numbers_as_strings(void **state)
{
    bad_field("\"status\":\"200\"", "status: must be an integer");
    bad_field("\"prompt_tokens\":\"5\"", "prompt_tokens: must be an integer");
    bad_field("\"latency_ms\":\"12\"", "latency_ms: must be an integer");
    bad_field("\"total_tokens\":\"3\"", "total_tokens: must be an integer");
}

static void test_bad_numbers(void **state)
{
    bad_field("\"prompt_tokens\":-1", "prompt_tokens: must not be negative");
    bad_field("\"completion_tokens\":-5", "completion_tokens: must not be negative");
    bad_field("\"cached_tokens\":1.5", "cached_tokens: must be an integer");
    bad_field("\"reasoning_tokens\":2.0", "reasoning_tokens: must be an integer");
    bad_field("\"cache_write_tokens\":1000000000000001", "cache_write_tokens: larger than");
    bad_field("\"status\":1000", "status: larger than 999");
    bad_field("\"ttft_ms\":-3", "ttft_ms: must not be negative");
    bad_field("\"redactions\":4294967296", "redactions: larger than");
    bad_field("\"cost_usd\":-0.01", "cost_usd: must not be negative");
    bad_field("\"cost_usd\":100000000", "cost_usd: too large");
    bad_field("\"cost_usd\":1e300", "cost_usd: too large");
}

static void test_over_long(void **state)
{
    size_t n = AUDITD_MAX_STR + 1;
    char *s = malloc(n + 200);
    int k = snprintf(s, 200, MIN_REC ",\"model\":\"");
    memset(s + k, 'm', n);
    strcpy(s + k + n, "\"}");
    bad(s, "model: longer than 4096 bytes");

    k = snprintf(s, 200, "{\"timestamp\":\"2026-11-24T10:30:00Z\",\"request_id\":\"");
    memset(s + k, 'r', AUDITD_MAX_ID + 1);
    strcpy(s + k + AUDITD_MAX_ID + 1, "\"}");
    bad(s, "request_id: longer than 256 bytes");
    free(s);

    abuf roles = {0};
    abuf_puts(&roles, MIN_REC ",\"roles\":[");
    for (int i = 0; i <= AUDITD_MAX_ROLES; i++) abuf_printf(&roles, "%s\"r%d\"", i ? "," : "", i);
    abuf_puts(&roles, "]}");
    bad(abuf_cstr(&roles), "roles: more than 64 entries");
    abuf_free(&roles);

    size_t big = AUDITD_MAX_LINE + 1;
    char *line = malloc(big);
    memset(line, ' ', big);
    decode_bad(line, big, "line longer than");
    free(line);
}

/* ---- the same as the reference --------------------------------------------------- */

typedef struct {
    long lines, by_views, accepted_by_views;
} diff_stats;

static void show_line(const char *s, size_t n)
{
    fprintf(stderr, "  line (%zu bytes): ", n);
    for (size_t i = 0; i < n && i < 400; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    fputc('\n', stderr);
}

/* One reader's answer against the reference's; fails the test on any difference. */
static void agree(const char *who, const char *s, size_t n, int want_rc,
                  const char *want_reason, const ref_record *want, int rc, const char *reason,
                  const auditd_record *got)
{
    const char *what = ref_differs(want_rc, want_reason, want, rc, reason, got);
    if (!what) return;
    fprintf(stderr, "%s differs from the reference in %s\n  reference: %d \"%s\"\n"
            "  %s: %d \"%s\"\n", who, what, want_rc, want_reason, who, rc, reason);
    show_line(s, n);
    fail();
}

/* Decodes [s, s + n) with the reference, auditd_decode and both of its readers. */
static void same_as_reference(const char *s, size_t n, diff_stats *st)
{
    ref_record want;
    auditd_record got;
    char want_reason[AUDITD_REASON_MAX] = "", reason[AUDITD_REASON_MAX];
    int want_rc = ref_decode(s, n, &want, want_reason, sizeof want_reason);

    reason[0] = '\0';
    int rc = auditd_decode(s, n, &got, reason, sizeof reason);
    agree("auditd_decode", s, n, want_rc, want_reason, &want, rc, reason, &got);
    if (rc == 0) {
        char *row = rowtext_of(&got);   /* encodes without tripping the sanitizers */
        free(row);
    }
    auditd_record_free(&got);

    reason[0] = '\0';
    rc = auditd_decode_jansson(s, n, &got, reason, sizeof reason);
    agree("the jansson reader", s, n, want_rc, want_reason, &want, rc, reason, &got);
    auditd_record_free(&got);

    reason[0] = '\0';
    rc = auditd_decode_views(s, n, &got, reason, sizeof reason);
    if (rc != AUDITD_DECODE_UNDECIDED) {
        agree("the view reader", s, n, want_rc, want_reason, &want, rc, reason, &got);
        st->by_views++;
        st->accepted_by_views += rc == 0;
    } else {
        assert_null(got.store);          /* undecided: nothing kept */
        assert_null(got.request_id);
    }
    auditd_record_free(&got);
    ref_record_free(&want);
    st->lines++;
}

static void same_as_reference_str(const char *s, diff_stats *st)
{
    same_as_reference(s, strlen(s), st);
}

static uint64_t rng_state = 0x243f6a8885a308d3u;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a) ((a)[rnd(COUNT(a))])

/* Values by the kind of field they are meant for, valid and not. */
static const char *const str_values[] = {
    "\"alice\"", "\"\"", "\"Zo\\u00eb \\u65e5\\u672c\"", "\"\\ud83d\\ude80 rocket\"",
    "\"\\ud83d\"", "\"\\udc00x\"", "\"\\ud83dx\"", "\"a\\u0000b\"", "\"\\\"q\\\\\"",
    "\"tab\\t\\n\\r\\b\\f\\/\"", "\"日本 🚀\"", "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
    "\"\xf4\x90\x80\x80\"", "\"a\x01" "b\"", "\"a\x7f" "b\"", "null", "123", "true", "false",
    "[\"x\"]", "{}", "\"\\u00\"", "\"\\x41\"", "\"\\U0041\"", "\"\\u004A\\u004a\"",
    "\"/v1/chat/completions\"", "\"10.0.0.1\"", "\"a\\/b\"", "\"\\uD83D\\uDE00\"",
};
static const char *const int_values[] = {
    "0", "-0", "1", "-1", "200", "999", "1000", "1.5", "2.0", "1e2", "-0.0", "0.0", "1e400",
    "-1e400", "1e-400", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "99999999999999999999",
    "999999999999999999", "1000000000000000", "1000000000000001", "2000000000000000",
    "2000000000000001", "2147483647", "2147483648", "1000000000000", "1000000000001",
    "007", "1.", ".5", "+1", "0x10", "1e", "NaN", "Infinity", "-", "\"42\"", "null", "true",
    "[1]", "{\"n\":1}", "12E+0", "1E3",
};
static const char *const cost_values[] = {
    "0.001234567891", "0.000000000001", "3", "0", "-0", "-0.0", "8191.999999999999",
    "12.5e-3", "99999999.999999999", "99999999.99999999999", "100000000", "99999999",
    "1e8", "1e7", "1e-400", "-1e-400", "1e400", "-0.01", "\"0.1\"", "true", "null", "[]",
    "0.1000000000000000055511151231257827", "4.9e-324", "2.2250738585072014e-308",
    "0.000000000000000000000000000000000000000000000000000000000000000000000001",
    "123456789012345678", "1234567890123456789012", "1E2", "1e+2", "5e-1",
};
static const char *const ts_values[] = {
    "\"2026-11-24T10:30:00.123Z\"", "\"2026-11-24T10:30:00.123+00:00\"",
    "\"2026-11-24 10:30:00.123+00\"", "\"2000-01-01T00:00:00Z\"", "\"2099-12-31T23:59:59Z\"",
    "\"2100-01-01T00:00:00Z\"", "\"2026-02-29T00:00:00Z\"", "\"yesterday\"", "1795516200",
    "\"2026\\u002d11-24T10:30:00.123Z\"", "\"2026-11-24T10:30:00.123\\u005a\"",
    "\"2026-11-24T10:30:00.123Z\\u0000\"", "\"2026-11-24T10:30:00.1230009Z\"", "null",
    "\"2026-11-24T10:30:00.123Z \"", "[\"2026-11-24T10:30:00.123Z\"]", "\"\"",
};
static const char *const id_values[] = {
    "\"req-1\"", "\"r\"", "\"\"", "42", "null", "\"\\u0072eq\"", "\"a\\u0000\"",
    "\"\\ud800\\udc00\"", "{\"id\":1}", "\"\xe2\x82\xac\"",
};
static const char *const bool_values[] = {
    "true", "false", "null", "1", "0", "\"true\"", "[]", "tru", "falsee",
};
static const char *const roles_values[] = {
    "[]", "[\"premium\",\"dev\"]", "[\"a\",1]", "[null]", "\"premium\"", "[[\"a\"]]",
    "[\"\\u0041\",\"x\\\"y\",\"p\\\\q\",\"\",\"NULL\"]", "null", "{}", "[\"a\",]", "[,]",
    "[\"\\ud83d\\ude80\"]", "[\"a\\u0000\"]", "[ \"a\" , \"b\" ]", "[\"a\",{\"b\":1}]",
    "[\"x\",\"x\"]", "[true]", "[1.5]", "[\"\xff\"]",
};
static const char *const extra_members[] = {
    "\"future\":{\"a\":[1,{\"b\":null}]}", "\"another\":\"x\"", "\"o\":{\"a\":1,\"a\":2}",
    "\"us\\u0065r\":\"escaped name\"", "\"\":0", "\"deep\":[[[[[[[[[[1]]]]]]]]]]",
    "\"n\":-1.5e-7", "\"big\":123456789012345678901234567890", "\"s\":\"\\ud83d\\ude80\"",
    "\"t\":true", "\"arr\":[\"a\",\"a\"]", "\"obj\":{\"x\":{\"x\":{\"x\":1}}}",
};

/* The kind of each record field, in SPEC §7 order. */
static const struct {
    const char *name;
    char kind;      /* s: string, i: integer, c: cost, t: timestamp, d: id, b: bool, r: roles */
} fields[] = {
    {"timestamp", 't'}, {"request_id", 'd'}, {"user", 's'}, {"email", 's'}, {"team", 's'},
    {"roles", 'r'}, {"provider", 's'}, {"model", 's'}, {"endpoint", 's'}, {"status", 'i'},
    {"stream", 'b'}, {"prompt_tokens", 'i'}, {"completion_tokens", 'i'},
    {"cached_tokens", 'i'}, {"cache_write_tokens", 'i'}, {"reasoning_tokens", 'i'},
    {"total_tokens", 'i'}, {"cost_usd", 'c'}, {"latency_ms", 'i'}, {"ttft_ms", 'i'},
    {"conversation_id", 's'}, {"client_ip", 's'}, {"blocked_rule", 's'}, {"redactions", 'i'},
    {"node", 's'}, {"prompt", 's'}, {"completion", 's'},
};

/* A value for a field of this kind: mostly a good one, now and then any of its kind's
 * (some not JSON at all), rarely any at all: most lines stay JSON the scanner reads. */
static const char *value_for(char kind)
{
    static const char *const good_str[] = {
        "\"alice\"", "\"gpt-4o\"", "null", "\"Zo\\u00eb\"", "\"\\ud83d\\ude80\"", "\"a\\\"b\\\\\"",
        "\"\"", "\"t\\tn\\n\"", "\"\xc3\xa9\xe2\x82\xac\"", "\"\\/v1\"",
    };
    static const char *const good_int[] = {"0", "200", "1234", "null", "-0", "999"};
    if (!rnd(40)) {
        switch (rnd(5)) {
        case 0: return PICK(str_values);
        case 1: return PICK(int_values);
        case 2: return PICK(cost_values);
        case 3: return PICK(roles_values);
        default: return PICK(bool_values);
        }
    }
    int any = !rnd(30);
    switch (kind) {
    case 't': return any ? PICK(ts_values) : ts_values[0];
    case 'd': return any ? PICK(id_values) : id_values[0];
    case 's': return any ? PICK(str_values) : PICK(good_str);
    case 'i': return any ? PICK(int_values) : PICK(good_int);
    case 'c': return any || rnd(2) ? PICK(cost_values) : cost_values[0];
    case 'b': return any ? PICK(bool_values) : rnd(2) ? "true" : "false";
    default: return any || !rnd(4) ? PICK(roles_values) : roles_values[1];
    }
}

static const char *ws(void)
{
    static const char *const w[] = {"", "", "", "", " ", "\n", "\t ", "\r\n  "};
    return PICK(w);
}

/* A record of randomly chosen members in random order, with the odd unknown member,
 * repeated or escaped name, and whitespace between tokens. */
static void random_record(abuf *out)
{
    const char *member[64];
    char buf[64][160];
    size_t n = 0;
    for (size_t i = 0; i < COUNT(fields); i++) {
        if (i < 2 ? rnd(20) == 0 : rnd(4) == 0) continue;
        snprintf(buf[n], sizeof buf[n], "\"%s\":%s%s", fields[i].name, ws(),
                 value_for(fields[i].kind));
        member[n] = buf[n];
        n++;
    }
    for (unsigned k = rnd(8) ? 0 : 1 + rnd(3); k; k--) member[n++] = PICK(extra_members);
    if (!rnd(30)) {      /* a repeated member */
        size_t i = rnd(COUNT(fields));
        snprintf(buf[n], sizeof buf[n], "\"%s\":%s", fields[i].name, value_for(fields[i].kind));
        member[n] = buf[n];
        n++;
    }
    if (!rnd(40))        /* more members than the scanner's duplicate check follows */
        for (int k = 0; k < 10 && n < 63; k++) {
            snprintf(buf[n], sizeof buf[n], "\"pad%d\":%d", k, k);
            member[n] = buf[n];
            n++;
        }
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd((unsigned)i);
        const char *t = member[i - 1];
        member[i - 1] = member[j];
        member[j] = t;
    }
    abuf_puts(out, ws());
    abuf_putc(out, '{');
    for (size_t i = 0; i < n; i++)
        abuf_printf(out, "%s%s%s%s", i ? "," : "", ws(), member[i], ws());
    abuf_putc(out, '}');
    abuf_puts(out, ws());
}

/* Bytes and tokens a mutation inserts. */
static const char *const splices[] = {
    "\"", "\\", "{", "}", "[", "]", ":", ",", "0", "-", "e", ".", "\\u0000", "\\ud83d",
    "\\ude80", "\\u00e9", "null", "true", "1e999", "\x00", "\xff", "\xc3", "\xe2\x82",
    " ", "\"request_id\":\"x\",", "\"user\":1,", "\"roles\":[\"a\"],", "99999999999999999999",
    "\"timestamp\":\"2026-11-24T10:30:00Z\",", "\\\"", "\x7f", "\t",
};

static void mutate(abuf *b)
{
    for (unsigned m = 1 + rnd(3); m; m--) {
        size_t at = b->len ? rnd((unsigned)b->len + 1) : 0;
        switch (rnd(4)) {
        case 0:                                          /* replace a byte */
            if (at < b->len) b->p[at] = (char)rnd(256);
            break;
        case 1: {                                        /* delete a run */
            size_t k = 1 + rnd(6);
            if (at + k > b->len) k = b->len - at;
            memmove(b->p + at, b->p + at + k, b->len - at - k);
            b->len -= k;
            break;
        }
        case 2:                                          /* cut short */
            b->len = at;
            break;
        default: {                                       /* splice a token in */
            const char *t = PICK(splices);
            size_t k = *t ? strlen(t) : 1;               /* "\x00" splices one NUL */
            abuf_reserve(b, k);
            memmove(b->p + at + k, b->p + at, b->len - at);
            memcpy(b->p + at, t, k);
            b->len += k;
        }
        }
    }
}

/* s repeated n times, between prefix and suffix. */
static char *repeat(const char *prefix, const char *s, size_t n, const char *suffix)
{
    abuf b = {0};
    abuf_puts(&b, prefix);
    for (size_t i = 0; i < n; i++) abuf_puts(&b, s);
    abuf_puts(&b, suffix);
    return (char *)abuf_cstr(&b);     /* the caller frees b.p */
}

static void limits_match_reference(diff_stats *st)
{
    static const struct {
        const char *prefix, *unit;
        size_t n;
        const char *suffix;
    } cases[] = {
        {MIN_REC ",\"model\":\"", "m", AUDITD_MAX_STR, "\"}"},
        {MIN_REC ",\"model\":\"", "m", AUDITD_MAX_STR + 1, "\"}"},
        {MIN_REC ",\"model\":\"", "\\u00e9", AUDITD_MAX_STR / 2, "\"}"},       /* 4096 decoded */
        {MIN_REC ",\"model\":\"", "\\u00e9", AUDITD_MAX_STR / 2 + 1, "\"}"},
        {MIN_REC ",\"model\":\"", "\\ud83d\\ude80", AUDITD_MAX_STR / 4, "\"}"},
        {MIN_REC ",\"node\":\"", "\\n", AUDITD_MAX_STR + 1, "\"}"},
        {"{\"timestamp\":\"2026-11-24T10:30:00Z\",\"request_id\":\"", "r", AUDITD_MAX_ID, "\"}"},
        {"{\"timestamp\":\"2026-11-24T10:30:00Z\",\"request_id\":\"", "r", AUDITD_MAX_ID + 1,
         "\",\"user\":1}"},
        {"{\"timestamp\":\"2026-11-24T10:30:00Z\",\"request_id\":\"", "\\u0072", AUDITD_MAX_ID,
         "\"}"},
        {MIN_REC ",\"roles\":[\"", "a", AUDITD_MAX_ROLE, "\"]}"},
        {MIN_REC ",\"roles\":[\"", "a", AUDITD_MAX_ROLE + 1, "\"]}"},
        {MIN_REC ",\"roles\":[\"", "\\u0041", AUDITD_MAX_ROLE, "\"]}"},
        {MIN_REC ",\"roles\":[\"x\"", ",\"r\"", AUDITD_MAX_ROLES - 1, "]}"},
        {MIN_REC ",\"roles\":[\"x\"", ",\"r\"", AUDITD_MAX_ROLES, "]}"},
        {MIN_REC ",\"roles\":[1", ",\"r\"", AUDITD_MAX_ROLES, "]}"},    /* 65: the count first */
        {MIN_REC ",\"roles\":[\"x\"", ",\"r\"", AUDITD_MAX_ROLES - 2, ",7]}"},
        {MIN_REC ",\"prompt\":\"", "p", AUDITD_MAX_BODY_TEXT, "\"}"},
        {MIN_REC ",\"prompt\":\"", "p", AUDITD_MAX_BODY_TEXT + 1, "\"}"},
        {MIN_REC ",\"completion\":\"", "\\\"", AUDITD_MAX_BODY_TEXT, "\"}"},
        {MIN_REC ",\"cost_usd\":0.", "0", 100, "1}"},              /* a real jansson converts */
        {MIN_REC ",\"cost_usd\":1", "0", 307, "}"},
        {MIN_REC ",\"cost_usd\":1", "0", 309, ".5}"},
        {MIN_REC ",\"x\":", "[", 3000, "}"},                        /* jansson's depth limit */
        {MIN_REC ",\"x\":", "[", 200, "}"},
        {MIN_REC, ",\"k\":{\"a\":1}", 2, "}"},                       /* a repeat, nested */
        {MIN_REC ",\"many\":{\"a\":1", ",\"b\":2", 40, "}}"},         /* a repeat past 32 */
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        char *s = repeat(cases[i].prefix, cases[i].unit, cases[i].n, cases[i].suffix);
        same_as_reference_str(s, st);
        free(s);
    }
    /* a line of exactly the limit, and one byte over */
    size_t big = AUDITD_MAX_LINE;
    char *line = malloc(big + 1);
    memset(line, ' ', big + 1);
    memcpy(line, MIN_REC "}", strlen(MIN_REC "}"));
    same_as_reference(line, big, st);
    same_as_reference(line, big + 1, st);
    free(line);
}

#define LIT(s) {s, sizeof(s) - 1}     /* keeps the NUL bytes some lines hold */

static void test_hostile_lines_match_reference(void **state)
{
    static const struct {
        const char *s;
        size_t n;
    } lines[] = {
        LIT(""),
        LIT(" "),
        LIT("{}"),
        LIT("[]"),
        LIT("[1,2,3]"),
        LIT("\"a string\""),
        LIT("42"),
        LIT("null"),
        LIT("{"),
        LIT("}"),
        LIT("{\"a\"}"),
        LIT(MIN_REC "}"),
        LIT(MIN_REC "} "),
        LIT(MIN_REC "}\n"),
        LIT(MIN_REC "}x"),
        LIT(MIN_REC "}{}"),
        LIT(MIN_REC ",}"),
        LIT("\xef\xbb\xbf" MIN_REC "}"),
        LIT(MIN_REC ",\"user\":\"a\",\"user\":\"b\"}"),
        LIT(MIN_REC ",\"us\\u0065r\":\"a\",\"user\":\"b\"}"),
        LIT(MIN_REC ",\"us\\u0065r\":\"esc\"}"),
        LIT("{\"request\\u005fid\":\"r1\",\"timestamp\":\"2026-11-24T10:30:00.123Z\"}"),
        LIT("{\"request_id\":\"r1\",\"request_id\":\"r2\","
            "\"timestamp\":\"2026-11-24T10:30:00Z\"}"),
        LIT(MIN_REC ",\"x\":{\"a\":1,\"a\":2}}"),
        LIT(MIN_REC ",\"x\":[{\"a\":1},{\"a\":2}]}"),
        LIT(MIN_REC ",\"prompt_tokens\":99999999999999999999999}"),
        LIT(MIN_REC ",\"cost_usd\":1e400}"),
        LIT(MIN_REC ",\"cost_usd\":-1e400}"),
        LIT(MIN_REC ",\"cost_usd\":1e-400}"),
        LIT(MIN_REC ",\"cost_usd\":-0.0}"),
        LIT(MIN_REC ",\"cost_usd\":-0}"),
        LIT(MIN_REC ",\"user\":\"a\\u0000b\"}"),
        LIT(MIN_REC ",\"user\":\"\xff\xfe\"}"),
        LIT(MIN_REC ",\"user\":\"\\ud83d\\ude80\\u00e9\\u0041\\/\"}"),
        LIT(MIN_REC ",\"user\":\"\\ud83d\\u0041\"}"),
        LIT(MIN_REC ",\"user\":\"\\ude80\"}"),
        LIT(MIN_REC ",\"x\":1\x00}"),
        LIT(MIN_REC ",\"x\":true\x00}"),
        LIT(MIN_REC ",\"x\":\"a\x00\"}"),
        LIT("{\"request_id\":\"r1\"}"),
        LIT("{\"timestamp\":\"2026-11-24T10:30:00.123Z\"}"),
        LIT("{\"request_id\":\"\",\"timestamp\":3,\"user\":1}"),
        LIT("{\"request_id\":\"\\u0000\",\"timestamp\":\"x\"}"),
        LIT("{\"request_id\":\"r\",\"timestamp\":\"2026-11-24T10:30:00.123\\u005a\"}"),
        LIT("{ \"request_id\" : \"r\" , \"timestamp\" : \"2026-11-24T10:30:00.123Z\" , "
            "\"roles\" : [ \"a\" , \"b\" ] , \"cost_usd\" : 1.25 , \"stream\" : false }"),
        LIT(MIN_REC ",\"status\":-0,\"prompt_tokens\":-0,\"cost_usd\":0e5}"),
        LIT(MIN_REC ",\"status\":1e2}"),
        LIT(MIN_REC ",\"latency_ms\":1000000000000}"),
        LIT(MIN_REC ",\"latency_ms\":1000000000001}"),
        LIT(MIN_REC ",\"redactions\":2147483648}"),
        LIT(MIN_REC ",\"total_tokens\":2000000000000000}"),
        LIT(MIN_REC ",\"total_tokens\":2000000000000001}"),
        LIT(MIN_REC ",\"prompt_tokens\":1000000000000000,"
            "\"completion_tokens\":1000000000000000}"),
        LIT(MIN_REC ",\"roles\":[\"a\",\"b\"],\"roles\":null}"),
        LIT(MIN_REC ",\"roles\":[\"\\u0000\"]}"),
        LIT(MIN_REC ",\"roles\":[\"a\\\"b\",\"c\\\\d\"]}"),
        LIT(MIN_REC ",\"roles\":[1e999]}"),
        LIT(MIN_REC ",\"roles\":[99999999999999999999]}"),
        LIT(MIN_REC ",\"roles\":[0.1, \"a\"]}"),
        LIT("{\"request_id\":\"r\",\"timestamp\":\"2026-11-24T10:30:00Z\","
            "\"blocked_rule\":[]}"),
    };
    diff_stats st = {0};
    for (size_t i = 0; i < COUNT(lines); i++) same_as_reference(lines[i].s, lines[i].n, &st);
    limits_match_reference(&st);
    fprintf(stderr, "%ld hostile lines, %ld decided by views, %ld of them accepted\n",
            st.lines, st.by_views, st.accepted_by_views);
    assert_true(st.by_views >= 30);
}

static void test_generated_records_match_reference(void **state)
{
    diff_stats st = {0};
    for (int i = 0; i < 6000; i++) {
        abuf b = {0};
        random_record(&b);
        same_as_reference(b.p, b.len, &st);
        abuf_free(&b);
    }
    fprintf(stderr, "%ld generated records, %ld decided by views, %ld of them accepted\n",
            st.lines, st.by_views, st.accepted_by_views);
    assert_true(st.by_views > st.lines / 2);
}

static void test_mutated_records_match_reference(void **state)
{
    diff_stats st = {0};
    for (int i = 0; i < 12000; i++) {
        abuf b = {0};
        random_record(&b);
        mutate(&b);
        same_as_reference(b.p ? b.p : "", b.len, &st);
        abuf_free(&b);
    }
    fprintf(stderr, "%ld mutated records, %ld decided by views, %ld of them accepted\n",
            st.lines, st.by_views, st.accepted_by_views);
    assert_true(st.by_views > st.lines / 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_record),
        cmocka_unit_test(test_minimal_record_defaults),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_nulls_everywhere),
        cmocka_unit_test(test_total_defaults_to_sum),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_timestamps_accepted),
        cmocka_unit_test(test_timestamps_rejected),
        cmocka_unit_test(test_unicode),
        cmocka_unit_test(test_text_and_roles_quoting),
        cmocka_unit_test(test_costs),
        cmocka_unit_test(test_long_strings_at_limit),
        cmocka_unit_test(test_missing_identity),
        cmocka_unit_test(test_request_id_reported),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_numbers_as_strings),
        cmocka_unit_test(test_bad_numbers),
        cmocka_unit_test(test_over_long),
        cmocka_unit_test(test_hostile_lines_match_reference),
        cmocka_unit_test(test_generated_records_match_reference),
        cmocka_unit_test(test_mutated_records_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
