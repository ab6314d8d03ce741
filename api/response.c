/* Response bodies: compact JSON in the wire key order of PISTON-API.md 2.2, 2.3 and 3.4.
 * jansson keeps object keys in insertion order, so building in order is the key order. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "macro.h"
#include "strbuf.h"
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

/* json_object_set_new steals the value even on failure, so a NULL value only needs the
 * object to be reported as failed. */
static int set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
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

/* The execute response is written straight into one buffer: it carries program output up to
 * the output limit (twice: the stream and `output`), and building jansson values for it cost
 * three copies, a per-code-point UTF-8 check and a per-code-point encoder (about 11 ms per
 * MiB here). The bytes are those jansson wrote: compact, keys in wire order, strings by
 * utf8_append_json_string(), integers as "%lld". */
static int put(struct strbuf *sb, const char *s)
{
    return strbuf_append_str(sb, s);
}

static int put_text(struct strbuf *sb, const char *key, const char *s, size_t len)
{
    int r = put(sb, key);

    return r < 0 ? r : utf8_append_json_string(sb, s ? s : "", s ? len : 0);
}

static int put_null(struct strbuf *sb, const char *key)
{
    int r = put(sb, key);

    return r < 0 ? r : put(sb, "null");
}

static int put_text_or_null(struct strbuf *sb, const char *key, const char *s)
{
    return s ? put_text(sb, key, s, strlen(s)) : put_null(sb, key);
}

static int put_int(struct strbuf *sb, const char *key, long long v)
{
    char num[32];
    int r = put(sb, key);

    (void)snprintf(num, sizeof(num), "%lld", v);
    return r < 0 ? r : put(sb, num);
}

static int put_uint(struct strbuf *sb, const char *key, uint64_t v)
{
    return put_int(sb, key, v > INT64_MAX ? INT64_MAX : (long long)v);
}

/* `output` is stdout and stderr interleaved: with nothing on stderr it usually equals stdout
 * byte for byte, and then its JSON is a copy of the string just written at `at`. */
static int put_output(struct strbuf *sb, const struct eng_stage_result *st, size_t at,
                      size_t stdout_json_len)
{
    int r = put(sb, ",\"output\":");

    if (r < 0)
        return r;
    if (st->output_len != st->stdout_len || st->output_len == 0 ||
        memcmp(st->output_data, st->stdout_data, st->output_len) != 0)
        return utf8_append_json_string(sb, st->output_data, st->output_len);
    r = strbuf_reserve(sb, stdout_json_len); /* first: the source must not move */
    if (r < 0)
        return r;
    return strbuf_append(sb, sb->data + at, stdout_json_len) < 0 ? -ENOMEM : 0;
}

static int encode_stage(struct strbuf *sb, const char *key, const struct eng_stage_result *st)
{
    size_t at, stdout_json_len;
    int r = 0;

    r |= put(sb, key);
    r |= put_text_or_null(sb, "{\"signal\":", st->signal_name);
    r |= put(sb, ",\"stdout\":");
    at = sb->len;
    r |= utf8_append_json_string(sb, st->stdout_data ? st->stdout_data : "", st->stdout_len);
    stdout_json_len = sb->len - at;
    r |= put_text(sb, ",\"stderr\":", st->stderr_data, st->stderr_len);
    r |= st->has_code ? put_int(sb, ",\"code\":", st->code) : put_null(sb, ",\"code\":");
    r |= r < 0 ? r : put_output(sb, st, at, stdout_json_len);
    r |= st->memory_known ? put_uint(sb, ",\"memory\":", st->memory) : put_null(sb, ",\"memory\":");
    r |= put_text_or_null(sb, ",\"message\":", st->message);
    r |= put_text_or_null(sb, ",\"status\":", eng_status_name(st->status));
    r |= put_uint(sb, ",\"cpu_time\":", st->cpu_time_ms);
    r |= put_uint(sb, ",\"wall_time\":", st->wall_time_ms);
    r |= put(sb, "}");
    return r < 0 ? -ENOMEM : 0;
}

static size_t stage_size(const struct eng_stage_result *st)
{
    return st->stdout_len + st->stderr_len + st->output_len + 512;
}

char *api_encode_result(const struct eng_result *res, size_t *ret_len)
{
    _cleanup_(strbuf_done) struct strbuf sb = {};
    int r = 0;

    if (!res->runtime)
        return NULL;
    /* Sized for output with nothing to escape: the usual response never regrows. */
    if (strbuf_reserve(&sb, stage_size(&res->run) +
                                (res->has_compile ? stage_size(&res->compile) : 0)) < 0)
        return NULL;
    if (res->has_compile) {
        r |= encode_stage(&sb, "{\"compile\":", &res->compile);
        r |= encode_stage(&sb, ",\"run\":", &res->run);
    } else {
        r |= encode_stage(&sb, "{\"run\":", &res->run);
    }
    r |= put_text_or_null(&sb, ",\"language\":", res->runtime->language);
    r |= put_text_or_null(&sb, ",\"version\":", res->runtime->version);
    r |= put(&sb, "}");
    if (r != 0)
        return NULL;
    return strbuf_steal(&sb, ret_len);
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
