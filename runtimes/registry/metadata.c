/* metadata.json / pkg-info.json (PISTON-API.md 5.3). Piston reads these with JSON.parse and
 * trusts them; we check every type so one broken package is skipped, not half-loaded. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* JSON null counts as absent, as it is falsy in Piston's JavaScript. */
static json_t *get_field(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_null(v) ? NULL : v;
}

static int get_language(const json_t *obj, const char *where, char **ret, char **reterr)
{
    json_t *v = get_field(obj, "language");

    if (!json_is_string(v))
        return rt__fail(reterr, "%s\"language\" must be a string", where);
    if (json_string_length(v) == 0)
        return rt__fail(reterr, "%s\"language\" is empty", where);
    *ret = strdup(json_string_value(v));
    return *ret ? 0 : -ENOMEM;
}

static int get_aliases(const json_t *obj, const char *where, char ***ret, char **reterr)
{
    _cleanup_(rt__strv_freep) char **aliases = calloc(1, sizeof(char *));
    json_t *v = get_field(obj, "aliases"), *item;
    size_t i;
    int r;

    if (!aliases)
        return -ENOMEM;
    if (v && !json_is_array(v))
        return rt__fail(reterr, "%s\"aliases\" must be an array of strings", where);
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return rt__fail(reterr, "%s\"aliases\"[%zu] must be a string", where, i);
        r = rt__strv_push(&aliases, json_string_value(item));
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(aliases);
    return 0;
}

/* Values are integers (a JSON number with a fraction is refused); keys are the 4.2 names. */
static int get_limits(const json_t *obj, const char *where, int64_t limits[RT_LIMIT_COUNT],
                      char **reterr)
{
    json_t *v = get_field(obj, "limit_overrides"), *value;
    const char *key;

    if (!v)
        return 0;
    if (!json_is_object(v))
        return rt__fail(reterr, "%s\"limit_overrides\" must be an object", where);
    json_object_foreach(v, key, value)
    {
        enum rt_limit limit;
        double d;

        if (rt_limit_from_name(key, &limit) < 0)
            return rt__fail(reterr, "%s\"limit_overrides\" has unknown key \"%s\"", where, key);
        if (json_is_integer(value)) {
            limits[limit] = json_integer_value(value);
            continue;
        }
        d = json_is_real(value) ? json_real_value(value) : 0.5;
        /* The range check comes first: converting an out-of-range double is undefined. */
        if (!(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d)
            return rt__fail(reterr, "%s\"limit_overrides\".%s must be an integer", where, key);
        limits[limit] = (int64_t)d;
    }
    return 0;
}

static int parse_provides(const json_t *root, struct rt__package *pkg, char **reterr)
{
    json_t *v = get_field(root, "provides"), *item;
    size_t i;
    int r;

    if (!v)
        return 0;
    if (!json_is_array(v))
        return rt__fail(reterr, "\"provides\" must be an array");
    pkg->has_provides = true;
    pkg->provides = calloc(json_array_size(v) + 1, sizeof(struct rt__provide));
    if (!pkg->provides)
        return -ENOMEM;
    json_array_foreach(v, i, item)
    {
        struct rt__provide *p = &pkg->provides[i];
        char where[64];

        (void)snprintf(where, sizeof(where), "\"provides\"[%zu]: ", i);
        if (!json_is_object(item))
            return rt__fail(reterr, "%smust be an object", where);
        pkg->n_provides++; /* counted before filling so a half-built entry is freed */
        r = get_language(item, where, &p->language, reterr);
        if (r < 0)
            return r;
        r = get_aliases(item, where, &p->aliases, reterr);
        if (r < 0)
            return r;
        r = get_limits(item, where, p->limits, reterr);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_version(const json_t *root, struct rt__package *pkg, char **reterr)
{
    json_t *v = get_field(root, "version");

    if (!json_is_string(v))
        return rt__fail(reterr, "\"version\" must be a string");
    pkg->version = strdup(json_string_value(v));
    if (!pkg->version)
        return -ENOMEM;
    if (rt_semver_parse(pkg->version, &pkg->semver) < 0)
        return rt__fail(reterr, "\"version\" \"%s\" is not a valid semver version", pkg->version);
    return 0;
}

int rt__package_parse(const char *text, size_t len, struct rt__package **ret, char **reterr)
{
    _cleanup_(rt__package_freep) struct rt__package *pkg = NULL;
    json_auto_t *root = NULL;
    json_error_t jerr;
    json_t *platform;
    int r;

    root = json_loadb(text, len, 0, &jerr);
    if (!root)
        return rt__fail(reterr, "invalid JSON at line %d: %s", jerr.line, jerr.text);
    if (!json_is_object(root))
        return rt__fail(reterr, "not a JSON object");
    pkg = calloc(1, sizeof(*pkg));
    if (!pkg)
        return -ENOMEM;
    r = get_language(root, "", &pkg->language, reterr);
    if (r < 0)
        return r;
    r = parse_version(root, pkg, reterr);
    if (r < 0)
        return r;
    r = get_aliases(root, "", &pkg->aliases, reterr);
    if (r < 0)
        return r;
    r = get_limits(root, "", pkg->limits, reterr);
    if (r < 0)
        return r;
    r = parse_provides(root, pkg, reterr);
    if (r < 0)
        return r;
    platform = get_field(root, "build_platform");
    if (json_is_string(platform)) {
        pkg->build_platform = strdup(json_string_value(platform));
        if (!pkg->build_platform)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(pkg);
    return 0;
}

struct rt__package *rt__package_free(struct rt__package *pkg)
{
    if (!pkg)
        return NULL;
    for (size_t i = 0; i < pkg->n_provides; i++) {
        free(pkg->provides[i].language);
        rt__strv_free(pkg->provides[i].aliases);
    }
    free(pkg->provides);
    free(pkg->language);
    free(pkg->version);
    rt_semver_done(&pkg->semver);
    rt__strv_free(pkg->aliases);
    free(pkg->build_platform);
    free(pkg);
    return NULL;
}
