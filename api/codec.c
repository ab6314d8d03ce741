/* Execute request decoding and validation (PISTON-API.md 2.3): checks run in Piston's order
 * with Piston's texts, then capsuled's additions (rows 8-12). Nothing is created before the
 * whole request is known to be valid. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "codec-internal.h"
#include "macro.h"

int api__codec_fail(char **ret_message, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(ret_message, fmt, ap);
    va_end(ap);
    if (r < 0) {
        *ret_message = NULL;
        return -ENOMEM;
    }
    return -EINVAL;
}

/* JavaScript truthiness of a JSON value: Piston tests most fields with `!x`. */
bool api__json_is_falsy(const json_t *v)
{
    if (!v)
        return true;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return true;
    case JSON_INTEGER:
        return json_integer_value(v) == 0;
    case JSON_REAL:
        return json_real_value(v) == 0.0;
    case JSON_STRING:
        return json_string_length(v) == 0;
    case JSON_OBJECT:
    case JSON_ARRAY:
    case JSON_TRUE:
        return false;
    }
    return false;
}

/* Rows 1-2: present, truthy and a string. */
static const char *required_string(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);

    if (!json_is_string(v) || json_string_length(v) == 0)
        return NULL;
    return json_string_value(v);
}

/* Row 4: `typeof files[i].content !== 'string'`, which also covers non-object entries. */
static int check_contents(json_t *files, char **ret_message)
{
    size_t i;
    json_t *f;

    json_array_foreach(files, i, f)
    {
        if (!json_is_string(json_object_get(f, "content")))
            return api__codec_fail(ret_message, "files[%zu].content is required as a string", i);
    }
    return 0;
}

/* Row 5. Runtime names hold no NUL: a string that does (JSON_ALLOW_NUL) matches nothing. */
static const struct rt_runtime *find_runtime(json_t *root, struct rt_registry *reg)
{
    json_t *language = json_object_get(root, "language");
    json_t *version = json_object_get(root, "version");

    if (strlen(json_string_value(language)) != json_string_length(language) ||
        strlen(json_string_value(version)) != json_string_length(version))
        return NULL;
    return rt_registry_find(reg, json_string_value(language), json_string_value(version));
}

/* Row 6 counts what Piston counts: `!file.encoding || file.encoding === 'utf8'`. */
static bool has_utf8_file(json_t *files)
{
    size_t i;
    json_t *f, *enc;

    json_array_foreach(files, i, f)
    {
        enc = json_object_get(f, "encoding");
        if (api__json_is_falsy(enc) || (json_is_string(enc) && json_string_length(enc) == 4 &&
                                        strcmp(json_string_value(enc), "utf8") == 0))
            return true;
    }
    return false;
}

struct limit_field {
    const char *name;
    enum rt_limit limit;
    bool memory;
    size_t offset; /* int64_t inside struct eng_request */
};

/* Row 7 order: constraint outer (memory, timeout, cpu time), stage inner (compile, run). */
static const struct limit_field limit_fields[] = {
    {"compile_memory_limit", RT_LIMIT_COMPILE_MEMORY_LIMIT, true,
     offsetof(struct eng_request, compile.memory_bytes)},
    {"run_memory_limit", RT_LIMIT_RUN_MEMORY_LIMIT, true,
     offsetof(struct eng_request, run.memory_bytes)},
    {"compile_timeout", RT_LIMIT_COMPILE_TIMEOUT, false,
     offsetof(struct eng_request, compile.timeout_ms)},
    {"run_timeout", RT_LIMIT_RUN_TIMEOUT, false, offsetof(struct eng_request, run.timeout_ms)},
    {"compile_cpu_time", RT_LIMIT_COMPILE_CPU_TIME, false,
     offsetof(struct eng_request, compile.cpu_time_ms)},
    {"run_cpu_time", RT_LIMIT_RUN_CPU_TIME, false, offsetof(struct eng_request, run.cpu_time_ms)},
};

/* Fractions round up to whole ms or bytes; values beyond int64 saturate (they can only pass
 * validation when the configured limit is unlimited anyway). */
static int64_t ceil_to_int64(double d)
{
    int64_t t;

    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    t = (int64_t)d; /* truncates toward zero */
    if ((double)t < d)
        t++;
    return t;
}

/* One row-7 field: checks it and computes the stage limit it yields. */
static int check_limit(const struct limit_field *f, json_t *v, int64_t max, int64_t *ret,
                       char **ret_message)
{
    bool over, negative;
    int64_t value;

    if (api__json_is_falsy(v)) {
        *ret = max; /* "use the configured value" */
        return 0;
    }
    if (!json_is_number(v))
        return api__codec_fail(ret_message, "If specified, %s must be a number", f->name);
    /* Compare the raw number, as Piston does: 3000.5 exceeds 3000, -0.5 is negative. */
    if (json_is_integer(v)) {
        value = json_integer_value(v);
        over = value > max;
        negative = value < 0;
    } else {
        value = ceil_to_int64(json_real_value(v));
        over = json_real_value(v) > (double)max;
        negative = json_real_value(v) < 0;
    }
    if (max > 0 && over)
        return api__codec_fail(ret_message, "%s cannot exceed the configured limit of %" PRId64,
                               f->name, max);
    /* capsuled: a negative memory limit (node-piston sends -1) means the configured one. */
    if (negative && f->memory)
        value = max;
    else if (max > 0 && negative)
        return api__codec_fail(ret_message, "%s must be non-negative", f->name);
    *ret = value;
    return 0;
}

static int check_limits(json_t *root, const struct rt_runtime *rt, const struct eng_config *cfg,
                        struct eng_request *req, char **ret_message)
{
    int r;

    for (size_t i = 0; i < ARRAY_SIZE(limit_fields); i++) {
        const struct limit_field *f = &limit_fields[i];
        int64_t value = 0;

        r = check_limit(f, json_object_get(root, f->name), eng_effective_limit(cfg, rt, f->limit),
                        &value, ret_message);
        if (r < 0)
            return r;
        memcpy((char *)req + f->offset, &value, sizeof(value));
    }
    req->max_process_count = eng_effective_limit(cfg, rt, RT_LIMIT_MAX_PROCESS_COUNT);
    req->max_open_files = eng_effective_limit(cfg, rt, RT_LIMIT_MAX_OPEN_FILES);
    req->max_file_size = eng_effective_limit(cfg, rt, RT_LIMIT_MAX_FILE_SIZE);
    req->output_max_size = eng_effective_limit(cfg, rt, RT_LIMIT_OUTPUT_MAX_SIZE);
    return 0;
}

/* Row 8; the run stage always gets a final newline, as in Piston. */
static int decode_stdin(json_t *root, struct eng_request *req, char **ret_message)
{
    json_t *v = json_object_get(root, "stdin");
    const char *s = "";
    size_t len = 0;
    bool newline;

    if (v && !json_is_null(v) && !json_is_string(v))
        return api__codec_fail(ret_message, "stdin must be a string");
    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);
    }
    newline = len == 0 || s[len - 1] != '\n';
    req->stdin_data = malloc(len + 2);
    if (!req->stdin_data)
        return -ENOMEM;
    memcpy(req->stdin_data, s, len);
    if (newline)
        req->stdin_data[len++] = '\n';
    req->stdin_data[len] = '\0';
    req->stdin_len = len;
    return 0;
}

/* Row 9. An argument holding NUL cannot reach execve: rejected here rather than failing
 * later with a 500. */
#define ARG_STRING_MAX (128 * 1024)
#define ARGS_TOTAL_MAX (1024 * 1024)

static int decode_args(json_t *root, struct eng_request *req, char **ret_message)
{
    json_t *v = json_object_get(root, "args"), *a;
    size_t i, n = 0;

    if (v && !json_is_null(v)) {
        if (!json_is_array(v))
            return api__codec_fail(ret_message, "args must be an array of strings");
        size_t total = 0;
        json_array_foreach(v, i, a)
        {
            if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a))
                return api__codec_fail(ret_message, "args must be an array of strings");
            total += json_string_length(a) + 1;
            /* execve refuses one string of 128 KiB (MAX_ARG_STRLEN) and an argv + envp
             * over its stack budget: a client's arguments must never become a 500 */
            if (json_string_length(a) >= ARG_STRING_MAX || total > ARGS_TOTAL_MAX)
                return api__codec_fail(ret_message,
                                       "args are too long (at most %d bytes each, %d in all)",
                                       ARG_STRING_MAX - 1, ARGS_TOTAL_MAX);
        }
        n = json_array_size(v);
    }
    req->args = calloc(n + 1, sizeof(char *));
    if (!req->args)
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        req->args[i] = strdup(json_string_value(json_array_get(v, i)));
        if (!req->args[i])
            return -ENOMEM;
    }
    return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct eng_request *, eng_request_free)

static int decode(json_t *root, struct rt_registry *reg, const struct eng_config *cfg,
                  size_t max_files, struct eng_request **ret, char **ret_message)
{
    _cleanup_(eng_request_freep) struct eng_request *req = NULL;
    const char *language, *version;
    const struct rt_runtime *rt;
    json_t *files;
    int r;

    /* An array body has no keys: it fails row 1 like an empty object. */
    language = required_string(root, "language");
    if (!language)
        return api__codec_fail(ret_message, "language is required as a string");
    version = required_string(root, "version");
    if (!version)
        return api__codec_fail(ret_message, "version is required as a string");
    files = json_object_get(root, "files");
    if (!json_is_array(files))
        return api__codec_fail(ret_message, "files is required as an array");
    r = check_contents(files, ret_message);
    if (r < 0)
        return r;
    rt = find_runtime(root, reg);
    if (!rt)
        return api__codec_fail(ret_message, "%s-%s runtime is unknown", language, version);
    if (strcmp(rt->language, "file") != 0 && !has_utf8_file(files))
        return api__codec_fail(ret_message, "files must include at least one utf8 encoded file");

    req = calloc(1, sizeof(*req));
    if (!req)
        return -ENOMEM;
    r = check_limits(root, rt, cfg, req, ret_message);
    if (r < 0)
        return r;
    r = decode_stdin(root, req, ret_message);
    if (r < 0)
        return r;
    r = decode_args(root, req, ret_message);
    if (r < 0)
        return r;
    /* CAPSULE_MAX_FILES: after Piston's rows (a request Piston rejects keeps its message),
     * before rows 10-12, whose work grows with the number of files. */
    if (json_array_size(files) > max_files)
        return api__codec_fail(ret_message, "files must not have more than %zu entries", max_files);
    r = api__codec_decode_files(files, cfg, req, ret_message); /* rows 10-12 */
    if (r < 0)
        return r;
    req->runtime = rt;
    req->registry = rt_registry_ref(reg);
    *ret = TAKE_PTR(req);
    return 0;
}

int api_execute_decode_capped(json_t *root, struct rt_registry *reg, const struct eng_config *cfg,
                              size_t max_files, struct eng_request **ret, char **ret_message)
{
    int r;

    *ret_message = NULL;
    r = decode(root, reg, cfg, max_files, ret, ret_message);
    /* A failed message allocation must still be an error the caller can answer. */
    if (r == -EINVAL && !*ret_message)
        return -ENOMEM;
    return r;
}

int api_execute_decode(json_t *root, struct rt_registry *reg, const struct eng_config *cfg,
                       struct eng_request **ret, char **ret_message)
{
    return api_execute_decode_capped(root, reg, cfg, SIZE_MAX, ret, ret_message);
}
