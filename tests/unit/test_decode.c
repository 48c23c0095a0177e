/* test_decode.c — cmocka tests of auditd_decode.c: usage records (SPEC §7) that must be
 * accepted with exact values, every kind that must be rejected with its reason, and the
 * rows they are encoded into (shown as text by auditd_rowtext.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditd_decode.h"
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
    assert_int_equal(json_array_size(r.roles), 2);
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
    assert_null(r.roles);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
