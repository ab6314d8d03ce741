/* Response encoding, byte for byte against PISTON-API.md 2.2, 2.3 and 3.4 (measured numbers
 * chosen to match the spec's examples). */
#include "api-fixtures.h"
#include "macro.h"
#include "strbuf.h"
#include "utf8.h"

#define GCC_ERR                                                                                    \
    "file0.code.c: In function 'main':\nfile0.code.c:1:23: error: 'x' undeclared (first use in "   \
    "this function)\n"
#define GCC_ERR_JSON                                                                               \
    "file0.code.c: In function 'main':\\nfile0.code.c:1:23: error: 'x' undeclared (first use "     \
    "in this function)\\n"

static struct rt_runtime runtime_c = {.language = "c", .version = "12.2.0"};
static struct rt_runtime runtime_python = {.language = "python", .version = "3.11.2"};

static void set_text(char **data, size_t *len, const char *s, size_t n)
{
    *data = malloc(n + 1);
    ASSERT_NOT_NULL(*data);
    memcpy(*data, s, n);
    (*data)[n] = '\0';
    *len = n;
}

/* A stage with the three streams; stdout and stderr are also the interleaved output. */
static void stage(struct eng_stage_result *st, const char *out, const char *err)
{
    _cleanup_free_ char *both = NULL;

    ASSERT_TRUE(asprintf(&both, "%s%s", out, err) >= 0);
    set_text(&st->stdout_data, &st->stdout_len, out, strlen(out));
    set_text(&st->stderr_data, &st->stderr_len, err, strlen(err));
    set_text(&st->output_data, &st->output_len, both, strlen(both));
    st->memory_known = true;
}

static void expect_result(const struct eng_result *res, const char *want)
{
    size_t len = 0;
    _cleanup_free_ char *json = api_encode_result(res, &len);

    ASSERT_STREQ(json, want);
    ASSERT_EQ(len, strlen(want));
}

static void result_done(struct eng_result *res)
{
    struct eng_stage_result *stages[] = {&res->compile, &res->run};

    for (size_t i = 0; i < ARRAY_SIZE(stages); i++) {
        free(stages[i]->stdout_data);
        free(stages[i]->stderr_data);
        free(stages[i]->output_data);
        free(stages[i]->message);
    }
}

TEST(example_1_interpreted)
{
    struct eng_result res = {.runtime = &runtime_python};

    stage(&res.run, "['a', 'b'] hello\n", "");
    res.run.has_code = true;
    res.run.memory = 8790016;
    res.run.cpu_time_ms = 18;
    res.run.wall_time_ms = 24;
    expect_result(&res, "{\"run\":{\"signal\":null,\"stdout\":\"['a', 'b'] hello\\n\",\"stderr\":"
                        "\"\",\"code\":0,\"output\":\"['a', 'b'] hello\\n\",\"memory\":8790016,"
                        "\"message\":null,\"status\":null,\"cpu_time\":18,\"wall_time\":24},"
                        "\"language\":\"python\",\"version\":\"3.11.2\"}");
    result_done(&res);
}

TEST(example_2_compile_failure)
{
    struct eng_result res = {.runtime = &runtime_c, .has_compile = true};

    stage(&res.compile, "", GCC_ERR);
    res.compile.has_code = true;
    res.compile.code = 1;
    res.compile.status = ENG_STATUS_RE;
    res.compile.message = strdup("Exited with error status 1");
    res.compile.memory = 24117248;
    res.compile.cpu_time_ms = 41;
    res.compile.wall_time_ms = 47;
    stage(&res.run, "", GCC_ERR);
    res.run.has_code = true;
    res.run.code = 1;
    res.run.status = ENG_STATUS_RE;
    res.run.message = strdup("Exited with error status 1");
    res.run.memory = 24117248;
    res.run.cpu_time_ms = 41;
    res.run.wall_time_ms = 47;
#define STAGE2                                                                                     \
    "{\"signal\":null,\"stdout\":\"\",\"stderr\":\"" GCC_ERR_JSON                                  \
    "\",\"code\":1,\"output\":\"" GCC_ERR_JSON                                                     \
    "\",\"memory\":24117248,\"message\":\"Exited with error status 1\",\"status\":"                \
    "\"RE\",\"cpu_time\":41,\"wall_time\":47}"
    expect_result(&res, "{\"compile\":" STAGE2 ",\"run\":" STAGE2
                        ",\"language\":\"c\",\"version\":\"12.2.0\"}");
    result_done(&res);
}

TEST(example_3_signal)
{
    struct eng_result res = {.runtime = &runtime_c, .has_compile = true};

    stage(&res.compile, "", "");
    res.compile.has_code = true;
    res.compile.memory = 23068672;
    res.compile.cpu_time_ms = 38;
    res.compile.wall_time_ms = 44;
    stage(&res.run, "", "");
    res.run.signal_name = "SIGSEGV";
    res.run.status = ENG_STATUS_SG;
    res.run.message = strdup("Caught fatal signal 11");
    res.run.memory = 1048576;
    res.run.cpu_time_ms = 1;
    res.run.wall_time_ms = 2;
    expect_result(&res,
                  "{\"compile\":{\"signal\":null,\"stdout\":\"\",\"stderr\":\"\",\"code\":0,"
                  "\"output\":\"\",\"memory\":23068672,\"message\":null,\"status\":null,"
                  "\"cpu_time\":38,\"wall_time\":44},\"run\":{\"signal\":\"SIGSEGV\",\"stdout\":"
                  "\"\",\"stderr\":\"\",\"code\":null,\"output\":\"\",\"memory\":1048576,"
                  "\"message\":\"Caught fatal signal 11\",\"status\":\"SG\",\"cpu_time\":1,"
                  "\"wall_time\":2},\"language\":\"c\",\"version\":\"12.2.0\"}");
    result_done(&res);
}

TEST(example_4_timeout_and_unknown_memory)
{
    struct eng_result res = {.runtime = &runtime_python};

    stage(&res.run, "", "");
    res.run.signal_name = "SIGKILL";
    res.run.status = ENG_STATUS_TO;
    res.run.message = strdup("Time limit exceeded");
    res.run.memory_known = false;
    res.run.memory = 7340032;
    res.run.cpu_time_ms = 2002;
    res.run.wall_time_ms = 2011;
    expect_result(&res, "{\"run\":{\"signal\":\"SIGKILL\",\"stdout\":\"\",\"stderr\":\"\","
                        "\"code\":null,\"output\":\"\",\"memory\":null,\"message\":\"Time limit "
                        "exceeded\",\"status\":\"TO\",\"cpu_time\":2002,\"wall_time\":2011},"
                        "\"language\":\"python\",\"version\":\"3.11.2\"}");
    result_done(&res);
}

TEST(statuses)
{
    static const struct {
        enum eng_status status;
        const char *json;
    } cases[] = {{ENG_STATUS_OL, "\"OL\""}, {ENG_STATUS_EL, "\"EL\""}, {ENG_STATUS_XX, "\"XX\""}};

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct eng_result res = {.runtime = &runtime_python};
        _cleanup_free_ char *json = NULL;

        stage(&res.run, "", "");
        res.run.status = cases[i].status;
        json = api_encode_result(&res, NULL);
        ASSERT_NOT_NULL(json);
        ASSERT_NOT_NULL(strstr(json, cases[i].json));
        result_done(&res);
    }
}

TEST(output_is_sanitised_and_escaped)
{
    /* NUL, invalid UTF-8, control characters, quotes, backslashes and U+2028: the output
     * stays one JSON string of valid UTF-8. */
    static const char out[] = "a\0b\xFF\xC3\x28\"\\\x1b\t/\xE2\x80\xA8\xF0\x9F\x98\x80\xF0\x9F";
    struct eng_result res = {.runtime = &runtime_python};
    _cleanup_free_ char *json = NULL;
    size_t len;

    set_text(&res.run.stdout_data, &res.run.stdout_len, out, sizeof(out) - 1);
    set_text(&res.run.stderr_data, &res.run.stderr_len, "", 0);
    set_text(&res.run.output_data, &res.run.output_len, out, sizeof(out) - 1);
    res.run.has_code = true;
    json = api_encode_result(&res, &len);
    ASSERT_NOT_NULL(json);
    ASSERT_EQ(strlen(json), len);
#define OUT_JSON                                                                                   \
    "a\\u0000b\xEF\xBF\xBD\xEF\xBF\xBD(\\\"\\\\\\u001B\\t/"                                        \
    "\xE2\x80\xA8\xF0\x9F\x98\x80\xEF\xBF\xBD"
    ASSERT_STREQ(json, "{\"run\":{\"signal\":null,\"stdout\":\"" OUT_JSON "\",\"stderr\":\"\","
                       "\"code\":0,\"output\":\"" OUT_JSON "\",\"memory\":null,\"message\":null,"
                       "\"status\":null,\"cpu_time\":0,\"wall_time\":0},\"language\":\"python\","
                       "\"version\":\"3.11.2\"}");
    result_done(&res);
}

TEST(child_oom_message_with_null_status)
{
    struct eng_result res = {.runtime = &runtime_python};
    _cleanup_free_ char *json = NULL;

    stage(&res.run, "", "");
    res.run.has_code = true;
    res.run.message = strdup("Memory limit exceeded (child process)");
    json = api_encode_result(&res, NULL);
    ASSERT_NOT_NULL(
        strstr(json, "\"message\":\"Memory limit exceeded (child process)\",\"status\":null,"));
    result_done(&res);
}

TEST(runtimes)
{
    struct rt_registry *reg = fixture_registry();
    size_t len = 0;
    _cleanup_free_ char *json = api_encode_runtimes(reg, &len);
    static const char want[] =
        "[{\"language\":\"file\",\"version\":\"0.0.1\",\"aliases\":[]},"
        "{\"language\":\"c\",\"version\":\"12.2.0\",\"aliases\":[\"gcc\"],\"runtime\":\"gcc\"},"
        "{\"language\":\"c++\",\"version\":\"12.2.0\",\"aliases\":[\"cpp\",\"g++\"],\"runtime\":"
        "\"gcc\"},{\"language\":\"limited\",\"version\":\"1.0.0\",\"aliases\":[]},"
        "{\"language\":\"python\",\"version\":\"3.11.2\",\"aliases\":[\"py\",\"py3\",\"python3\","
        "\"python3.11\"]}]";

    ASSERT_STREQ(json, want);
    ASSERT_EQ(len, sizeof(want) - 1);
    rt_registry_unref(reg);
}

TEST(messages)
{
    size_t len = 0;
    _cleanup_free_ char *a = api_encode_message("Not Found", &len);
    _cleanup_free_ char *b = api_encode_message("Piston v3.1.1", NULL);
    _cleanup_free_ char *c = api_encode_message("say \"hi\"\n\xFF", NULL);
    _cleanup_free_ char *d = api_encode_message_stack(
        "request entity too large", "PayloadTooLargeError: request entity too large", NULL);

    ASSERT_STREQ(a, "{\"message\":\"Not Found\"}");
    ASSERT_EQ(len, strlen(a));
    ASSERT_STREQ(b, "{\"message\":\"Piston v3.1.1\"}");
    ASSERT_STREQ(c, "{\"message\":\"say \\\"hi\\\"\\n\xEF\xBF\xBD\"}");
    ASSERT_STREQ(d, "{\"message\":\"request entity too large\",\"stack\":\"PayloadTooLargeError: "
                    "request entity too large\"}");
}

/* The execute response no longer goes through jansson's encoder: every string must still come
 * out byte for byte as jansson wrote it (after the same repair). Random bytes biased towards
 * what matters: controls, quotes, backslashes, DEL, lead and continuation bytes, and runs of
 * plain ASCII long enough for the word-at-a-time scan. */
TEST(strings_match_jansson)
{
    static const unsigned char pick[] = {0,    '\n', '\t', '\b', '\f', '\r', 0x1b, 0x1f, '"',
                                         '\\', '/',  0x7f, 0x80, 0xbf, 0xc2, 0xc3, 0xe0, 0xe2,
                                         0xed, 0xf0, 0xf4, 0xf5, 0xff, 'a',  '~',  ' '};
    unsigned seed = 12345;
    char in[300];

    for (int round = 0; round < 3000; round++) {
        _cleanup_(strbuf_done) struct strbuf mine = {};
        _cleanup_free_ char *clean = NULL, *theirs = NULL;
        json_t *s;
        size_t len = (size_t)(rand_r(&seed) % (int)sizeof(in)), clean_len;

        for (size_t i = 0; i < len; i++) {
            int k = rand_r(&seed) % 4;

            in[i] = (char)(k == 0   ? pick[rand_r(&seed) % (int)sizeof(pick)]
                           : k == 1 ? rand_r(&seed) % 256
                                    : 'A' + rand_r(&seed) % 26);
        }
        ASSERT_OK(utf8_append_json_string(&mine, in, len));
        ASSERT_OK(utf8_sanitize(in, len, &clean, &clean_len));
        s = json_stringn(clean, clean_len);
        ASSERT_NOT_NULL(s);
        theirs = json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(s);
        ASSERT_NOT_NULL(theirs);
        ASSERT_EQ(mine.len, strlen(theirs));
        ASSERT_TRUE(memcmp(mine.data, theirs, mine.len) == 0);
    }
}
