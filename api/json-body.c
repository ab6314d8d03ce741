/* Request bodies (PISTON-API.md 2.1 step 2), parsed so that what Piston's body-parser and
 * JSON.parse accept is accepted here too. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json-fast.h"
#include "macro.h"
#include "swar.h"
#include "utf8.h"

/* JavaScript numbers are doubles: integers of any size are read as reals (jansson would fail
 * the document on one >= 2^63), and strings may hold U+0000. Without JSON_DECODE_ANY the
 * top level must be an object or array, as body-parser's strict mode requires. */
#define BODY_FLAGS (JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

static bool is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static size_t skip_digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* True if s[0..n) is exactly one JSON number (RFC 8259 grammar): only those are rewritten,
 * so a malformed token keeps jansson's own error. */
static bool is_json_number(const char *s, size_t n)
{
    size_t i = 0, j;

    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        i = skip_digits(s, i, n);
    else
        return false;
    if (i < n && s[i] == '.') {
        j = skip_digits(s, i + 1, n);
        if (j == i + 1)
            return false;
        i = j;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        j = skip_digits(s, i, n);
        if (j == i)
            return false;
        i = j;
    }
    return i == n;
}

/* JSON.parse reads 1e400 as Infinity where jansson fails ("real number overflow"). Any value
 * above 2^63 gets the same answer in validation, so an overflowing number is replaced in
 * place by +-1e300, padded with spaces: the text keeps its length and error positions. */
static int clamp_number(char *tok, size_t n)
{
    _cleanup_free_ char *copy = NULL;
    const char *big;
    double v;

    if (!is_json_number(tok, n))
        return 0;
    copy = strndup(tok, n);
    if (!copy)
        return -ENOMEM;
    errno = 0;
    v = strtod(copy, NULL);
    if (errno != ERANGE || !isinf(v))
        return 0;
    big = v < 0 ? "-1e300" : "1e300"; /* an overflowing token is never shorter than this */
    memset(tok, ' ', n);
    memcpy(tok, big, strlen(big));
    return 0;
}

static int clamp_overflowing_numbers(char *s, size_t len)
{
    size_t i = 0, j;
    int r;

    while (i < len) {
        if (s[i] == '"') {
            /* Skip the string, escapes included: its content is never a number. */
            for (i++; i < len && s[i] != '"'; i++)
                if (s[i] == '\\')
                    i++;
            i++;
        } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
            for (j = i; j < len && is_number_char(s[j]); j++)
                ;
            r = clamp_number(s + i, j - i);
            if (r < 0)
                return r;
            i = j;
        } else {
            i++;
        }
    }
    return 0;
}

static json_t *load(const char *body, size_t len, json_error_t *err, int *ret_errno)
{
    _cleanup_free_ char *copy = NULL;
    json_t *root;

    *ret_errno = api__json_parse_fast(body, len, &root);
    if (*ret_errno == 0)
        return root;
    if (*ret_errno != -EINVAL)
        return NULL;
    *ret_errno = 0;
    root = json_loadb(body, len, BODY_FLAGS, err);
    if (root || json_error_code(err) != json_error_numeric_overflow)
        return root;
    /* The rare path: only now pay for a writable copy. */
    copy = malloc(len);
    if (!copy) {
        *ret_errno = -ENOMEM;
        return NULL;
    }
    memcpy(copy, body, len);
    *ret_errno = clamp_overflowing_numbers(copy, len);
    if (*ret_errno < 0)
        return NULL;
    return json_loadb(copy, len, BODY_FLAGS, err);
}

int api_body_parse_json(const char *body, size_t len, json_t **ret, char **ret_detail)
{
    _cleanup_free_ char *fixed = NULL;
    json_error_t err;
    json_t *root;
    int r;

    /* body-parser decodes through iconv, which drops a UTF-8 byte order mark. */
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        body += 3;
        len -= 3;
    }
    if (len == 0) {
        /* An empty JSON body is a common client mistake; body-parser answers it with {}. */
        root = json_object();
        if (!root)
            return -ENOMEM;
        *ret = root;
        return 0;
    }
    /* ... and that decoding turns invalid UTF-8 into U+FFFD instead of failing. */
    if (!utf8_is_valid(body, len)) {
        r = utf8_sanitize(body, len, &fixed, &len);
        if (r < 0)
            return r;
        body = fixed;
    }
    root = load(body, len, &err, &r);
    if (r < 0)
        return r;
    if (!root) {
        if (json_error_code(&err) == json_error_out_of_memory)
            return -ENOMEM;
        if (asprintf(ret_detail, "%s at position %d", err.text, err.position) < 0)
            return -ENOMEM;
        return -EBADMSG;
    }
    *ret = root;
    return 0;
}

/* A body is an object or array (step 2): its first value opens with '{' or '[', and every
 * other value follows a ',', '[', '{' or ':' outside strings. Counting those bounds the
 * values jansson would allocate (~100 bytes each). */
bool api_body_json_too_complex(const char *body, size_t len, size_t max_values)
{
    size_t values = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = body[i];

        if (in_string) {
            /* Strings are most of a big body (stdin, files): skip them a word at a time. */
            while (i + 8 <= len && !swar_has_byte(swar_load(body + i), '"') &&
                   !swar_has_byte(swar_load(body + i), '\\'))
                i += 8;
            if (i >= len)
                break;
            c = body[i];
            if (c == '\\')
                i++; /* the escaped byte cannot end the string */
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == ',' || c == '[' || c == '{' || c == ':') {
            if (++values > max_values)
                return true;
        }
    }
    return false;
}
