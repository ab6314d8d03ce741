/* Execute request validation (PISTON-API.md 2.3): every row, its exact message and the order
 * in which rows are checked, plus the decoded request the engine receives. */
#include "api-fixtures.h"
#include "macro.h"

static struct rt_registry *reg;
static struct eng_config cfg;

static void setup(void)
{
    if (!reg)
        reg = fixture_registry();
    cfg = fixture_config();
}

static int decode(const char *json, struct eng_request **req, char **msg)
{
    json_auto_t *root = NULL;
    char *detail = NULL;

    setup();
    if (api_body_parse_json(json, strlen(json), &root, &detail) < 0)
        TEST_FAIL("body does not parse: %s: %s", json, detail);
    *req = NULL;
    *msg = NULL;
    return api_execute_decode(root, reg, &cfg, req, msg);
}

static void expect_error(const char *json, const char *message)
{
    struct eng_request *req;
    _cleanup_free_ char *msg = NULL;
    int r = decode(json, &req, &msg);

    if (r != -EINVAL)
        TEST_FAIL("%s: expected -EINVAL \"%s\", got %d (%s)", json, message, r,
                  msg ? msg : "no message");
    ASSERT_NULL(req);
    ASSERT_STREQ(msg, message);
}

static struct eng_request *expect_ok(const char *json)
{
    struct eng_request *req;
    _cleanup_free_ char *msg = NULL;
    int r = decode(json, &req, &msg);

    if (r < 0)
        TEST_FAIL("%s: expected success, got %d (%s)", json, r, msg ? msg : "no message");
    ASSERT_NOT_NULL(req);
    ASSERT_NULL(msg);
    return req;
}

#define PY "\"language\":\"py\",\"version\":\"*\""
#define ONE_FILE "\"files\":[{\"content\":\"x\"}]"

TEST(row1_language)
{
    expect_error("{}", "language is required as a string");
    expect_error("[]", "language is required as a string");
    expect_error("[{\"language\":\"py\"}]", "language is required as a string");
    expect_error("{\"language\":\"\"}", "language is required as a string");
    expect_error("{\"language\":null,\"version\":\"*\"}", "language is required as a string");
    expect_error("{\"language\":5}", "language is required as a string");
    expect_error("{\"language\":[\"py\"]}", "language is required as a string");
}

TEST(row2_version)
{
    expect_error("{\"language\":\"py\"}", "version is required as a string");
    expect_error("{\"language\":\"py\",\"version\":\"\"}", "version is required as a string");
    expect_error("{\"language\":\"py\",\"version\":3}", "version is required as a string");
}

TEST(row3_files)
{
    expect_error("{" PY "}", "files is required as an array");
    expect_error("{" PY ",\"files\":{}}", "files is required as an array");
    expect_error("{" PY ",\"files\":\"x\"}", "files is required as an array");
}

TEST(row4_content)
{
    expect_error("{" PY ",\"files\":[{\"content\":\"x\"},{\"name\":\"a\"}]}",
                 "files[1].content is required as a string");
    expect_error("{" PY ",\"files\":[null]}", "files[0].content is required as a string");
    expect_error("{" PY ",\"files\":[[]]}", "files[0].content is required as a string");
    expect_error("{" PY ",\"files\":[\"x\"]}", "files[0].content is required as a string");
    expect_error("{" PY ",\"files\":[{\"content\":5}]}",
                 "files[0].content is required as a string");
    /* Row 4 comes before the runtime lookup. */
    expect_error("{\"language\":\"cobol\",\"version\":\"*\",\"files\":[{}]}",
                 "files[0].content is required as a string");
}

TEST(row5_runtime)
{
    expect_error("{\"language\":\"cobol\",\"version\":\"*\"," ONE_FILE "}",
                 "cobol-* runtime is unknown");
    expect_error("{\"language\":\"html\",\"version\":\"5.0.0\"," ONE_FILE "}",
                 "html-5.0.0 runtime is unknown");
    expect_error("{\"language\":\"py\",\"version\":\"4\"," ONE_FILE "}", "py-4 runtime is unknown");
    expect_error("{\"language\":\"Python\",\"version\":\"*\"," ONE_FILE "}",
                 "Python-* runtime is unknown");
    expect_error("{\"language\":\"gcc\",\"version\":\"not a range\"," ONE_FILE "}",
                 "gcc-not a range runtime is unknown");
    /* Names hold no NUL: a language smuggling one matches nothing. */
    expect_error("{\"language\":\"py\\u0000x\",\"version\":\"*\"," ONE_FILE "}",
                 "py-* runtime is unknown");
}

TEST(row5_resolves_alias_and_provides)
{
    struct eng_request *req;

    req = expect_ok("{\"language\":\"gcc\",\"version\":\"12\"," ONE_FILE "}");
    ASSERT_STREQ(req->runtime->language, "c");
    ASSERT_STREQ(req->runtime->package_name, "gcc");
    ASSERT_TRUE(req->registry == reg);
    eng_request_free(req);
    req = expect_ok("{\"language\":\"python3\",\"version\":\"3.x\"," ONE_FILE "}");
    ASSERT_STREQ(req->runtime->language, "python");
    eng_request_free(req);
}

TEST(row6_utf8_file)
{
    struct eng_request *req;

    expect_error("{" PY ",\"files\":[]}", "files must include at least one utf8 encoded file");
    expect_error("{" PY ",\"files\":[{\"content\":\"eA==\",\"encoding\":\"base64\"}]}",
                 "files must include at least one utf8 encoded file");
    /* Row 6 looks at the raw value: "utf-8" does not count... */
    expect_error("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":\"utf-8\"}]}",
                 "files must include at least one utf8 encoded file");
    expect_error("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":true}]}",
                 "files must include at least one utf8 encoded file");
    /* ...but once another file passes it, such a file is treated exactly as utf8. */
    req = expect_ok("{" PY ",\"files\":[{\"content\":\"aé\",\"encoding\":\"utf-8\"},"
                    "{\"content\":\"y\"}]}");
    ASSERT_EQ(req->n_files, 2);
    ASSERT_TRUE(req->files[0].utf8);
    ASSERT_EQ(req->files[0].len, 3);
    ASSERT_TRUE(memcmp(req->files[0].content, "a\xC3\xA9", 3) == 0);
    eng_request_free(req);
    /* Falsy encodings are utf8 (`!file.encoding`). */
    eng_request_free(expect_ok("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":null}]}"));
    eng_request_free(expect_ok("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":\"\"}]}"));
    eng_request_free(expect_ok("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":false}]}"));
    eng_request_free(expect_ok("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":0}]}"));
    eng_request_free(expect_ok("{" PY ",\"files\":[{\"content\":\"x\",\"encoding\":\"utf8\"}]}"));
    /* The `file` runtime skips row 6 entirely. */
    req = expect_ok("{\"language\":\"file\",\"version\":\"*\",\"files\":[]}");
    ASSERT_EQ(req->n_files, 0);
    eng_request_free(req);
    req = expect_ok("{\"language\":\"file\",\"version\":\"*\",\"files\":[{\"content\":\"eA==\","
                    "\"encoding\":\"base64\"}]}");
    ASSERT_FALSE(req->files[0].utf8);
    eng_request_free(req);
}

TEST(row7_messages)
{
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":99999}",
                 "run_timeout cannot exceed the configured limit of 3000");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":\"3000\"}",
                 "If specified, run_timeout must be a number");
    expect_error("{" PY "," ONE_FILE ",\"compile_cpu_time\":true}",
                 "If specified, compile_cpu_time must be a number");
    expect_error("{" PY "," ONE_FILE ",\"run_memory_limit\":[1]}",
                 "If specified, run_memory_limit must be a number");
    expect_error("{" PY "," ONE_FILE ",\"run_memory_limit\":536870913}",
                 "run_memory_limit cannot exceed the configured limit of 536870912");
    expect_error("{" PY "," ONE_FILE ",\"compile_memory_limit\":1e10}",
                 "compile_memory_limit cannot exceed the configured limit of 1073741824");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":-1}", "run_timeout must be non-negative");
    expect_error("{" PY "," ONE_FILE ",\"run_cpu_time\":-0.5}",
                 "run_cpu_time must be non-negative");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":3000.5}",
                 "run_timeout cannot exceed the configured limit of 3000");
}

TEST(row7_huge_numbers)
{
    /* jansson alone fails these documents; JavaScript reads them as (huge) numbers. */
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":99999999999999999999}",
                 "run_timeout cannot exceed the configured limit of 3000");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":1e30}",
                 "run_timeout cannot exceed the configured limit of 3000");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":1e400}",
                 "run_timeout cannot exceed the configured limit of 3000");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":-1e400}",
                 "run_timeout must be non-negative");
    eng_request_free(expect_ok("{" PY "," ONE_FILE ",\"run_memory_limit\":-1e400}"));
}

TEST(row7_order)
{
    /* Constraint outer (memory, timeout, cpu), stage inner (compile, run). */
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":-1,\"compile_memory_limit\":\"x\"}",
                 "If specified, compile_memory_limit must be a number");
    expect_error("{" PY "," ONE_FILE ",\"compile_timeout\":\"x\",\"run_memory_limit\":\"x\"}",
                 "If specified, run_memory_limit must be a number");
    expect_error("{" PY "," ONE_FILE ",\"compile_cpu_time\":\"x\",\"run_timeout\":\"x\"}",
                 "If specified, run_timeout must be a number");
    expect_error("{" PY "," ONE_FILE ",\"run_cpu_time\":\"x\",\"compile_cpu_time\":\"x\"}",
                 "If specified, compile_cpu_time must be a number");
    /* Piston's rows come first: an unknown runtime hides bad limits, bad limits hide stdin. */
    expect_error("{\"language\":\"x\",\"version\":\"*\"," ONE_FILE ",\"run_timeout\":\"x\"}",
                 "x-* runtime is unknown");
    expect_error("{" PY "," ONE_FILE ",\"run_timeout\":\"x\",\"stdin\":5}",
                 "If specified, run_timeout must be a number");
}

TEST(row7_final_limits)
{
    struct eng_request *req;

    /* Falsy and negative memory mean "configured value"; fractions round up. */
    req = expect_ok("{" PY "," ONE_FILE ",\"compile_timeout\":null,\"run_timeout\":2999.2,"
                    "\"compile_cpu_time\":\"\",\"run_cpu_time\":false,"
                    "\"compile_memory_limit\":-1,\"run_memory_limit\":1000.5}");
    ASSERT_EQ(req->compile.timeout_ms, 10000);
    ASSERT_EQ(req->run.timeout_ms, 3000);
    ASSERT_EQ(req->compile.cpu_time_ms, 10000);
    ASSERT_EQ(req->run.cpu_time_ms, 3000);
    ASSERT_EQ(req->compile.memory_bytes, 1073741824);
    ASSERT_EQ(req->run.memory_bytes, 1001);
    ASSERT_EQ(req->max_process_count, 64);
    ASSERT_EQ(req->max_open_files, 2048);
    ASSERT_EQ(req->max_file_size, 10000000);
    ASSERT_EQ(req->output_max_size, 1024);
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"run_timeout\":0,\"run_cpu_time\":0.001,"
                    "\"run_memory_limit\":536870912}");
    ASSERT_EQ(req->run.timeout_ms, 3000);
    ASSERT_EQ(req->run.cpu_time_ms, 1);
    ASSERT_EQ(req->run.memory_bytes, 536870912);
    eng_request_free(req);
}

TEST(row7_effective_limits)
{
    struct eng_language_overrides ov = {.language = "python",
                                        .limits = {[RT_LIMIT_RUN_TIMEOUT] = 5000}};
    struct eng_request *req;

    /* Package metadata overrides (limited: run_timeout 500, max_process_count 16). */
    expect_error("{\"language\":\"limited\",\"version\":\"*\"," ONE_FILE ",\"run_timeout\":600}",
                 "run_timeout cannot exceed the configured limit of 500");
    req = expect_ok("{\"language\":\"limited\",\"version\":\"*\"," ONE_FILE "}");
    ASSERT_EQ(req->run.timeout_ms, 500);
    ASSERT_EQ(req->max_process_count, 16);
    ASSERT_EQ(req->run.memory_bytes, 536870912); /* 0 in metadata falls through */
    eng_request_free(req);

    /* PISTON_LIMIT_OVERRIDES, keyed by runtime language, reached through an alias. */
    setup();
    cfg.overrides = &ov;
    cfg.n_overrides = 1;
    {
        _cleanup_free_ char *msg = NULL;
        json_auto_t *root = json_pack("{s:s,s:s,s:[{s:s}],s:i}", "language", "py", "version", "*",
                                      "files", "content", "x", "run_timeout", 4000);

        ASSERT_OK(api_execute_decode(root, reg, &cfg, &req, &msg));
        ASSERT_EQ(req->run.timeout_ms, 4000);
        eng_request_free(req);
        json_object_set_new(root, "run_timeout", json_integer(5001));
        ASSERT_EQ(api_execute_decode(root, reg, &cfg, &req, &msg), -EINVAL);
        ASSERT_STREQ(msg, "run_timeout cannot exceed the configured limit of 5000");
    }
}

TEST(row7_unlimited)
{
    _cleanup_free_ char *msg = NULL;
    struct eng_request *req;
    json_auto_t *root = json_pack("{s:s,s:s,s:[{s:s}],s:f,s:i,s:i}", "language", "py", "version",
                                  "*", "files", "content", "x", "run_memory_limit", 1e12,
                                  "run_timeout", -5, "compile_memory_limit", -1);

    /* A configured limit <= 0 is unlimited: any number passes, a negative memory limit
     * still means "configured" (so unlimited). Integers from other callers work too. */
    setup();
    cfg.limits[RT_LIMIT_RUN_MEMORY_LIMIT] = -1;
    cfg.limits[RT_LIMIT_COMPILE_MEMORY_LIMIT] = -1;
    cfg.limits[RT_LIMIT_RUN_TIMEOUT] = 0;
    ASSERT_OK(api_execute_decode(root, reg, &cfg, &req, &msg));
    ASSERT_EQ(req->run.memory_bytes, 1000000000000);
    ASSERT_EQ(req->run.timeout_ms, -5);
    ASSERT_EQ(req->compile.memory_bytes, -1);
    eng_request_free(req);
}

TEST(row8_stdin)
{
    struct eng_request *req;

    expect_error("{" PY "," ONE_FILE ",\"stdin\":5}", "stdin must be a string");
    expect_error("{" PY "," ONE_FILE ",\"stdin\":false}", "stdin must be a string");
    expect_error("{" PY "," ONE_FILE ",\"stdin\":[\"a\"]}", "stdin must be a string");
    req = expect_ok("{" PY "," ONE_FILE "}");
    ASSERT_EQ(req->stdin_len, 1);
    ASSERT_STREQ(req->stdin_data, "\n");
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"stdin\":null}");
    ASSERT_STREQ(req->stdin_data, "\n");
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"stdin\":\"\"}");
    ASSERT_STREQ(req->stdin_data, "\n");
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"stdin\":\"hello\"}");
    ASSERT_STREQ(req->stdin_data, "hello\n");
    ASSERT_EQ(req->stdin_len, 6);
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"stdin\":\"a\\nb\\n\"}");
    ASSERT_STREQ(req->stdin_data, "a\nb\n");
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"stdin\":\"a\\u0000b\"}");
    ASSERT_EQ(req->stdin_len, 4);
    ASSERT_TRUE(memcmp(req->stdin_data, "a\0b\n", 4) == 0);
    eng_request_free(req);
}

TEST(row9_args)
{
    struct eng_request *req;

    expect_error("{" PY "," ONE_FILE ",\"args\":\"a b\"}", "args must be an array of strings");
    expect_error("{" PY "," ONE_FILE ",\"args\":[\"1\",2]}", "args must be an array of strings");
    expect_error("{" PY "," ONE_FILE ",\"args\":[null]}", "args must be an array of strings");
    expect_error("{" PY "," ONE_FILE ",\"args\":{}}", "args must be an array of strings");
    expect_error("{" PY "," ONE_FILE ",\"args\":[\"a\\u0000b\"]}",
                 "args must be an array of strings");
    expect_error("{" PY "," ONE_FILE ",\"stdin\":5,\"args\":5}", "stdin must be a string");
    req = expect_ok("{" PY "," ONE_FILE ",\"args\":null}");
    ASSERT_NULL(req->args[0]);
    eng_request_free(req);
    req = expect_ok("{" PY "," ONE_FILE ",\"args\":[\"1\",\"\",\"three\"]}");
    ASSERT_STREQ(req->args[0], "1");
    ASSERT_STREQ(req->args[1], "");
    ASSERT_STREQ(req->args[2], "three");
    ASSERT_NULL(req->args[3]);
    eng_request_free(req);
}

static void expect_names(const char *files_json, const char *const *names, size_t n)
{
    _cleanup_free_ char *json = NULL;
    struct eng_request *req;

    ASSERT_TRUE(asprintf(&json, "{" PY ",\"files\":%s}", files_json) > 0);
    req = expect_ok(json);
    if (req->n_files != n)
        TEST_FAIL("%s: %zu files, want %zu", files_json, req->n_files, n);
    for (size_t i = 0; i < n; i++)
        ASSERT_STREQ(req->files[i].name, names[i]);
    eng_request_free(req);
}

static void expect_files_error(const char *files_json, const char *message)
{
    _cleanup_free_ char *json = NULL;

    ASSERT_TRUE(asprintf(&json, "{" PY ",\"files\":%s}", files_json) > 0);
    expect_error(json, message);
}

TEST(row10_default_and_normalised_names)
{
    expect_names("[{\"content\":\"a\"},{\"name\":null,\"content\":\"b\"},"
                 "{\"name\":\"\",\"content\":\"c\"},{\"name\":\"./src//m.py\",\"content\":\"d\"}]",
                 (const char *const[]){"file0.code", "file1.code", "file2.code", "src/m.py"}, 4);
}

TEST(row10_bad_names)
{
    expect_files_error("[{\"name\":5,\"content\":\"\"}]", "files[0].name is not a valid file name");
    expect_files_error("[{\"content\":\"\"},{\"name\":\"/etc/passwd\",\"content\":\"\"}]",
                       "files[1].name is not a valid file name");
    expect_files_error("[{\"name\":\"../x\",\"content\":\"\"}]",
                       "files[0].name is not a valid file name");
    expect_files_error("[{\"name\":\"a/../../b\",\"content\":\"\"}]",
                       "files[0].name is not a valid file name");
    expect_files_error("[{\"name\":\".\",\"content\":\"\"}]",
                       "files[0].name is not a valid file name");
    expect_files_error("[{\"name\":\"a\\u0000b\",\"content\":\"\"}]",
                       "files[0].name is not a valid file name");
    expect_files_error("[{\"name\":false,\"content\":\"\"}]",
                       "files[0].name is not a valid file name");
    /* Row 9 before row 10. */
    expect_error("{" PY ",\"files\":[{\"name\":5,\"content\":\"\"}],\"args\":5}",
                 "args must be an array of strings");
}

TEST(row10_duplicates_later_wins)
{
    struct eng_request *req;

    req = expect_ok("{" PY ",\"files\":[{\"name\":\"x\",\"content\":\"1\"},"
                    "{\"name\":\"y\",\"content\":\"2\"},{\"name\":\"./x\",\"content\":\"3\"},"
                    "{\"content\":\"4\"},{\"name\":\"file3.code\",\"content\":\"5\"}]}");
    ASSERT_EQ(req->n_files, 3);
    ASSERT_STREQ(req->files[0].name, "y");
    ASSERT_STREQ((char *)req->files[0].content, "2");
    ASSERT_STREQ(req->files[1].name, "x");
    ASSERT_STREQ((char *)req->files[1].content, "3");
    ASSERT_STREQ(req->files[2].name, "file3.code");
    ASSERT_STREQ((char *)req->files[2].content, "5");
    eng_request_free(req);
}

TEST(row10_file_and_directory)
{
    expect_files_error("[{\"name\":\"a\",\"content\":\"\"},{\"name\":\"a/b\",\"content\":\"\"}]",
                       "files[1].name is not a valid file name");
    expect_files_error("[{\"name\":\"a/b\",\"content\":\"\"},{\"name\":\"a\",\"content\":\"\"}]",
                       "files[1].name is not a valid file name");
    expect_files_error("[{\"name\":\"a/b/c\",\"content\":\"\"},{\"name\":\"x\",\"content\":\"\"},"
                       "{\"name\":\"a\",\"content\":\"\"}]",
                       "files[2].name is not a valid file name");
    /* The smallest later index of any clashing pair wins, whatever the sort order. */
    expect_files_error("[{\"name\":\"a/b/c\",\"content\":\"\"},{\"name\":\"q\",\"content\":\"\"},"
                       "{\"name\":\"q/r\",\"content\":\"\"},{\"name\":\"a\",\"content\":\"\"}]",
                       "files[2].name is not a valid file name");
    expect_files_error("[{\"name\":\"a\",\"content\":\"\"},{\"name\":\"b\",\"content\":\"\"},"
                       "{\"name\":\"a\",\"content\":\"\"},{\"name\":\"a/x\",\"content\":\"\"}]",
                       "files[3].name is not a valid file name");
    /* A clash before an invalid name is reported first, and the other way round. */
    expect_files_error("[{\"name\":\"a\",\"content\":\"\"},{\"name\":\"a/b\",\"content\":\"\"},"
                       "{\"name\":\"/abs\",\"content\":\"\"}]",
                       "files[1].name is not a valid file name");
    expect_files_error("[{\"name\":\"a\",\"content\":\"\"},{\"name\":\"/abs\",\"content\":\"\"},"
                       "{\"name\":\"a/b\",\"content\":\"\"}]",
                       "files[1].name is not a valid file name");
    /* Siblings sharing a prefix are no clash. */
    expect_names("[{\"name\":\"a\",\"content\":\"\"},{\"name\":\"a-b/c\",\"content\":\"\"},"
                 "{\"name\":\"a.c\",\"content\":\"\"},{\"name\":\"ab/c\",\"content\":\"\"},"
                 "{\"name\":\"b/a\",\"content\":\"\"},{\"name\":\"b/a.x\",\"content\":\"\"}]",
                 (const char *const[]){"a", "a-b/c", "a.c", "ab/c", "b/a", "b/a.x"}, 6);
}

TEST(row11_base64_and_hex)
{
    struct eng_request *req;

    req = expect_ok("{" PY ",\"files\":[{\"content\":\"x\"},"
                    "{\"name\":\"a\",\"content\":\"aGVsbG8=\",\"encoding\":\"base64\"},"
                    "{\"name\":\"b\",\"content\":\"aGVsbG8\",\"encoding\":\"base64\"},"
                    "{\"name\":\"c\",\"content\":\" aGVs\\nbG8=\\r\\n\",\"encoding\":\"base64\"},"
                    "{\"name\":\"d\",\"content\":\"-_8=\",\"encoding\":\"base64\"},"
                    "{\"name\":\"e\",\"content\":\"+/8\",\"encoding\":\"base64\"},"
                    "{\"name\":\"f\",\"content\":\"48656C6c6f00\",\"encoding\":\"hex\"},"
                    "{\"name\":\"g\",\"content\":\"\",\"encoding\":\"base64\"},"
                    "{\"name\":\"h\",\"content\":\"\",\"encoding\":\"hex\"}]}");
    ASSERT_EQ(req->n_files, 9);
    ASSERT_TRUE(req->files[0].utf8);
    for (size_t i = 1; i <= 3; i++) {
        ASSERT_FALSE(req->files[i].utf8);
        ASSERT_EQ(req->files[i].len, 5);
        ASSERT_TRUE(memcmp(req->files[i].content, "hello", 5) == 0);
    }
    ASSERT_EQ(req->files[4].len, 2);
    ASSERT_TRUE(memcmp(req->files[4].content, "\xFB\xFF", 2) == 0);
    ASSERT_EQ(req->files[5].len, 2);
    ASSERT_TRUE(memcmp(req->files[5].content, "\xFB\xFF", 2) == 0);
    ASSERT_EQ(req->files[6].len, 6);
    ASSERT_TRUE(memcmp(req->files[6].content, "Hello\0", 6) == 0);
    ASSERT_EQ(req->files[7].len, 0);
    ASSERT_EQ(req->files[8].len, 0);
    eng_request_free(req);
}

TEST(row11_invalid_content)
{
    static const char *const bad_base64[] = {"a",          "aGVsbG8==", "=aGV",    "aG=Vs",
                                             "aGVsbG8===", "aGVs*bG8",  "aGVsbA=", "\\u00e9"};
    static const char *const bad_hex[] = {"486", "zz", "48 65", "0x48"};
    char json[256];

    for (size_t i = 0; i < ARRAY_SIZE(bad_base64); i++) {
        snprintf(json, sizeof(json),
                 "[{\"content\":\"x\"},{\"name\":\"b\",\"content\":\"%s\",\"encoding\":"
                 "\"base64\"}]",
                 bad_base64[i]);
        expect_files_error(json, "files[1].content is not valid base64");
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad_hex); i++) {
        snprintf(json, sizeof(json),
                 "[{\"content\":\"x\"},{\"name\":\"b\",\"content\":\"%s\",\"encoding\":\"hex\"}]",
                 bad_hex[i]);
        expect_files_error(json, "files[1].content is not valid hex");
    }
    /* Row 10 (any index) before row 11. */
    expect_files_error("[{\"content\":\"x\"},{\"content\":\"!\",\"encoding\":\"hex\"},"
                       "{\"name\":\"/x\",\"content\":\"\"}]",
                       "files[2].name is not a valid file name");
    /* A dropped duplicate is still checked. */
    expect_files_error(
        "[{\"content\":\"x\"},{\"name\":\"b\",\"content\":\"!\",\"encoding\":\"hex\"},"
        "{\"name\":\"b\",\"content\":\"\"}]",
        "files[1].content is not valid hex");
}

TEST(row12_quota)
{
    _cleanup_free_ char *msg = NULL;
    struct eng_request *req;
    json_auto_t *root = NULL;
    char *detail = NULL;
    const char *json =
        "{" PY ",\"files\":[{\"name\":\"d/a\",\"content\":\"x\"},{\"name\":\"d/e/b\","
        "\"content\":\"\"},{\"name\":\"c\",\"content\":\"x\"},{\"name\":\"c\",\"content\":\"y\"}]}";

    /* 3 files (one dropped duplicate) + 2 directories + 3 box directories = 8 inodes;
     * 2 non-empty files = 2 pages, + 3 pages for the box directories. */
    setup();
    ASSERT_OK(api_body_parse_json(json, strlen(json), &root, &detail));
    cfg.tmpfs_inodes = 8;
    cfg.tmpfs_size = 5 * 4096;
    ASSERT_OK(api_execute_decode(root, reg, &cfg, &req, &msg));
    ASSERT_EQ(req->n_files, 3);
    eng_request_free(req);
    cfg.tmpfs_inodes = 7;
    ASSERT_EQ(api_execute_decode(root, reg, &cfg, &req, &msg), -EINVAL);
    ASSERT_STREQ(msg, "files exceed the sandbox disk quota");
    free(TAKE_PTR(msg));
    cfg.tmpfs_inodes = 8;
    cfg.tmpfs_size = 5 * 4096 - 1;
    ASSERT_EQ(api_execute_decode(root, reg, &cfg, &req, &msg), -EINVAL);
    ASSERT_STREQ(msg, "files exceed the sandbox disk quota");
}

TEST(row12_sizes_round_up)
{
    _cleanup_free_ char *msg = NULL, *content = malloc(4098);
    struct eng_request *req;
    json_auto_t *root = NULL;

    memset(content, 'x', 4097);
    content[4097] = '\0';
    root = json_pack("{s:s,s:s,s:[{s:s}]}", "language", "py", "version", "*", "files", "content",
                     content);
    setup();
    cfg.tmpfs_size = 5 * 4096; /* 4097 bytes take 2 pages */
    ASSERT_OK(api_execute_decode(root, reg, &cfg, &req, &msg));
    eng_request_free(req);
    cfg.tmpfs_size = 5 * 4096 - 1;
    ASSERT_EQ(api_execute_decode(root, reg, &cfg, &req, &msg), -EINVAL);
}

TEST(many_files_scale)
{
    /* 20000 files in nested directories: the name checks must not be quadratic. */
    json_auto_t *root = json_pack("{s:s,s:s}", "language", "py", "version", "*");
    json_t *files = json_array();
    _cleanup_free_ char *msg = NULL;
    struct eng_request *req;
    char name[64];

    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof(name), "d%d/e%d/f%d", i % 10, i % 100, i);
        json_array_append_new(files, json_pack("{s:s,s:s}", "name", name, "content", "x"));
    }
    json_object_set_new(root, "files", files);
    setup();
    cfg.tmpfs_inodes = 0;
    cfg.tmpfs_size = 0;
    ASSERT_OK(api_execute_decode(root, reg, &cfg, &req, &msg));
    ASSERT_EQ(req->n_files, 20000);
    eng_request_free(req);
    json_array_append_new(files, json_pack("{s:s,s:s}", "name", "d3/e13", "content", "x"));
    ASSERT_EQ(api_execute_decode(root, reg, &cfg, &req, &msg), -EINVAL);
    ASSERT_STREQ(msg, "files[20000].name is not a valid file name");
}

TEST(spec_example_1)
{
    struct eng_request *req = expect_ok(
        "{\"language\":\"py\",\"version\":\"3.x\",\"files\":[{\"name\":\"main.py\",\"content\":"
        "\"import sys\\nprint(sys.argv[1:], input())\"}],\"stdin\":\"hello\",\"args\":[\"a\","
        "\"b\"]}");

    ASSERT_STREQ(req->runtime->language, "python");
    ASSERT_EQ(req->n_files, 1);
    ASSERT_STREQ(req->files[0].name, "main.py");
    ASSERT_TRUE(req->files[0].utf8);
    ASSERT_STREQ((char *)req->files[0].content, "import sys\nprint(sys.argv[1:], input())");
    ASSERT_STREQ(req->stdin_data, "hello\n");
    ASSERT_STREQ(req->args[0], "a");
    ASSERT_STREQ(req->args[1], "b");
    ASSERT_NULL(req->args[2]);
    eng_request_free(req);
}

TEST(spec_example_5)
{
    expect_error("{\"language\":\"cobol\",\"version\":\"*\",\"files\":[{\"content\":\"x\"}]}",
                 "cobol-* runtime is unknown");
    expect_error("{\"language\":\"python\",\"version\":\"*\",\"files\":[{\"content\":\"1\"}],"
                 "\"run_timeout\":99999}",
                 "run_timeout cannot exceed the configured limit of 3000");
}
