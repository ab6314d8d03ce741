/* A fast path in front of jansson's decoder for request bodies. jansson lexes a string one
 * byte at a time through a stream, checks its UTF-8 again and grows it byte by byte: about
 * 9 ms for a body with 1 MiB of stdin on this VM. This parser scans strings a word at a time
 * and builds the same jansson values, but it only ever says yes to documents jansson accepts
 * with the same flags (JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, an object or array at the
 * top, nothing after it): anything else it declines, and jansson then parses the body and
 * writes the error message, so errors and their positions are jansson's as before. */
#include "json-fast.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strbuf.h"
#include "swar.h"

/* Requests nest a few levels (files, args). Deeper documents go to jansson, as before: this
 * parser recurses too, and the WebSocket thread that also parses bodies has a 256 KiB stack,
 * so its own depth stays small whatever jansson's limit (2048) allows. */
#define FAST_MAX_DEPTH 64
/* Longer number tokens are rare: jansson reads them. */
#define FAST_MAX_NUMBER 64

struct parser {
    const char *s;
    size_t len, pos;
    unsigned depth;
    struct strbuf *tmp; /* decoded strings that held escapes */
};

static void skip_ws(struct parser *p)
{
    /* jansson's whitespace: exactly these four (load.c, lex_scan). */
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static size_t string_run(const char *s, size_t len)
{
    size_t i = 0;

    while (i + 8 <= len && swar_json_string_safe(swar_load(s + i)))
        i += 8;
    while (i < len && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

static int hex4(const char *s, unsigned *ret)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = s[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *ret = v;
    return 0;
}

static int put_utf8(struct strbuf *sb, unsigned cp)
{
    char b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return strbuf_append(sb, b, n) < 0 ? -ENOMEM : 0;
}

/* \uXXXX at p->pos (after the backslash and 'u'), a surrogate pair whole: a lone surrogate is
 * one of jansson's errors, so it is declined. */
static int unicode_escape(struct parser *p)
{
    unsigned cp, lo;

    if (p->len - p->pos < 4 || hex4(p->s + p->pos, &cp) < 0)
        return -EINVAL;
    p->pos += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return -EINVAL;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
            hex4(p->s + p->pos + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
            return -EINVAL;
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return put_utf8(p->tmp, cp);
}

static int escape(struct parser *p)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *k;

    if (p->pos >= p->len)
        return -EINVAL;
    if (p->s[p->pos] == 'u') {
        p->pos++;
        return unicode_escape(p);
    }
    k = p->s[p->pos] ? strchr(from, p->s[p->pos]) : NULL;
    if (!k)
        return -EINVAL;
    p->pos++;
    return strbuf_append(p->tmp, &to[k - from], 1) < 0 ? -ENOMEM : 0;
}

/* The string at p->pos (its opening quote). *ret points into the body when it held no escape,
 * else into p->tmp; valid until the next string. The body is valid UTF-8 (the caller repaired
 * it), so raw bytes need no second check. */
static int string(struct parser *p, const char **ret, size_t *ret_len)
{
    size_t start = ++p->pos, run;
    bool escaped = false;
    int r;

    p->tmp->len = 0;
    for (;;) {
        run = string_run(p->s + p->pos, p->len - p->pos);
        if (escaped && strbuf_append(p->tmp, p->s + p->pos, run) < 0)
            return -ENOMEM;
        p->pos += run;
        if (p->pos >= p->len || (unsigned char)p->s[p->pos] < 0x20)
            return -EINVAL; /* unterminated, or a raw control character */
        if (p->s[p->pos] == '"')
            break;
        if (!escaped) {
            escaped = true;
            if (strbuf_append(p->tmp, p->s + start, p->pos - start) < 0)
                return -ENOMEM;
        }
        p->pos++; /* the backslash */
        r = escape(p);
        if (r < 0)
            return r;
    }
    *ret = escaped ? p->tmp->data : p->s + start;
    *ret_len = escaped ? p->tmp->len : p->pos - start;
    p->pos++;
    return 0;
}

static size_t digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* RFC 8259 numbers, read as doubles (JSON_DECODE_INT_AS_REAL). An overflow is declined: the
 * caller's jansson path has its own answer for it. */
static int number(struct parser *p, json_t **ret)
{
    const char *s = p->s;
    size_t i = p->pos, n = p->len, j;
    char tok[FAST_MAX_NUMBER + 1];
    double v;

    if (s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        i = digits(s, i, n);
    else
        return -EINVAL;
    if (i < n && s[i] == '.') {
        j = digits(s, i + 1, n);
        if (j == i + 1)
            return -EINVAL;
        i = j;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        j = digits(s, i, n);
        if (j == i)
            return -EINVAL;
        i = j;
    }
    if (i - p->pos > FAST_MAX_NUMBER)
        return -EINVAL;
    /* A copy: strtod alone would read past the grammar ("0x1p3", "infinity"). */
    memcpy(tok, s + p->pos, i - p->pos);
    tok[i - p->pos] = '\0';
    errno = 0;
    v = strtod(tok, NULL);
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
        return -EINVAL;
    p->pos = i;
    *ret = json_real(v);
    return *ret ? 0 : -ENOMEM;
}

static int value(struct parser *p, json_t **ret);

static int literal(struct parser *p, const char *word, json_t *v, json_t **ret)
{
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return -EINVAL;
    p->pos += n;
    *ret = v;
    return v ? 0 : -ENOMEM;
}

static int array(struct parser *p, json_t **ret)
{
    _cleanup_(json_decrefp) json_t *a = json_array();
    json_t *item;
    int r;

    if (!a)
        return -ENOMEM;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']')
        goto done;
    for (;;) {
        r = value(p, &item);
        if (r < 0)
            return r;
        if (json_array_append_new(a, item) < 0)
            return -ENOMEM;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ']')
            break;
        if (p->pos >= p->len || p->s[p->pos] != ',')
            return -EINVAL;
        p->pos++;
    }
done:
    p->pos++;
    *ret = TAKE_PTR(a);
    return 0;
}

static int member(struct parser *p, json_t *o)
{
    _cleanup_free_ char *key = NULL;
    const char *k;
    size_t klen;
    json_t *v;
    int r;

    if (p->pos >= p->len || p->s[p->pos] != '"')
        return -EINVAL;
    r = string(p, &k, &klen);
    if (r < 0)
        return r;
    if (memchr(k, '\0', klen))
        return -EINVAL; /* jansson: "NUL byte in object key not supported" */
    key = strndup(k, klen);
    if (!key)
        return -ENOMEM;
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != ':')
        return -EINVAL;
    p->pos++;
    r = value(p, &v);
    if (r < 0)
        return r;
    /* As jansson's parse_object: a repeated key replaces the value in its first place. */
    return json_object_setn_new_nocheck(o, key, klen, v) < 0 ? -ENOMEM : 0;
}

static int object(struct parser *p, json_t **ret)
{
    _cleanup_(json_decrefp) json_t *o = json_object();
    int r;

    if (!o)
        return -ENOMEM;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}')
        goto done;
    for (;;) {
        r = member(p, o);
        if (r < 0)
            return r;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == '}')
            break;
        if (p->pos >= p->len || p->s[p->pos] != ',')
            return -EINVAL;
        p->pos++;
        skip_ws(p);
    }
done:
    p->pos++;
    *ret = TAKE_PTR(o);
    return 0;
}

static int value(struct parser *p, json_t **ret)
{
    const char *s;
    size_t n;
    int r;

    skip_ws(p);
    if (p->pos >= p->len)
        return -EINVAL;
    switch (p->s[p->pos]) {
    case '{':
    case '[':
        if (++p->depth > FAST_MAX_DEPTH)
            return -EINVAL;
        r = p->s[p->pos] == '{' ? object(p, ret) : array(p, ret);
        p->depth--;
        return r;
    case '"':
        r = string(p, &s, &n);
        if (r < 0)
            return r;
        *ret = json_stringn_nocheck(s, n);
        return *ret ? 0 : -ENOMEM;
    case 't':
        return literal(p, "true", json_true(), ret);
    case 'f':
        return literal(p, "false", json_false(), ret);
    case 'n':
        return literal(p, "null", json_null(), ret);
    default:
        return number(p, ret);
    }
}

int api__json_parse_fast(const char *s, size_t len, json_t **ret)
{
    _cleanup_(strbuf_done) struct strbuf tmp = {};
    struct parser p = {.s = s, .len = len, .tmp = &tmp};
    json_t *root = NULL;
    int r;

    skip_ws(&p);
    if (p.pos >= len || (s[p.pos] != '{' && s[p.pos] != '['))
        return -EINVAL;
    r = value(&p, &root);
    if (r < 0)
        return r;
    skip_ws(&p);
    if (p.pos != len) {
        json_decref(root);
        return -EINVAL;
    }
    *ret = root;
    return 0;
}
