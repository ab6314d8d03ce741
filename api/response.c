/* Response bodies: compact JSON in the wire key order of PISTON-API.md 2.2, 2.3 and 3.4.
 * jansson keeps object keys in insertion order, so building in order is the key order. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "macro.h"
#include "utf8.h"

/* Program output is arbitrary bytes: invalid UTF-8 becomes U+FFFD and NUL stays (escaped as
 * \u0000 by the encoder), so no output can break or reshape the response. */
static json_t *text(const char *s, size_t len)
{
    _cleanup_free_ char *clean = NULL;
    size_t clean_len;

    if (utf8_sanitize(s ? s : "", s ? len : 0, &clean, &clean_len) < 0)
        return NULL;
    return json_stringn(clean, clean_len);
}

static json_t *text_or_null(const char *s)
{
    return s ? text(s, strlen(s)) : json_null();
}

static json_t *integer(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* json_object_set_new steals the value even on failure, so a NULL value only needs the
 * object to be reported as failed. */
static int set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *encode_stage(const struct eng_stage_result *st)
{
    _cleanup_(json_decrefp) json_t *o = json_object();
    const char *status = eng_status_name(st->status);
    int r = 0;

    if (!o)
        return NULL;
    r |= set(o, "signal", text_or_null(st->signal_name));
    r |= set(o, "stdout", text(st->stdout_data, st->stdout_len));
    r |= set(o, "stderr", text(st->stderr_data, st->stderr_len));
    r |= set(o, "code", st->has_code ? json_integer(st->code) : json_null());
    r |= set(o, "output", text(st->output_data, st->output_len));
    r |= set(o, "memory", st->memory_known ? integer(st->memory) : json_null());
    r |= set(o, "message", text_or_null(st->message));
    r |= set(o, "status", text_or_null(status));
    r |= set(o, "cpu_time", integer(st->cpu_time_ms));
    r |= set(o, "wall_time", integer(st->wall_time_ms));
    if (r != 0)
        return NULL;
    return TAKE_PTR(o);
}

/* Compact: {"a":1,"b":[2]} with no spaces, as Express's res.json sends. */
static char *dump(json_t *v, size_t *ret_len)
{
    char *s;

    if (!v)
        return NULL;
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && ret_len)
        *ret_len = strlen(s);
    return s;
}

char *api_encode_result(const struct eng_result *res, size_t *ret_len)
{
    _cleanup_(json_decrefp) json_t *o = json_object();
    int r = 0;

    if (!o || !res->runtime)
        return NULL;
    if (res->has_compile)
        r |= set(o, "compile", encode_stage(&res->compile));
    r |= set(o, "run", encode_stage(&res->run));
    r |= set(o, "language", text_or_null(res->runtime->language));
    r |= set(o, "version", text_or_null(res->runtime->version));
    if (r != 0)
        return NULL;
    return dump(o, ret_len);
}

static json_t *encode_runtime(const struct rt_runtime *rt)
{
    _cleanup_(json_decrefp) json_t *o = json_object();
    json_t *aliases = json_array();
    int r = 0;

    if (!o) {
        json_decref(aliases);
        return NULL;
    }
    if (set(o, "language", text_or_null(rt->language)) < 0 ||
        set(o, "version", text_or_null(rt->version)) < 0 || set(o, "aliases", aliases) < 0)
        return NULL;
    for (char **a = rt->aliases; a && *a; a++)
        r |= json_array_append_new(aliases, text_or_null(*a)) == 0 ? 0 : -ENOMEM;
    /* Present only for runtimes from a `provides` list, never as null. */
    if (rt->package_name)
        r |= set(o, "runtime", text_or_null(rt->package_name));
    if (r != 0)
        return NULL;
    return TAKE_PTR(o);
}

char *api_encode_runtimes(const struct rt_registry *reg, size_t *ret_len)
{
    _cleanup_(json_decrefp) json_t *a = json_array();
    size_t n = rt_registry_count(reg);

    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *o = encode_runtime(rt_registry_get(reg, i));

        if (!o || json_array_append_new(a, o) < 0)
            return NULL;
    }
    return dump(a, ret_len);
}

char *api_encode_message(const char *message, size_t *ret_len)
{
    _cleanup_(json_decrefp) json_t *o = json_object();

    if (!o || set(o, "message", text_or_null(message)) < 0)
        return NULL;
    return dump(o, ret_len);
}

char *api_encode_message_stack(const char *message, const char *stack, size_t *ret_len)
{
    _cleanup_(json_decrefp) json_t *o = json_object();

    if (!o || set(o, "message", text_or_null(message)) < 0 ||
        set(o, "stack", text_or_null(stack)) < 0)
        return NULL;
    return dump(o, ret_len);
}
