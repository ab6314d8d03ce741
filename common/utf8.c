/* UTF-8 validation and repair following the WHATWG decoder (Unicode "maximal subpart"
 * practice), which is also what Node's Buffer#toString and Python's errors='replace' do, so
 * output converted here matches what Piston clients have always seen. */
#include "utf8.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "swar.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Expected length of the sequence led by `b`, or 0 for a byte that can never start one
 * (continuation bytes, C0/C1 which only encode overlong ASCII, F5..FF beyond U+10FFFF). */
static size_t lead_length(unsigned char b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

/* Allowed range of the second byte: the lead byte narrows it to exclude overlong forms
 * (E0, F0), UTF-16 surrogates (ED) and code points above U+10FFFF (F4). */
static void second_range(unsigned char lead, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (lead == 0xE0)
        *lo = 0xA0;
    else if (lead == 0xED)
        *hi = 0x9F;
    else if (lead == 0xF0)
        *lo = 0x90;
    else if (lead == 0xF4)
        *hi = 0x8F;
}

/* Number of bytes at `s` forming a valid (possibly incomplete) prefix of one sequence: equal
 * to *ret_need when the sequence is complete. 0 when s[0] cannot start a sequence. */
static size_t valid_prefix(const unsigned char *s, size_t len, size_t *ret_need)
{
    size_t need = lead_length(s[0]), n;
    unsigned char lo, hi;

    *ret_need = need;
    if (need <= 1)
        return need;
    second_range(s[0], &lo, &hi);
    for (n = 1; n < need && n < len; n++) {
        if (s[n] < lo || s[n] > hi)
            break;
        lo = 0x80;
        hi = 0xBF;
    }
    return n;
}

/* Program output and request bodies are mostly ASCII: skip it a word at a time. */
static size_t ascii_prefix(const unsigned char *p, size_t len)
{
    size_t i = 0;

    while (i + 8 <= len && (swar_load(p + i) & SWAR_HIGHS) == 0)
        i += 8;
    while (i < len && p[i] < 0x80)
        i++;
    return i;
}

bool utf8_is_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, need, n;

    while (i < len) {
        if (p[i] < 0x80) {
            i += ascii_prefix(p + i, len - i);
            continue;
        }
        n = valid_prefix(p + i, len - i, &need);
        if (n == 0 || n != need)
            return false;
        i += n;
    }
    return true;
}

size_t utf8_trim_incomplete_tail(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t need, n;

    /* A cut sequence has at most 3 bytes: find its lead among the last three. */
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        size_t start = len - back;

        if ((p[start] & 0xC0) == 0x80)
            continue; /* continuation byte: the lead is further back */
        n = valid_prefix(p + start, back, &need);
        if (need > back && n == back)
            return start;
        return len;
    }
    return len;
}

int utf8_sanitize(const char *in, size_t len, char **ret, size_t *ret_len)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0, need, n;
    char *out;

    if (utf8_is_valid(in, len)) {
        /* The common case: program output is text. */
        out = malloc(len + 1);
        if (!out)
            return -ENOMEM;
        memcpy(out, in, len);
        out[len] = '\0';
        *ret = out;
        if (ret_len)
            *ret_len = len;
        return 0;
    }
    /* Worst case every byte becomes a 3-byte U+FFFD. */
    if (len > (SIZE_MAX - 1) / 3)
        return -ENOMEM;
    out = malloc(len * 3 + 1);
    if (!out)
        return -ENOMEM;
    while (i < len) {
        if (p[i] < 0x80) {
            out[o++] = (char)p[i++];
            continue;
        }
        n = valid_prefix(p + i, len - i, &need);
        if (n > 0 && n == need) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        /* One replacement for the maximal valid prefix (at least the offending byte); the
         * byte that broke the sequence is examined again as a possible lead. */
        memcpy(out + o, replacement, 3);
        o += 3;
        i += n > 0 ? n : 1;
    }
    out[o] = '\0';
    *ret = out;
    if (ret_len)
        *ret_len = o;
    return 0;
}

/* Length of the prefix of p that goes into a JSON string unchanged: plain ASCII and complete,
 * valid UTF-8 sequences. It stops at a byte to escape or an invalid sequence. */
static size_t json_plain_run(const unsigned char *p, size_t len)
{
    size_t i = 0, need, n;

    for (;;) {
        /* ASCII only here: other bytes are checked as UTF-8 below. */
        while (i + 8 <= len && (swar_load(p + i) & SWAR_HIGHS) == 0 &&
               swar_json_string_safe(swar_load(p + i)))
            i += 8;
        if (i >= len)
            return len;
        if (p[i] >= 0x80) {
            n = valid_prefix(p + i, len - i, &need);
            if (n == 0 || n != need)
                return i;
            i += n;
        } else if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\') {
            return i;
        } else {
            i++;
        }
    }
}

/* jansson's escapes (dump.c, no JSON_ENSURE_ASCII, no JSON_ESCAPE_SLASH), so responses keep
 * their bytes: the short forms where JSON has one, else \u00XX in upper-case hex. */
static int json_escape_byte(struct strbuf *sb, unsigned char c)
{
    char seq[8];
    long r;

    switch (c) {
    case '"':
        r = strbuf_append(sb, "\\\"", 2);
        break;
    case '\\':
        r = strbuf_append(sb, "\\\\", 2);
        break;
    case '\b':
        r = strbuf_append(sb, "\\b", 2);
        break;
    case '\f':
        r = strbuf_append(sb, "\\f", 2);
        break;
    case '\n':
        r = strbuf_append(sb, "\\n", 2);
        break;
    case '\r':
        r = strbuf_append(sb, "\\r", 2);
        break;
    case '\t':
        r = strbuf_append(sb, "\\t", 2);
        break;
    default:
        (void)snprintf(seq, sizeof(seq), "\\u%04X", (unsigned)c);
        r = strbuf_append(sb, seq, 6);
        break;
    }
    return r < 0 ? (int)r : 0;
}

int utf8_append_json_string(struct strbuf *sb, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run, need, n;
    long r;

    /* One reservation for the common case (nothing to escape): no regrowth, no copy. */
    if (len > SIZE_MAX - 3 || strbuf_reserve(sb, len + 2) < 0)
        return -ENOMEM;
    r = strbuf_append(sb, "\"", 1);
    while (r >= 0 && i < len) {
        run = json_plain_run(p + i, len - i);
        if (run > 0) {
            r = strbuf_append(sb, p + i, run);
            i += run;
            continue;
        }
        if (p[i] < 0x80) {
            r = json_escape_byte(sb, p[i]);
            i++;
            continue;
        }
        /* As utf8_sanitize: one U+FFFD per maximal invalid subpart. */
        n = valid_prefix(p + i, len - i, &need);
        r = strbuf_append(sb, replacement, 3);
        i += n > 0 ? n : 1;
    }
    if (r >= 0)
        r = strbuf_append(sb, "\"", 1);
    return r < 0 ? (int)r : 0;
}
