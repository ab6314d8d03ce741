/* Request files (PISTON-API.md 3.1, rows 10-12 of 2.3): names, duplicates, decoding, quota.
 * Everything is decided here, before the engine creates a single file. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "codec-internal.h"
#include "path-util.h"

#define BLOCK_SIZE 4096 /* tmpfs allocates whole pages */
#define BOX_DIRS 3      /* submission/, tmp/, shm/ */

enum file_encoding { FILE_UTF8, FILE_BASE64, FILE_HEX };

/* Per request index, before the kept files move into the request. */
struct file_set {
    size_t n;
    char **names;           /* normalised */
    struct eng_file *files; /* decoded content */
    bool *dropped;          /* a later file has the same name */
    size_t n_dirs;          /* distinct parent directories of the names */
};

static void file_set_done(struct file_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->names)
            free(s->names[i]);
        if (s->files)
            free(s->files[i].content);
    }
    free(s->names);
    free(s->files);
    free(s->dropped);
}

/* Row 10, per name. Returns 0 (valid), 1 (bad name) or -ENOMEM. */
static int normalise_name(json_t *f, size_t i, char **ret)
{
    json_t *v = json_object_get(f, "name");
    int r;

    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return asprintf(ret, "file%zu.code", i) < 0 ? -ENOMEM : 0;
    if (!json_is_string(v))
        return 1;
    r = path_normalize_request_name(json_string_value(v), json_string_length(v), ret);
    if (r == -EINVAL)
        return 1;
    return r;
}

/* Byte order with '/' below every other byte: a name's descendants ("a/...") then sort
 * directly after it, before siblings such as "a-b" or "a.c". */
static int path_compare(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;

        if (ca == cb) {
            if (ca == 0)
                return 0;
            continue;
        }
        ca = ca == 0 ? 0 : ca == '/' ? 1 : ca + 1;
        cb = cb == 0 ? 0 : cb == '/' ? 1 : cb + 1;
        return ca - cb;
    }
}

static int index_compare(const void *x, const void *y, void *userdata)
{
    char **names = userdata;
    size_t a = *(const size_t *)x, b = *(const size_t *)y;
    int c = path_compare(names[a], names[b]);

    if (c != 0)
        return c;
    return a < b ? -1 : a > b;
}

static bool is_dir_prefix(const char *dir, size_t len, const char *name)
{
    return strncmp(name, dir, len) == 0 && name[len] == '/';
}

static size_t count_slashes(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '/';
    return n;
}

/* Directories two names share: the '/' inside their common prefix. */
static size_t common_dirs(const char *a, const char *b)
{
    size_t n = 0;

    for (; *a && *a == *b; a++, b++)
        n += *a == '/';
    return n;
}

/* A distinct name and the smallest request index among it and its descendants. */
struct frame {
    const char *name;
    size_t len;
    size_t own_min, sub_min; /* sub_min: SIZE_MAX while no descendant was seen */
};

/* A name that is also a directory of another conflicts; the later of the two is reported,
 * so a finished subtree yields the pair with the smallest later index. */
static void pop_frame(struct frame *stack, size_t *depth, size_t *conflict)
{
    struct frame *t = &stack[--*depth];

    if (t->sub_min != SIZE_MAX)
        *conflict = MIN(*conflict, MAX(t->own_min, t->sub_min));
    if (*depth > 0)
        stack[*depth - 1].sub_min = MIN(stack[*depth - 1].sub_min, MIN(t->own_min, t->sub_min));
}

/* Sorts the first k names (all valid), marks duplicates, counts directories and returns the
 * smallest index in conflict with an earlier name (k if none). O(k log k). */
static int check_tree(struct file_set *s, size_t k, size_t *ret_conflict)
{
    _cleanup_free_ size_t *order = calloc(k + 1, sizeof(size_t));
    _cleanup_free_ struct frame *stack = calloc(k + 1, sizeof(struct frame));
    size_t conflict = k, depth = 0, b;
    const char *prev = "";

    if (!order || !stack)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++)
        order[i] = i;
    qsort_r(order, k, sizeof(size_t), index_compare, s->names);
    for (size_t a = 0; a < k; a = b) {
        const char *name = s->names[order[a]];

        /* Equal names are adjacent, by index: all but the last are dropped (later wins). */
        for (b = a + 1; b < k && strcmp(s->names[order[b]], name) == 0; b++)
            s->dropped[order[b - 1]] = true;
        while (depth > 0 && !is_dir_prefix(stack[depth - 1].name, stack[depth - 1].len, name))
            pop_frame(stack, &depth, &conflict);
        stack[depth++] = (struct frame){name, strlen(name), order[a], SIZE_MAX};
        /* Sorted order visits each directory's names together: only directories not shared
         * with the previous name are new. */
        s->n_dirs += count_slashes(name) - common_dirs(prev, name);
        prev = name;
    }
    while (depth > 0)
        pop_frame(stack, &depth, &conflict);
    *ret_conflict = conflict;
    return 0;
}

/* Row 10: the first index with an invalid name or a name/directory clash. */
static int check_names(json_t *files, struct file_set *s, char **ret_message)
{
    size_t k = 0, conflict;
    int r;

    /* Names after the first invalid one cannot produce an earlier error: stop there. */
    for (; k < s->n; k++) {
        r = normalise_name(json_array_get(files, k), k, &s->names[k]);
        if (r < 0)
            return r;
        if (r > 0)
            break;
    }
    r = check_tree(s, k, &conflict);
    if (r < 0)
        return r;
    if (conflict < s->n)
        return api__codec_fail(ret_message, "files[%zu].name is not a valid file name", conflict);
    return 0;
}

static enum file_encoding file_encoding(json_t *f)
{
    json_t *v = json_object_get(f, "encoding");
    const char *s = json_string_value(v);

    if (s && json_string_length(v) == 6 && strcmp(s, "base64") == 0)
        return FILE_BASE64;
    if (s && json_string_length(v) == 3 && strcmp(s, "hex") == 0)
        return FILE_HEX;
    /* absent, "", "utf8", and any other value: Piston 3.1.1 normalises those to utf8 */
    return FILE_UTF8;
}

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-') /* standard and URL-safe alphabets */
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

static bool is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* RFC 4648, either alphabet, padding optional but correct when present, whitespace ignored
 * (WHATWG forgiving-base64). Unused trailing bits are not checked, as in Node. */
static int decode_base64(const char *s, size_t len, unsigned char *out, size_t *ret_len)
{
    size_t o = 0, data = 0, pad = 0;
    unsigned acc = 0, bits = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;

        if (is_ascii_space(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = base64_value(c);
        if (v < 0 || pad > 0)
            return -EINVAL;
        data++;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (data % 4 == 1 || (pad > 0 && (pad > 2 || (data + pad) % 4 != 0)))
        return -EINVAL;
    *ret_len = o;
    return 0;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int decode_hex(const char *s, size_t len, unsigned char *out, size_t *ret_len)
{
    if (len % 2 != 0)
        return -EINVAL;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value((unsigned char)s[i]), lo = hex_value((unsigned char)s[i + 1]);

        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *ret_len = len / 2;
    return 0;
}

/* Row 11, one file. Returns 0, 1 (content does not decode) or -ENOMEM. */
static int decode_content(json_t *f, struct eng_file *ret)
{
    json_t *v = json_object_get(f, "content");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v), out_len = len;
    enum file_encoding enc = file_encoding(f);
    _cleanup_free_ unsigned char *out = malloc(len + 1); /* decoding never grows */
    int r = 0;

    if (!out)
        return -ENOMEM;
    switch (enc) {
    case FILE_UTF8:
        memcpy(out, s, len);
        break;
    case FILE_BASE64:
        r = decode_base64(s, len, out, &out_len);
        break;
    case FILE_HEX:
        r = decode_hex(s, len, out, &out_len);
        break;
    }
    if (r < 0)
        return 1;
    out[out_len] = '\0';
    ret->content = TAKE_PTR(out);
    ret->len = out_len;
    ret->utf8 = enc == FILE_UTF8;
    return 0;
}

static int decode_contents(json_t *files, struct file_set *s, char **ret_message)
{
    int r;

    /* Every file is checked, dropped duplicates included: the rows describe the request. */
    for (size_t i = 0; i < s->n; i++) {
        r = decode_content(json_array_get(files, i), &s->files[i]);
        if (r < 0)
            return r;
        if (r > 0)
            return api__codec_fail(ret_message, "files[%zu].content is not valid %s", i,
                                   file_encoding(json_array_get(files, i)) == FILE_HEX ? "hex"
                                                                                       : "base64");
        if (s->dropped[i]) {
            free(s->files[i].content);
            s->files[i].content = NULL;
        }
    }
    return 0;
}

/* Row 12: the box tmpfs must hold the files, their directories and the box's own three
 * directories, so a request that cannot fit fails before anything is written. */
static int check_quota(const struct file_set *s, const struct eng_config *cfg, char **ret_message)
{
    uint64_t inodes = BOX_DIRS + s->n_dirs, bytes = BOX_DIRS * BLOCK_SIZE;

    for (size_t i = 0; i < s->n; i++) {
        if (s->dropped[i])
            continue;
        inodes++;
        bytes += (s->files[i].len + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE;
    }
    /* 0 in a hand-built configuration means "not limited". */
    if ((cfg->tmpfs_inodes > 0 && inodes > cfg->tmpfs_inodes) ||
        (cfg->tmpfs_size > 0 && bytes > cfg->tmpfs_size))
        return api__codec_fail(ret_message, "files exceed the sandbox disk quota");
    return 0;
}

/* The kept files, in request order, move into the request. */
static int move_files(struct file_set *s, struct eng_request *req)
{
    req->files = calloc(s->n + 1, sizeof(struct eng_file));
    if (!req->files)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        if (s->dropped[i])
            continue;
        req->files[req->n_files] = s->files[i];
        req->files[req->n_files].name = TAKE_PTR(s->names[i]);
        s->files[i].content = NULL;
        req->n_files++;
    }
    return 0;
}

int api__codec_decode_files(json_t *files, const struct eng_config *cfg, struct eng_request *req,
                            char **ret_message)
{
    _cleanup_(file_set_done) struct file_set s = {.n = json_array_size(files)};
    int r;

    s.names = calloc(s.n + 1, sizeof(char *));
    s.files = calloc(s.n + 1, sizeof(struct eng_file));
    s.dropped = calloc(s.n + 1, sizeof(bool));
    if (!s.names || !s.files || !s.dropped)
        return -ENOMEM;
    r = check_names(files, &s, ret_message);
    if (r < 0)
        return r;
    r = decode_contents(files, &s, ret_message);
    if (r < 0)
        return r;
    r = check_quota(&s, cfg, ret_message);
    if (r < 0)
        return r;
    return move_files(&s, req);
}
