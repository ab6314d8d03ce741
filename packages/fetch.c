/* Downloads through libcurl: the index into memory, a package into a file while hashing it.
 * One easy handle per call (handles are not shared between threads); CURLOPT_NOSIGNAL
 * because the daemon is multi-threaded and blocks its signals. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "digest.h"
#include "fd-util.h"
#include "macro.h"
#include "packages.h"
#include "strbuf.h"

/* A stalled server (a few bytes a minute) must not hold a request forever even when no
 * overall timeout is set: below 1 KiB/s for this long aborts. */
#define LOW_SPEED_BYTES 1024L
#define LOW_SPEED_SECONDS 60L
#define MAX_REDIRECTS 10L

struct sink {
    const struct pkg_fetch_options *opts;
    uint64_t received;
    bool too_big;
    int write_error; /* -errno from the file */
    struct strbuf *mem;
    int fd;
    struct digest_sha256 sha;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;
    int r;

    if (s->received + n > s->opts->max_bytes) {
        s->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    s->received += n;
    if (s->mem) {
        if (strbuf_append(s->mem, data, n) < 0) {
            s->write_error = -ENOMEM;
            return 0;
        }
        return n;
    }
    digest_sha256_update(&s->sha, data, n);
    r = write_all(s->fd, data, n);
    if (r < 0) {
        s->write_error = r;
        return 0;
    }
    return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct sink *s = userdata;

    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return s->opts->cancel && atomic_load(s->opts->cancel) ? 1 : 0;
}

/* libcurl's own socket() has no SOCK_CLOEXEC: a helper spawned meanwhile (an install's
 * `environment` script) would inherit the connection. */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)userdata, (void)purpose;
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

int pkg_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void pkg_fetch_global_done(void)
{
    curl_global_cleanup();
}

static int set_protocols(CURL *h, bool allow_file)
{
    /* Redirects never lead to file:// (or anything but HTTP): a remote index cannot make us
     * read local files. */
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the string forms; the bitmasks are deprecated */
    if (curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, allow_file ? "http,https,file" : "http,https") ||
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"))
        return -EIO;
#else
    long all = CURLPROTO_HTTP | CURLPROTO_HTTPS;
    if (curl_easy_setopt(h, CURLOPT_PROTOCOLS, allow_file ? all | CURLPROTO_FILE : all) ||
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, all))
        return -EIO;
#endif
    return 0;
}

/* An if-chain, not a switch: libcurl's code enum has ~100 values (-Wswitch-enum). */
static int result_errno(CURLcode c)
{
    if (c == CURLE_OPERATION_TIMEDOUT)
        return -ETIMEDOUT;
    if (c == CURLE_UNSUPPORTED_PROTOCOL)
        return -EPROTONOSUPPORT;
    if (c == CURLE_ABORTED_BY_CALLBACK)
        return -ECANCELED;
    if (c == CURLE_FILESIZE_EXCEEDED)
        return -EFBIG;
    if (c == CURLE_OUT_OF_MEMORY)
        return -ENOMEM;
    return -EIO;
}

static int fetch(const char *url, const struct pkg_fetch_options *opts, struct sink *s,
                 char **reterr)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode c = CURLE_FAILED_INIT;
    CURL *h = curl_easy_init();
    int r;

    if (!h)
        return -ENOMEM;
    r = set_protocols(h, opts->allow_file);
    if (r >= 0 &&
        (curl_easy_setopt(h, CURLOPT_URL, url) || curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
         curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) ||
         curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) ||
         curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS) ||
         curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L) ||
         curl_easy_setopt(h, CURLOPT_USERAGENT, "capsuled/" CAPSULE_VERSION) ||
         curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms) ||
         curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)opts->connect_timeout_ms) ||
         curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES) ||
         curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECONDS) ||
         curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opts->max_bytes) ||
         curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) ||
         curl_easy_setopt(h, CURLOPT_WRITEDATA, s) ||
         curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket) ||
         curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) ||
         curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) ||
         curl_easy_setopt(h, CURLOPT_XFERINFODATA, s)))
        r = -EIO;
    if (r >= 0)
        c = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (r < 0) {
        *reterr = strdup("cannot set up the transfer");
        return r;
    }
    if (c == CURLE_OK)
        return 0;
    if (s->too_big || c == CURLE_FILESIZE_EXCEEDED) {
        r = asprintf(reterr, "larger than the limit of %llu bytes",
                     (unsigned long long)opts->max_bytes);
        if (r < 0)
            *reterr = NULL;
        return -EFBIG;
    }
    if (s->write_error < 0) {
        *reterr = strdup(strerror(-s->write_error));
        return s->write_error;
    }
    *reterr = strdup(errbuf[0] ? errbuf : curl_easy_strerror(c));
    return result_errno(c);
}

int pkg_fetch_memory(const char *url, const struct pkg_fetch_options *opts, char **ret,
                     size_t *ret_len, char **reterr)
{
    struct strbuf mem = {0};
    struct sink s = {.opts = opts, .mem = &mem, .fd = -1};
    int r;

    r = fetch(url, opts, &s, reterr);
    if (r < 0) {
        strbuf_done(&mem);
        return r;
    }
    *ret = strbuf_steal(&mem, ret_len);
    return *ret ? 0 : -ENOMEM;
}

int pkg_fetch_file(const char *url, const struct pkg_fetch_options *opts, int fd,
                   char ret_sha256[65], char **reterr)
{
    static const char hex[] = "0123456789abcdef";
    struct sink s = {.opts = opts, .fd = fd};
    uint8_t sum[DIGEST_SHA256_SIZE];
    int r;

    digest_sha256_init(&s.sha);
    r = fetch(url, opts, &s, reterr);
    if (r < 0)
        return r;
    digest_sha256_final(&s.sha, sum);
    for (size_t i = 0; i < sizeof(sum); i++) {
        ret_sha256[2 * i] = hex[sum[i] >> 4];
        ret_sha256[2 * i + 1] = hex[sum[i] & 15];
    }
    ret_sha256[64] = '\0';
    return 0;
}
