/* The job's stdin: `data` bytes go into a non-blocking pipe whose read end is the run
 * stage's fd 0. While the pipe is full they wait in a buffer, and past WS_STDIN_HIGH the
 * socket is not read any more (the client waits; nothing grows without bound). `eof`
 * closes the write end once the buffer is through. Loop thread only. */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fd-util.h"
#include "ws-internal.h"

void ws__stdin_close(struct ws_conn *c)
{
    ws__unwatch(c, c->stdin_w, &c->stdin_watched);
    c->stdin_w = safe_close(c->stdin_w);
    strbuf_done(&c->stdin_buf);
    c->stdin_off = 0;
}

void ws__stdin_flush(struct ws_conn *c)
{
    while (c->stdin_w >= 0 && c->stdin_off < c->stdin_buf.len) {
        ssize_t k =
            write(c->stdin_w, c->stdin_buf.data + c->stdin_off, c->stdin_buf.len - c->stdin_off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            break;
        if (k < 0) { /* nobody will read it any more */
            ws__stdin_close(c);
            return;
        }
        c->stdin_off += (size_t)k;
    }
    if (c->stdin_w < 0)
        return;
    if (c->stdin_off == c->stdin_buf.len) {
        c->stdin_buf.len = c->stdin_off = 0;
        ws__unwatch(c, c->stdin_w, &c->stdin_watched);
        if (c->stdin_eof)
            ws__stdin_close(c); /* the program reads EOF after the last byte */
        return;
    }
    ws__watch(c, c->stdin_w, &c->w_stdin, EPOLLOUT, &c->stdin_watched);
}

void ws__stdin_write(struct ws_conn *c, const char *data, size_t len)
{
    if (c->stdin_w < 0 || c->stdin_eof || len == 0)
        return; /* after eof, or the job is over: nobody reads it */
    if (c->stdin_off > 0 && c->stdin_off == c->stdin_buf.len)
        c->stdin_buf.len = c->stdin_off = 0;
    if (strbuf_append(&c->stdin_buf, data, len) < 0) {
        ws__close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "Out of memory");
        return;
    }
    ws__stdin_flush(c);
}

void ws__stdin_eof(struct ws_conn *c)
{
    c->stdin_eof = true;
    ws__stdin_flush(c);
}
