/* Network probe run inside a box (tests/security): interfaces and counters, then attempts to
 * reach the outside, the host and the daemon, to resolve a name, to bring `lo` up and to open
 * packet and raw sockets. Arguments: tcp targets "<ip>:<port>" ([v6] without brackets).
 * Prints key=value lines; netprobe.py prints the same keys. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *ename(int e)
{
    static char buf[16];
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

static void netdev(const char *key)
{
    FILE *f = fopen("/proc/net/dev", "re");
    char line[512];
    int n = 0;

    if (!f) {
        printf("%s=%s\n", key, ename(errno));
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        char name[64];
        unsigned long long v[16];
        if (++n <= 2)
            continue;
        if (sscanf(line, " %63[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 11)
            printf("%s:%s=%llu,%llu,%llu,%llu\n", key, name, v[0], v[1], v[8], v[9]);
    }
    fclose(f);
}

static int parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(spec, ':');

    memset(ss, 0, sizeof(*ss));
    if (!colon || (size_t)(colon - spec) >= sizeof(host))
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(colon + 1));
        *len = sizeof(*s6);
        return inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)atoi(colon + 1));
    *len = sizeof(*s4);
    return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1;
}

static void tcp(const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, r, err = 0;

    if (parse_addr(spec, &ss, &len) < 0) {
        printf("tcp:%s=EINVAL\n", spec);
        return;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("tcp:%s=%s\n", spec, ename(errno));
        return;
    }
    r = connect(fd, (struct sockaddr *)&ss, len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        socklen_t el = sizeof(err);
        if (poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0)
            r = err ? -1 : 0;
        else
            err = ETIMEDOUT;
        errno = err;
    }
    printf("tcp:%s=%s\n", spec, r < 0 ? ename(errno) : "connected");
    close(fd);
}

static void udp(const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;

    parse_addr(spec, &ss, &len);
    fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("udp:%s=%s\n", spec, ename(errno));
        return;
    }
    printf("udp:%s=%s\n", spec,
           sendto(fd, "\0\0\1\0\0\1\0\0\0\0\0\0", 12, 0, (struct sockaddr *)&ss, len) < 0
               ? ename(errno)
               : "sent");
    close(fd);
}

static void dns(const char *name)
{
    struct addrinfo *ai = NULL, hints = {.ai_socktype = SOCK_STREAM};
    int r = getaddrinfo(name, "80", &hints, &ai);

    if (r == 0) {
        printf("dns:%s=ok\n", name);
        freeaddrinfo(ai);
    } else {
        printf("dns:%s=fail\n", name);
    }
}

static void lo_flags(void)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    strcpy(ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        printf("lo_up=%s\n", ename(errno));
    else
        printf("lo_up=%d\n", (ifr.ifr_flags & IFF_UP) ? 1 : 0);
    if (fd >= 0)
        close(fd);
}

static void link_up(void)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = {
        .nh = {.nlmsg_len = sizeof(req),
               .nlmsg_type = RTM_NEWLINK,
               .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
               .nlmsg_seq = 1},
        .ifi = {.ifi_family = AF_UNSPEC,
                .ifi_index = (int)if_nametoindex("lo"),
                .ifi_flags = IFF_UP,
                .ifi_change = IFF_UP},
    };
    char buf[4096];
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    ssize_t k;

    if (fd < 0) {
        printf("link_up=%s\n", ename(errno));
        return;
    }
    if (send(fd, &req, sizeof(req), 0) < 0) {
        printf("link_up=%s\n", ename(errno));
    } else if ((k = recv(fd, buf, sizeof(buf), 0)) < (ssize_t)sizeof(struct nlmsghdr)) {
        printf("link_up=%s\n", k < 0 ? ename(errno) : "short");
    } else {
        struct nlmsghdr *nh = (struct nlmsghdr *)buf;
        struct nlmsgerr *e = NLMSG_DATA(nh);
        printf("link_up=%s\n", nh->nlmsg_type == NLMSG_ERROR && e->error ? ename(-e->error) : "ok");
    }
    close(fd);
}

int main(int argc, char **argv)
{
    struct if_nameindex *ifs = if_nameindex(), *i;
    int fd;

    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    netdev("netdev");
    printf("ifaces=");
    for (i = ifs; i && i->if_index; i++)
        printf("%s%s", i == ifs ? "" : ",", i->if_name);
    printf("\n");
    if (ifs)
        if_freenameindex(ifs);
    lo_flags();
    for (int a = 1; a < argc; a++)
        tcp(argv[a]);
    udp("1.1.1.1:53");
    udp("127.0.0.1:53");
    dns("example.com");
    dns("localhost.localdomain.invalid");
    link_up();
    fd = socket(AF_PACKET, SOCK_RAW, 0);
    printf("packet=%s\n", fd < 0 ? ename(errno) : "opened");
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    printf("raw=%s\n", fd < 0 ? ename(errno) : "opened");
    lo_flags();
    netdev("netdev_after");
    return 0;
}
