/*
 * C tests of libtimeledger: every typed function, NULL and invalid UTF-8 arguments, error
 * objects, threads sharing one engine, and a runner that plays every scenario file in tests/scenarios
 * through tl_call (format: tests/scenarios/README.md).
 *
 *   test_timeledger <scenario-dir>
 *
 * Built with -std=c11 -Wall -Wextra -Werror against the static and the shared library, and run
 * under valgrind by scripts/test-all.sh. Ends with "N passed, N failed".
 */
#define _DEFAULT_SOURCE
#include "timeledger.h"
#include "timeledger.h" /* the header must survive being included twice */

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int passed = 0, failed = 0;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (cond) {                                                                               \
            passed++;                                                                             \
        } else {                                                                                  \
            failed++;                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
        }                                                                                         \
    } while (0)

/* The code of the last error on this thread ("" if none); copied into buf. */
static const char *last_code(char *buf, size_t n) {
    tl_error *e = tl_last_error();
    snprintf(buf, n, "%s", tl_error_code(e));
    tl_error_free(e);
    return buf;
}

static void test_open_close_and_null_arguments(void) {
    tl_engine *e = NULL;
    char buf[64];
    CHECK(tl_engine_open(NULL, &e) == TL_ERR_INVALID_ARGUMENT, "NULL path");
    CHECK(strcmp(last_code(buf, sizeof buf), "INVALID_ARGUMENT") == 0, "code %s", buf);
    CHECK(tl_engine_open(":memory:", NULL) == TL_ERR_INVALID_ARGUMENT, "NULL out");
    CHECK(tl_engine_open("", &e) == TL_ERR_INVALID_INPUT && e == NULL, "empty path");
    tl_engine_close(NULL);
    CHECK(tl_engine_open(":memory:", &e) == TL_OK && e != NULL, "open");
    CHECK(tl_last_error() == NULL, "no error after success");
    char *out = NULL;
    CHECK(tl_guild_status(NULL, 1, &out) == TL_ERR_INVALID_ARGUMENT && out == NULL, "NULL engine");
    CHECK(tl_guild_status(e, 1, NULL) == TL_ERR_INVALID_ARGUMENT, "NULL json_out");
    CHECK(tl_clock_in(e, 1, 2, NULL, NULL, &out) == TL_ERR_INVALID_ARGUMENT, "NULL category");
    CHECK(tl_clock_out(NULL, 1, 2, &out) == TL_ERR_INVALID_ARGUMENT, "NULL engine clock_out");
    CHECK(tl_leaderboard(NULL, 1, NULL, 0, &out) == TL_ERR_INVALID_ARGUMENT, "NULL engine leaderboard");
    CHECK(tl_ingest_heartbeats(e, 1, 2, NULL, NULL, NULL, &out) == TL_ERR_INVALID_ARGUMENT, "NULL heartbeats");
    CHECK(tl_set_master_key(e, NULL) == TL_ERR_INVALID_ARGUMENT, "NULL master key");
    CHECK(tl_generate_key(e, 1, 1, NULL, NULL, &out) == TL_ERR_INVALID_ARGUMENT, "NULL master key (generate)");
    CHECK(tl_authorize(e, NULL, 1, "read_status", NULL, NULL, NULL) == TL_ERR_INVALID_ARGUMENT, "NULL key");
    CHECK(tl_call(e, NULL, "{}", &out) == TL_ERR_INVALID_ARGUMENT, "NULL op");
    CHECK(tl_engine_set_now(NULL, 0) == TL_ERR_INVALID_ARGUMENT, "NULL engine set_now");
    CHECK(tl_engine_use_wall_clock(NULL) == TL_ERR_INVALID_ARGUMENT, "NULL engine wall clock");
    /* Error accessors are NULL-safe. */
    CHECK(strcmp(tl_error_code(NULL), "") == 0 && tl_error_http_status(NULL) == 0, "NULL error");
    CHECK(tl_error_status(NULL) == TL_ERR_INVALID_ARGUMENT && strcmp(tl_error_json(NULL), "") == 0, "NULL error 2");
    CHECK(strcmp(tl_error_message(NULL), "") == 0, "NULL error message");
    tl_error_free(NULL);
    tl_string_free(NULL);
    tl_engine_close(e);
}

static void test_sessions_and_errors(void) {
    tl_engine *e = NULL;
    char *out = NULL, buf[64];
    CHECK(tl_engine_open(":memory:", &e) == TL_OK, "open");
    CHECK(tl_engine_set_now(e, 1760106600000LL) == TL_OK, "set_now"); /* 2025-10-10T14:30:00Z */
    CHECK(tl_call(e, "create_category", "{\"guild_id\": 123456789, \"name\": \"Development\"}", &out) == TL_OK, "create");
    tl_string_free(out);
    out = NULL;
    CHECK(tl_clock_in(e, 123456789, 987654321, "development", "Working on API integration", &out) == TL_OK, "clock in");
    CHECK(out && strstr(out, "\"success\":true") && strstr(out, "\"start_time\":\"2025-10-10T14:30:00Z\""), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;
    CHECK(tl_clock_in(e, 123456789, 987654321, "Development", NULL, &out) == TL_ERR_SESSION_ALREADY_ACTIVE && out == NULL, "twice");
    tl_error *err = tl_last_error();
    CHECK(err != NULL && tl_error_status(err) == TL_ERR_SESSION_ALREADY_ACTIVE, "status");
    CHECK(strcmp(tl_error_code(err), "SESSION_ALREADY_ACTIVE") == 0 && tl_error_http_status(err) == 409, "%s", tl_error_code(err));
    CHECK(strstr(tl_error_json(err), "\"code\":\"SESSION_ALREADY_ACTIVE\"") != NULL, "%s", tl_error_json(err));
    CHECK(strlen(tl_error_message(err)) > 0, "message");
    tl_error_free(err);
    CHECK(tl_engine_set_now(e, 1760108400000LL) == TL_OK, "later");
    CHECK(tl_clock_out(e, 123456789, 987654321, &out) == TL_OK && strstr(out, "\"duration\":1800"), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;
    CHECK(tl_clock_out(e, 123456789, 987654321, &out) == TL_ERR_NO_ACTIVE_SESSION, "nothing running");
    CHECK(tl_guild_status(e, 123456789, &out) == TL_OK && strstr(out, "\"total_time_seconds\":1800"), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;
    CHECK(tl_leaderboard(e, 123456789, "week", 5, &out) == TL_OK && strstr(out, "\"rank\":1"), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;
    CHECK(tl_leaderboard(e, 123456789, "fortnight", 0, &out) == TL_ERR_INVALID_INPUT, "bad timeframe");
    CHECK(strcmp(last_code(buf, sizeof buf), "INVALID_INPUT") == 0, "code %s", buf);
    /* Invalid UTF-8 is refused, never read as text. */
    CHECK(tl_clock_in(e, 123456789, 1, "Dev\xff\xfe", NULL, &out) == TL_ERR_INVALID_ARGUMENT, "bad UTF-8");
    CHECK(tl_call(e, "guild_status", "{\"guild_id\": \"\xc3\x28\"}", &out) == TL_ERR_INVALID_ARGUMENT, "bad UTF-8 args");
    CHECK(tl_call(e, "guild_status", "{nope", &out) == TL_ERR_INVALID_INPUT, "bad JSON");
    CHECK(tl_call(e, "no_such_op", NULL, &out) == TL_ERR_INVALID_INPUT, "unknown op");
    CHECK(tl_call(e, "guild_status", "{\"guild_id\": \"9223372036854775807\"}", &out) == TL_OK, "id as string");
    tl_string_free(out);
    tl_engine_close(e);
}

static void test_heartbeats_and_keys(void) {
    tl_engine *e = NULL;
    char *out = NULL;
    CHECK(tl_engine_open(":memory:", &e) == TL_OK, "open");
    tl_engine_set_now(e, 1760097600000LL);
    const char *beats = "[{\"entity\": \"a.c\", \"time\": 1760083200, \"language\": \"C\"},"
                        " {\"time\": 1760083260}, {\"entity\": \"a.c\", \"time\": 1760083260.5, \"language\": \"C\"}]";
    CHECK(tl_ingest_heartbeats(e, 1, 7, beats, "wakatime/1 (linux-6) go1 vim/9 vim-wakatime/10", "box", &out) == TL_OK, "ingest");
    CHECK(out && strstr(out, "201]") && strstr(out, "\"entity is required\"},400]"), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;
    CHECK(tl_ingest_heartbeats(e, 1, 7, "[{", NULL, NULL, &out) == TL_ERR_INVALID_INPUT, "bad JSON body");
    CHECK(tl_call(e, "statusbar_today", "{\"guild_id\": 1, \"user_id\": 7}", &out) == TL_OK && strstr(out, "\"total_seconds\":60.5"), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;

    CHECK(tl_set_master_key(e, "c-tests-master-key-000") == TL_OK, "master");
    CHECK(tl_generate_key(e, 1, 10, "wrong-master-key-00000", "PREMIUM", &out) == TL_ERR_INVALID_MASTER_KEY, "wrong master");
    CHECK(tl_generate_key(e, 1, 10, "c-tests-master-key-000", "PREMIUM", &out) == TL_OK, "generate");
    cJSON *k = cJSON_Parse(out);
    tl_string_free(out);
    out = NULL;
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(k, "api_key"));
    CHECK(key && strncmp(key, "tl_live_", 8) == 0 && strlen(key) == 57, "key %s", key ? key : "(null)");
    tl_grant g = {0, 0, 0};
    CHECK(tl_authorize(e, key, 1, "read_status", NULL, &g, &out) == TL_OK, "authorize");
    CHECK(g.limit == 60 && g.remaining == 59 && g.reset_in > 0, "grant %lld %lld %lld", (long long)g.limit, (long long)g.remaining, (long long)g.reset_in);
    CHECK(out && strstr(out, "\"X-API-Tier\":\"PREMIUM\""), "%s", out ? out : "(null)");
    tl_string_free(out);
    out = NULL;
    int64_t worker = 11;
    CHECK(tl_authorize(e, key, 1, "clock_in_out", &worker, NULL, NULL) == TL_ERR_FORBIDDEN, "premium, not an admin");
    CHECK(tl_authorize(e, key, 2, "read_status", NULL, NULL, NULL) == TL_ERR_WRONG_GUILD, "wrong guild");
    CHECK(tl_authorize(e, "tl_live_typo", 1, "read_status", NULL, NULL, NULL) == TL_ERR_INVALID_API_KEY, "malformed");
    CHECK(tl_authorize(e, "", 1, "read_status", NULL, NULL, NULL) == TL_ERR_MISSING_API_KEY, "missing");
    /* A tiny tier: the second request in a minute is refused with the numbers filled in. */
    CHECK(tl_call(e, "set_tiers",
                  "{\"tiers\": [{\"name\": \"PREMIUM\", \"rank\": 2, \"per_minute\": 1, \"permissions\": [\"read_status\"]}]}",
                  &out) == TL_OK, "set tiers");
    tl_string_free(out);
    out = NULL;
    tl_engine_set_now(e, 1760097780000LL); /* 12:03: the 12:00 request no longer weighs */
    CHECK(tl_authorize(e, key, 1, "read_status", NULL, &g, NULL) == TL_OK && g.remaining == 0, "last one");
    CHECK(tl_authorize(e, key, 1, "read_status", NULL, &g, NULL) == TL_ERR_RATE_LIMITED, "limited");
    CHECK(g.limit == 1 && g.remaining == 0 && g.reset_in == 120, "refusal %lld %lld", (long long)g.limit, (long long)g.reset_in);
    tl_error *err = tl_last_error();
    CHECK(strstr(tl_error_json(err), "\"code\":\"RATE_001\"") && tl_error_http_status(err) == 429, "%s", tl_error_json(err));
    tl_error_free(err);
    cJSON_Delete(k);
    tl_engine_close(e);
}

struct worker_arg {
    tl_engine *engine;
    int64_t user;
    int ok;
};

static int bytes_contain(const uint8_t *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        if (memcmp(hay + i, needle, m) == 0) return 1;
    }
    return 0;
}

static void test_http_handle(void) {
    tl_engine *e = NULL;
    tl_http_response *res = NULL;
    size_t len = 0;
    CHECK(tl_engine_open(":memory:", &e) == TL_OK, "open");
    CHECK(tl_handle(e, "GET", "/api/v1/openapi.json", NULL, NULL, 0, &res) == TL_OK, "openapi");
    CHECK(tl_http_response_status(res) == 200, "openapi status %u", tl_http_response_status(res));
    const uint8_t *body = tl_http_response_body(res, &len);
    CHECK(body != NULL && len > 100 && memcmp(body, "{", 1) == 0, "openapi body (%zu bytes)", len);
    CHECK(strstr(tl_http_response_headers_json(res), "application/json") != NULL, "content type");
    tl_http_response_free(res);
    res = NULL;
    const char *json = "{\"guild_id\": 1, \"admin_user_id\": 2, \"master_key\": \"nope\"}";
    CHECK(tl_handle(e, "POST", "/api/v1/auth/generate", "{\"Content-Type\": \"application/json\"}",
                    (const uint8_t *)json, strlen(json), &res) == TL_OK, "a refusal is still TL_OK");
    CHECK(tl_http_response_status(res) == 401, "status %u", tl_http_response_status(res));
    body = tl_http_response_body(res, &len);
    CHECK(len > 0 && bytes_contain(body, len, "INVALID_MASTER_KEY"), "error body");
    tl_http_response_free(res);
    res = NULL;
    CHECK(tl_handle(e, "GET", "/", "[1]", NULL, 0, &res) == TL_ERR_INVALID_ARGUMENT && res == NULL, "headers not an object");
    CHECK(tl_handle(e, "GET", "/", NULL, NULL, 5, &res) == TL_ERR_INVALID_ARGUMENT, "NULL body with a length");
    CHECK(tl_handle(e, NULL, "/", NULL, NULL, 0, &res) == TL_ERR_INVALID_ARGUMENT, "NULL method");
    CHECK(tl_handle(NULL, "GET", "/", NULL, NULL, 0, &res) == TL_ERR_INVALID_ARGUMENT, "NULL engine");
    CHECK(tl_http_response_status(NULL) == 0 && tl_http_response_body(NULL, &len) == NULL && len == 0, "NULL response");
    tl_http_response_free(NULL);
    tl_engine_close(e);
}

static void *worker(void *p) {
    struct worker_arg *a = p;
    for (int i = 0; i < 25; i++) {
        char *out = NULL;
        if (tl_clock_in(a->engine, 1, a->user, "Dev", NULL, &out) == TL_OK) a->ok++;
        tl_string_free(out);
        out = NULL;
        if (tl_clock_out(a->engine, 1, a->user, &out) == TL_OK) a->ok++;
        tl_string_free(out);
    }
    return NULL;
}

static void test_threads_share_an_engine(void) {
    tl_engine *e = NULL;
    char *out = NULL;
    CHECK(tl_engine_open(":memory:", &e) == TL_OK, "open");
    tl_call(e, "create_category", "{\"guild_id\": 1, \"name\": \"Dev\"}", &out);
    tl_string_free(out);
    out = NULL;
    pthread_t t[4];
    struct worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct worker_arg){e, i + 1, 0};
        pthread_create(&t[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(args[i].ok == 50, "thread %d: %d of 50 calls succeeded", i, args[i].ok);
    }
    CHECK(tl_call(e, "list_sessions", "{\"guild_id\": 1, \"per_page\": 1}", &out) == TL_OK && strstr(out, "\"total\":100"), "%s", out ? out : "(null)");
    tl_string_free(out);
    tl_engine_close(e);
}

/* ---- scenario runner ------------------------------------------------------------------- */

static cJSON *substitute(const cJSON *v, const cJSON *saved) {
    if (cJSON_IsString(v) && v->valuestring[0] == '$') {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(saved, v->valuestring + 1);
        return s ? cJSON_Duplicate(s, 1) : cJSON_Duplicate(v, 1);
    }
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        cJSON *out = cJSON_IsArray(v) ? cJSON_CreateArray() : cJSON_CreateObject();
        for (const cJSON *c = v->child; c; c = c->next) {
            cJSON *x = substitute(c, saved);
            if (cJSON_IsArray(v)) cJSON_AddItemToArray(out, x);
            else cJSON_AddItemToObject(out, c->string, x);
        }
        return out;
    }
    return cJSON_Duplicate(v, 1);
}

/* Subset match as the README describes; writes the first difference to why. */
static int matches(const cJSON *exp, const cJSON *act, char *why, size_t n) {
    if (cJSON_IsObject(exp)) {
        if (!cJSON_IsObject(act)) return snprintf(why, n, "expected an object"), 0;
        for (const cJSON *c = exp->child; c; c = c->next) {
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(act, c->string);
            if (!a) {
                if (cJSON_IsNull(c)) continue;
                return snprintf(why, n, "missing key %s", c->string), 0;
            }
            if (!matches(c, a, why, n)) return 0;
        }
        return 1;
    }
    if (cJSON_IsArray(exp)) {
        if (!cJSON_IsArray(act) || cJSON_GetArraySize(exp) != cJSON_GetArraySize(act))
            return snprintf(why, n, "array length differs"), 0;
        for (const cJSON *e = exp->child, *a = act->child; e; e = e->next, a = a->next)
            if (!matches(e, a, why, n)) return 0;
        return 1;
    }
    if (cJSON_IsNumber(exp)) {
        if (!cJSON_IsNumber(act) || fabs(exp->valuedouble - act->valuedouble) > 1e-9)
            return snprintf(why, n, "expected %.17g", exp->valuedouble), 0;
        return 1;
    }
    if (!cJSON_Compare(exp, act, 1)) {
        char *s = cJSON_PrintUnformatted(exp);
        snprintf(why, n, "expected %s", s);
        free(s);
        return 0;
    }
    return 1;
}

static const cJSON *lookup(const cJSON *v, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *part = strtok_r(buf, ".", &save); part && v; part = strtok_r(NULL, ".", &save))
        v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(part)) : cJSON_GetObjectItemCaseSensitive(v, part);
    return v;
}

static int64_t parse_instant(const char *s) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

/* Plays one file; returns 1 if every step passed. */
/* In memory, or with TIMELEDGER_TEST_POSTGRES set, on a new PostgreSQL database there (made with psql). */
static tl_engine *fresh_engine(const char *scenario_path) {
    tl_engine *e = NULL;
    const char *server = getenv("TIMELEDGER_TEST_POSTGRES");
    if (!server || !*server) {
        tl_engine_open(":memory:", &e);
        return e;
    }
    const char *base = strrchr(scenario_path, '/');
    base = base ? base + 1 : scenario_path;
    char db[128];
    int n = snprintf(db, sizeof db, "timeledger_c_%d_", (int)getpid());
    for (const char *c = base; *c && *c != '.' && n < (int)sizeof db - 1; c++, n++)
        db[n] = (char)((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ? *c : '_');
    db[n] = 0;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "psql -q -v ON_ERROR_STOP=1 '%s' -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)' -c 'CREATE DATABASE %s' >/dev/null",
             server, db, db);
    if (system(cmd) != 0) return NULL;
    char url[512];
    const char *slash = strrchr(server, '/');
    snprintf(url, sizeof url, "%.*s/%s", (int)(slash ? slash - server : (long)strlen(server)), server, db);
    tl_engine_open(url, &e);
    return e;
}

static int play(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return fprintf(stderr, "cannot open %s\n", path), 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    size_t got = fread(text, 1, (size_t)len, f);
    text[got] = 0;
    fclose(f);
    cJSON *steps = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(steps)) return fprintf(stderr, "%s: not a list of steps\n", path), cJSON_Delete(steps), 0;
    tl_engine *e = fresh_engine(path);
    if (!e) return fprintf(stderr, "%s: no engine to play it on\n", path), cJSON_Delete(steps), 0;
    cJSON *saved = cJSON_CreateObject();
    /* A file in a fresh temporary folder for import_file/export_file, removed afterwards. */
    char scratch[] = "/tmp/timeledger-scenario-XXXXXX", export_path[64] = "";
    if (mkdtemp(scratch)) snprintf(export_path, sizeof export_path, "%s/export.jsonl", scratch);
    cJSON_AddStringToObject(saved, "export_path", export_path);
    int ok = 1, i = -1, calls = 0;
    char why[512];
    for (const cJSON *step = steps->child; step && ok; step = step->next) {
        i++;
        const cJSON *now = cJSON_GetObjectItemCaseSensitive(step, "now");
        if (cJSON_IsString(now)) tl_engine_set_now(e, parse_instant(now->valuestring));
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(step, "op");
        if (!cJSON_IsString(op)) continue;
        calls++;
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(step, "args");
        cJSON *sub = args ? substitute(args, saved) : cJSON_CreateObject();
        char *args_json = cJSON_PrintUnformatted(sub);
        cJSON_Delete(sub);
        char *out = NULL;
        tl_status st = tl_call(e, op->valuestring, args_json, &out);
        free(args_json);
        const cJSON *want_err = cJSON_GetObjectItemCaseSensitive(step, "error");
        const cJSON *expect = cJSON_GetObjectItemCaseSensitive(step, "expect");
        cJSON *exp = expect ? substitute(expect, saved) : NULL;
        if (st != TL_OK) {
            tl_error *err = tl_last_error();
            if (!want_err) {
                fprintf(stderr, "%s step %d (%s): unexpected error %s\n", path, i, op->valuestring, tl_error_json(err));
                ok = 0;
            } else if (strcmp(tl_error_code(err), want_err->valuestring) != 0) {
                fprintf(stderr, "%s step %d (%s): expected %s, got %s\n", path, i, op->valuestring, want_err->valuestring, tl_error_code(err));
                ok = 0;
            } else {
                const cJSON *status = cJSON_GetObjectItemCaseSensitive(step, "status");
                if (status && (int)status->valuedouble != tl_error_http_status(err)) {
                    fprintf(stderr, "%s step %d: HTTP status %d\n", path, i, tl_error_http_status(err));
                    ok = 0;
                }
                if (ok && exp) {
                    cJSON *body = cJSON_Parse(tl_error_json(err));
                    if (!matches(exp, body, why, sizeof why)) {
                        fprintf(stderr, "%s step %d (%s): error body: %s\n", path, i, op->valuestring, why);
                        ok = 0;
                    }
                    cJSON_Delete(body);
                }
            }
            tl_error_free(err);
        } else {
            cJSON *result = cJSON_Parse(out);
            if (want_err) {
                fprintf(stderr, "%s step %d (%s): expected %s, got %s\n", path, i, op->valuestring, want_err->valuestring, out);
                ok = 0;
            } else if (exp && !matches(exp, result, why, sizeof why)) {
                fprintf(stderr, "%s step %d (%s): %s in %s\n", path, i, op->valuestring, why, out);
                ok = 0;
            }
            const cJSON *save = cJSON_GetObjectItemCaseSensitive(step, "save");
            for (const cJSON *s = save ? save->child : NULL; ok && s; s = s->next) {
                const cJSON *v = lookup(result, s->valuestring);
                if (!v) {
                    fprintf(stderr, "%s step %d: nothing at %s\n", path, i, s->valuestring);
                    ok = 0;
                } else {
                    cJSON_DeleteItemFromObjectCaseSensitive(saved, s->string);
                    cJSON_AddItemToObject(saved, s->string, cJSON_Duplicate(v, 1));
                }
            }
            cJSON_Delete(result);
        }
        cJSON_Delete(exp);
        tl_string_free(out);
    }
    cJSON_Delete(saved);
    cJSON_Delete(steps);
    tl_engine_close(e);
    if (export_path[0]) remove(export_path);
    rmdir(scratch);
    return ok && calls > 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_scenarios(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL, "scenario dir %s", dir);
    if (!d) return;
    char *names[256];
    int n = 0;
    for (struct dirent *ent; (ent = readdir(d)) && n < 256;) {
        size_t l = strlen(ent->d_name);
        if (l > 5 && strcmp(ent->d_name + l - 5, ".json") == 0) names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    CHECK(n > 0, "no scenarios in %s", dir);
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int ok = play(path);
        CHECK(ok, "scenario %s", names[i]);
        if (ok) printf("scenario %s ok\n", names[i]);
        free(names[i]);
    }
}

int main(int argc, char **argv) {
    test_open_close_and_null_arguments();
    test_sessions_and_errors();
    test_heartbeats_and_keys();
    test_threads_share_an_engine();
    test_http_handle();
    test_scenarios(argc > 1 ? argv[1] : "tests/scenarios");
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
