#include "parse-util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int parse_int64(const char *s, int64_t *ret)
{
    bool negative = s[0] == '-';
    uint64_t v = 0, limit;
    const char *p = s + negative;

    if (*p == '\0')
        return -EINVAL;
    /* Magnitude limit: 2^63 - 1, or 2^63 for a negative value. */
    limit = (uint64_t)INT64_MAX + negative;
    for (; *p; p++) {
        unsigned d;

        if (*p < '0' || *p > '9')
            return -EINVAL;
        d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10) {
            /* Keep scanning: "99999999999999999999x" is malformed before it is too big. */
            for (p++; *p; p++)
                if (*p < '0' || *p > '9')
                    return -EINVAL;
            return -ERANGE;
        }
        v = v * 10 + d;
    }
    if (negative)
        *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *ret = (int64_t)v;
    return 0;
}

bool parse_fail_safe_true(const char *s)
{
    static const char *const off[] = {"false", "0", "no"};

    if (!s)
        return true;
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
        if (strcasecmp(s, off[i]) == 0)
            return false;
    return true;
}

static int parse_port(const char *s, uint16_t *ret)
{
    int64_t v;
    int r;

    /* parse_int64 accepts '-': a port never has one. */
    if (s[0] == '-')
        return -EINVAL;
    r = parse_int64(s, &v);
    if (r < 0)
        return -EINVAL;
    if (v > UINT16_MAX)
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

/* Host part without brackets: an IPv6 literal, or a name/IPv4 address without ':' and without
 * characters no resolver accepts. */
static bool host_is_valid(const char *host, size_t len, bool bracketed)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a6;

    if (len == 0)
        return false;
    if (bracketed) {
        if (len >= sizeof(buf))
            return false;
        memcpy(buf, host, len);
        buf[len] = '\0';
        return inet_pton(AF_INET6, buf, &a6) == 1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = host[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

int parse_bind_address(const char *s, char **ret_host, uint16_t *ret_port)
{
    const char *host = s, *colon;
    bool bracketed = s[0] == '[';
    size_t host_len;
    uint16_t port;
    char *h;

    if (bracketed) {
        const char *close = strchr(s, ']');

        if (!close || close[1] != ':')
            return -EINVAL;
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        host_len = (size_t)(colon - s);
    }
    if (!host_is_valid(host, host_len, bracketed) || parse_port(colon + 1, &port) < 0)
        return -EINVAL;
    h = strndup(host, host_len);
    if (!h)
        return -ENOMEM;
    *ret_host = h;
    *ret_port = port;
    return 0;
}
