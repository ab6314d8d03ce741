/* `capsuled --check`: an audit of the host without serving. It reads what the kernel offers
 * (version, namespaces, seccomp, cgroup controllers), then proves it the way startup does:
 * a sandbox context under a separate instance name (so a daemon already running here keeps
 * its cgroups and slots) with one slot on the last id of the configured ranges, and the
 * startup self-test box. Then every runtime with its probed version. Exit 0 when everything
 * a daemon needs is there, 1 otherwise. */
#include "check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "sandbox.h"

struct audit {
    FILE *out;
    unsigned problems;
};

static void line(struct audit *a, const char *tag, const char *fmt, ...) _printf_(3, 4);
static void line(struct audit *a, const char *tag, const char *fmt, ...)
{
    va_list ap;

    if (strcmp(tag, "FAIL") == 0)
        a->problems++;
    fprintf(a->out, "%-4s  ", tag);
    va_start(ap, fmt);
    vfprintf(a->out, fmt, ap);
    va_end(ap);
    fputc('\n', a->out);
}

/* clone3 and pidfds arrived in 5.3: the floor for the sandbox. */
static void check_kernel(struct audit *a)
{
    struct utsname u;
    unsigned major = 0, minor = 0;

    if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2) {
        line(a, "FAIL", "kernel: cannot read the version");
        return;
    }
    line(a, major > 5 || (major == 5 && minor >= 3) ? "ok" : "FAIL",
         "kernel: %s %s %s (5.3 or later needed: clone3, pidfds)", u.sysname, u.release, u.machine);
}

static void check_namespaces(struct audit *a)
{
    static const char *const needed[] = {"mnt", "pid", "ipc", "uts", "net"};
    char path[64], missing[64] = "";

    for (size_t i = 0; i < ARRAY_SIZE(needed); i++) {
        snprintf(path, sizeof(path), "/proc/self/ns/%s", needed[i]);
        if (access(path, F_OK) < 0)
            snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), " %s",
                     needed[i]);
    }
    if (missing[0])
        line(a, "FAIL", "namespaces: missing:%s", missing);
    else
        line(a, "ok", "namespaces: mnt pid ipc uts net");
}

/* The value of a "Key:\tvalue" line of /proc/self/status, or -1. */
static long status_field(const char *key)
{
    _cleanup_free_ char *text = NULL;
    const char *p;
    size_t n = strlen(key);
    int r;

    r = read_file_at(AT_FDCWD, "/proc/self/status", 1 << 16, &text, NULL);
    if (r < 0)
        return -1;
    for (p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, n) == 0 && p[n] == ':')
            return strtol(p + n + 1, NULL, 10);
    return -1;
}

static void check_seccomp(struct audit *a)
{
    long mode = status_field("Seccomp");

    if (access("/proc/sys/kernel/seccomp/actions_avail", R_OK) < 0) {
        line(a, "FAIL", "seccomp: filter mode not available (CONFIG_SECCOMP_FILTER)");
        return;
    }
    if (mode == 2)
        line(a, "warn",
             "seccomp: available; this process already runs under a filter "
             "(container runtime?): its rules also bind every box");
    else
        line(a, "ok", "seccomp: filter mode available");
}

/* Mount point and super options of the cgroup filesystems in /proc/self/mountinfo. */
static void cgroup_mounts(char *v2_mount, size_t v2_size, char *v1_list, size_t v1_size)
{
    _cleanup_free_ char *text = NULL;
    char *save = NULL;

    v2_mount[0] = v1_list[0] = '\0';
    if (read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 22, &text, NULL) < 0)
        return;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char mnt[256], fstype[32], opts[256];
        const char *sep = strstr(l, " - ");

        if (!sep || sscanf(l, "%*s %*s %*s %*s %255s", mnt) != 1 ||
            sscanf(sep + 3, "%31s %*s %255s", fstype, opts) != 2)
            continue;
        if (strcmp(fstype, "cgroup2") == 0 && !v2_mount[0])
            snprintf(v2_mount, v2_size, "%s", mnt);
        else if (strcmp(fstype, "cgroup") == 0) {
            /* "rw,nosuid,nodev,noexec,relatime,memory": the controllers follow the flags */
            const char *last = strrchr(opts, ',');
            snprintf(v1_list + strlen(v1_list), v1_size - strlen(v1_list), " %s",
                     last ? last + 1 : opts);
        }
    }
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0' || p[n] == '\n'))
            return true;
    return false;
}

static void check_cgroups(struct audit *a)
{
    _cleanup_free_ char *self = NULL, *controllers = NULL;
    char v2[256], v1[512], path[1024];
    const char *own;

    cgroup_mounts(v2, sizeof(v2), v1, sizeof(v1));
    if (v2[0] && read_file_at(AT_FDCWD, "/proc/self/cgroup", 1 << 16, &self, NULL) >= 0 &&
        (own = strstr(self, "0::"))) {
        snprintf(path, sizeof(path), "%s%.*s/cgroup.controllers", v2, (int)strcspn(own + 3, "\n"),
                 own + 3);
        (void)read_file_at(AT_FDCWD, path, 4096, &controllers, NULL);
    }
    if (controllers && has_word(controllers, "memory") && has_word(controllers, "pids")) {
        controllers[strcspn(controllers, "\n")] = '\0';
        line(a, "ok", "cgroup: v2 at %s, controllers here: %s", v2, controllers);
    } else if (has_word(v1, "memory") && has_word(v1, "pids")) {
        line(a, "ok", "cgroup: v1 hierarchies:%s", v1);
    } else {
        line(a, "FAIL", "cgroup: no hierarchy with memory and pids (v2 at %s, v1:%s)",
             v2[0] ? v2 : "none", v1[0] ? v1 : " none");
    }
}

/* Slot ids shared with a real account would let jobs act as that account. */
static void check_id_ranges(struct audit *a, const struct api_config *cfg)
{
    uid_t lo = cfg->eng.uid_min, hi = cfg->eng.uid_min + cfg->eng.max_concurrent_jobs - 1;
    gid_t glo = cfg->eng.gid_min, ghi = cfg->eng.gid_min + cfg->eng.max_concurrent_jobs - 1;
    char clash[256] = "";
    struct passwd *pw;
    struct group *gr;

    setpwent();
    while ((pw = getpwent()))
        if (pw->pw_uid >= lo && pw->pw_uid <= hi && strlen(clash) + strlen(pw->pw_name) < 200)
            snprintf(clash + strlen(clash), sizeof(clash) - strlen(clash), " user %s(%u)",
                     pw->pw_name, (unsigned)pw->pw_uid);
    endpwent();
    setgrent();
    while ((gr = getgrent()))
        if (gr->gr_gid >= glo && gr->gr_gid <= ghi && strlen(clash) + strlen(gr->gr_name) < 200)
            snprintf(clash + strlen(clash), sizeof(clash) - strlen(clash), " group %s(%u)",
                     gr->gr_name, (unsigned)gr->gr_gid);
    endgrent();
    if (clash[0])
        line(a, "FAIL", "slot ids %u-%u / %u-%u belong to:%s", (unsigned)lo, (unsigned)hi,
             (unsigned)glo, (unsigned)ghi, clash);
    else
        line(a, "ok", "slots: %u, uids %u-%u, gids %u-%u (no account uses them)",
             cfg->eng.max_concurrent_jobs, (unsigned)lo, (unsigned)hi, (unsigned)glo,
             (unsigned)ghi);
}

/* The startup sequence on one slot: context (mount namespace, netns, cgroup tree, seccomp,
 * box /etc), then the self-test box. A separate instance name and the last ids of the ranges
 * keep a daemon that already runs here undisturbed. */
static void check_sandbox(struct audit *a, const struct api_config *cfg)
{
    _cleanup_free_ char *instance = NULL, *run_dir = NULL;
    const char *slash = strrchr(cfg->eng.run_dir, '/');
    struct sbx_context *ctx = NULL;
    struct sbx_error e = {0};
    struct eng_config ec = cfg->eng;
    int r;

    if (geteuid() != 0) {
        line(a, "FAIL", "sandbox: not checked: capsuled runs as root (namespaces, mounts, ids)");
        return;
    }
    if (asprintf(&instance, "%s-check-%d", cfg->eng.instance, (int)getpid()) < 0 ||
        asprintf(&run_dir, "%.*s/%s", (int)(slash ? slash - cfg->eng.run_dir : 0), cfg->eng.run_dir,
                 instance) < 0) {
        line(a, "FAIL", "sandbox: out of memory");
        return;
    }
    struct sbx_config sc = {.n_slots = 1,
                            .uid_base = cfg->uid_max,
                            .gid_base = cfg->gid_max,
                            .networking = cfg->eng.networking,
                            .instance = instance,
                            .run_dir = run_dir};
    r = sbx_context_new(&sc, &ctx, &e);
    if (r >= 0) {
        ec.instance = instance;
        ec.run_dir = run_dir;
        r = eng_self_test(&ec, ctx, &e);
    }
    if (r < 0)
        line(a, "FAIL", "sandbox: failed at step %s%s%s: %s", e.step ? e.step : "?",
             e.path[0] ? " " : "", e.path, strerror(-(e.err ? e.err : r)));
    else
        line(a, "ok",
             "sandbox: cgroup v%d tree, namespaces, seccomp filter, self-test box (PID 1: %s)",
             sbx_context_cgroup_version(ctx), sbx_context_box_helper(ctx));
    sbx_context_free(ctx);
}

static void warn_runtime(void *userdata, const char *message)
{
    line(userdata, "warn", "runtimes: %s", message);
}

static void list_runtimes(struct audit *a, const struct rt_registry *reg)
{
    _cleanup_free_ char *why = NULL;

    for (size_t i = 0; i < rt_registry_count(reg); i++) {
        const struct rt_runtime *rt = rt_registry_get(reg, i);
        line(a, "ok", "runtime %s %s%s (%s, seen in boxes at %s)", rt->language, rt->version,
             rt->compiled ? " compiled" : "", rt->package_dir, rt->box_dir);
    }
    if (eng_check_runtime_access(reg, &why) < 0)
        line(a, "FAIL", "%s", why ? why : "a runtime package is not readable by the sandbox users");
}

/* One package on its own, through a directory holding only a link to it, so one missing
 * toolchain does not hide the state of the others. */
static void check_one_package(struct audit *a, const char *dir, const char *name)
{
    char tmp[] = "/tmp/capsuled-check-XXXXXX";
    _cleanup_free_ char *target = NULL, *link = NULL, *failed = NULL;
    struct rt_registry *reg = NULL;
    int r;

    if (!mkdtemp(tmp))
        return;
    if (asprintf(&target, "%s/%s", dir, name) >= 0 && asprintf(&link, "%s/%s", tmp, name) >= 0 &&
        symlink(target, link) >= 0) {
        struct rt_load_options opts = {.runtimes_dir = tmp, .probe_versions = true};
        r = rt_registry_load(&opts, NULL, NULL, &reg, &failed);
        if (r < 0)
            line(a, "FAIL", "package %s: toolchain missing or broken (%s)", name,
                 failed ? "version probe failed" : strerror(-r));
        else
            list_runtimes(a, reg);
        rt_registry_unref(reg);
        (void)unlink(link);
    }
    (void)rmdir(tmp);
}

static void check_runtimes(struct audit *a, const struct api_config *cfg)
{
    struct rt_load_options opts = {
        .runtimes_dir = cfg->runtimes_dir, .data_dir = cfg->data_dir, .probe_versions = true};
    _cleanup_free_ char *failed = NULL;
    struct rt_registry *reg = NULL;
    struct dirent *de;
    DIR *d;
    int r;

    r = rt_registry_load(&opts, warn_runtime, a, &reg, &failed);
    if (r >= 0) {
        if (rt_registry_count(reg) == 0)
            line(a, "FAIL", "runtimes: none in %s", cfg->runtimes_dir);
        list_runtimes(a, reg);
        rt_registry_unref(reg);
        return;
    }
    if (!failed) {
        line(a, "FAIL", "runtimes: cannot load %s: %s", cfg->runtimes_dir, strerror(-r));
        return;
    }
    d = opendir(cfg->runtimes_dir);
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.')
            check_one_package(a, cfg->runtimes_dir, de->d_name);
    if (d)
        closedir(d);
}

int api_check(const struct api_config *cfg, FILE *out)
{
    struct audit a = {.out = out};

    fprintf(out, "capsuled %s --check (instance %s, runtimes %s)\n", CAPSULE_VERSION,
            cfg->eng.instance, cfg->runtimes_dir);
    check_kernel(&a);
    check_namespaces(&a);
    check_seccomp(&a);
    check_cgroups(&a);
    check_id_ranges(&a, cfg);
    check_runtimes(&a, cfg);
    check_sandbox(&a, cfg);
    if (a.problems)
        fprintf(out, "capsuled --check: FAILED (%u problem%s)\n", a.problems,
                a.problems == 1 ? "" : "s");
    else
        fprintf(out, "capsuled --check: ok\n");
    fflush(out);
    return a.problems ? EXIT_FAILURE : EXIT_SUCCESS;
}
