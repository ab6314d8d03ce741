/* capsule-box, the box's PID 1: the spec the daemon encodes, the helper's refusal of any spec
 * that is not one (it exits 125 before touching anything), and the daemon's refusal to start
 * with a helper that is missing or that someone other than root could change. The valid path
 * is every other sandbox test: each of their boxes runs through the helper. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "sandbox.h"
#include "strbuf.h"
#include "test.h"

#define HELPER CAPSULE_BINARY_DIR "/capsule-box"

/* Runs the helper with one end of a socketpair as its job socket, writes `spec` (n bytes)
 * into the other end, closes it and returns the helper's exit status. A spec that holds a
 * whole header names that socket (job_fd), plus `job_fd_delta`. */
static int run_helper(const void *spec, size_t n, int job_fd_delta)
{
    char buf[1024];
    int sv[2], status;
    char arg[16];
    pid_t pid;

    ASSERT_TRUE(n <= sizeof(buf));
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ? -errno : 0);
    if (n)
        memcpy(buf, spec, n);
    if (n >= sizeof(struct sbx_spec_header)) {
        int32_t job_fd = sv[1] + job_fd_delta;
        memcpy(buf + offsetof(struct sbx_spec_header, job_fd), &job_fd, sizeof(job_fd));
    }
    snprintf(arg, sizeof(arg), "%d", sv[1]);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        execl(HELPER, "capsule-box", arg, (char *)NULL);
        _exit(99);
    }
    close(sv[1]);
    if (n)
        ASSERT_EQ(write(sv[0], buf, n), (ssize_t)n);
    close(sv[0]);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static struct sbx_spec_header valid_header(void)
{
    return (struct sbx_spec_header){.magic = SBX_SPEC_MAGIC,
                                    .n_ops = 1,
                                    .n_insns = 1,
                                    .strings_len = 16,
                                    /* a box reports on its socket */
                                    .error_fd = -1,
                                    .mode = SBX_SPEC_MODE_BOX,
                                    .template_fd = 8,
                                    .template_root_fd = 9,
                                    /* should a check ever let one of these through, the
                                     * helper's first step (setns on stdin) fails: nothing
                                     * of this host is touched */
                                    .netns_fd = 0};
}

TEST(helper_without_its_argument_exits_125)
{
    int status;
    pid_t pid = fork();

    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        execl(HELPER, "capsule-box", (char *)NULL);
        _exit(99);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 125);
}

TEST(helper_refuses_what_is_not_a_spec)
{
    struct sbx_spec_header h = valid_header();
    char buf[sizeof(h) + 64] = {0};

    ASSERT_EQ(run_helper(NULL, 0, 0), 125); /* EOF */
    ASSERT_EQ(run_helper("garbage", 7, 0), 125);
    h.magic ^= 1;
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    h.n_ops = SBX_SPEC_OPS_MAX + 1;
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    h.error_fd = 4; /* a box has no error pipe: each job's failing step comes in its report */
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    h.mode = SBX_SPEC_MODE_TEMPLATE; /* a builder needs its error pipe ... */
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h.error_fd = 1; /* ... and the helper's own stdio is never one */
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    h.mode = 0; /* neither a template to build nor a box */
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h.mode = SBX_SPEC_MODE_BOX + 1;
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    h.template_fd = 2; /* a box needs its template */
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    h.template_root_fd = -1; /* and the template's root */
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(buf), 0), 125);
    h = valid_header();
    memcpy(buf, &h, sizeof(h));
    ASSERT_EQ(run_helper(buf, sizeof(h) + 4, 0), 125); /* cut short */
    ASSERT_EQ(run_helper(buf, sizeof(buf), 1), 125);   /* a spec for another socket */
    /* strings without a terminating NUL, and a mount kind that does not exist */
    memset(buf + sizeof(h) + 8, 'x', 16);
    ASSERT_EQ(run_helper(buf, sizeof(h) + 8 + 16, 0), 125);
    memcpy(buf + sizeof(h) + 8, "/r\0\x77/d\0/s\0\0\0\0\0\0\0", 16);
    ASSERT_EQ(run_helper(buf, sizeof(h) + 8 + 16, 0), 125);
}

TEST(spec_carries_plan_filter_and_descriptors)
{
    struct sbx_mount_op ops[] = {{SBX_MOUNT_MKDIR, NULL, "/root/box"},
                                 {SBX_MOUNT_BIND_RO, "/usr", "/root/usr"}};
    struct sbx_mount_plan plan = {.ops = ops, .n = 2, .alloc = 2};
    struct sock_filter insns[3] = {{0x06, 0, 0, 0x7fff0000}};
    struct sock_fprog prog = {.len = 3, .filter = insns};
    struct sbx_child_args a = {.box_root = "/root",
                               .plan = &plan,
                               .netns_fd = 9,
                               .job_fd = 10,
                               .error_fd = 14,
                               .uid = 66001,
                               .gid = 66002,
                               .seccomp = &prog,
                               .mode = SBX_SPEC_MODE_BOX,
                               .template_fd = 15,
                               .template_root_fd = 16};
    static const char strings[] = "/root\0"
                                  "\0/root/box\0\0"
                                  "\2/root/usr\0/usr";
    struct strbuf sb = {0};
    struct sbx_spec_header h;

    ASSERT_OK(sbx__spec_encode(&a, &sb));
    ASSERT_EQ(sb.len, sizeof(h) + sizeof(insns) + sizeof(strings));
    memcpy(&h, sb.data, sizeof(h));
    ASSERT_EQ(h.magic, SBX_SPEC_MAGIC);
    ASSERT_EQ(h.n_ops, 2);
    ASSERT_EQ(h.n_insns, 3);
    ASSERT_EQ(h.mode, SBX_SPEC_MODE_BOX);
    ASSERT_EQ(h.template_fd, 15);
    ASSERT_EQ(h.template_root_fd, 16);
    ASSERT_EQ(h.strings_len, sizeof(strings));
    ASSERT_EQ(h.netns_fd, 9);
    ASSERT_EQ(h.job_fd, 10);
    ASSERT_EQ(h.error_fd, 14);
    ASSERT_EQ(h.uid, 66001);
    ASSERT_EQ(h.gid, 66002);
    ASSERT_TRUE(memcmp(sb.data + sizeof(h), insns, sizeof(insns)) == 0);
    ASSERT_TRUE(memcmp(sb.data + sizeof(h) + sizeof(insns), strings, sizeof(strings)) == 0);
    strbuf_done(&sb);
}

/* The daemon execs the helper as root before any isolation: it must not start with one that
 * is missing or that anyone but root could have changed. */
static int context_with_helper(const char *helper, struct sbx_error *e)
{
    char instance[64], run_dir[128];
    struct sbx_context *ctx = NULL;
    int r;

    snprintf(instance, sizeof(instance), "capsule-test-helper-%d", getpid());
    snprintf(run_dir, sizeof(run_dir), "/run/capsule/%s", instance);
    unsigned base = 64900 + ((unsigned)getpid() % 40) * 2;
    struct sbx_config cfg = {.n_slots = 1,
                             .uid_base = base,
                             .gid_base = base,
                             .instance = instance,
                             .run_dir = run_dir,
                             .box_helper = helper};
    r = sbx_context_new(&cfg, &ctx, e);
    sbx_context_free(ctx);
    return r;
}

TEST(daemon_refuses_a_helper_it_cannot_trust)
{
    char dir[] = "/tmp/capsule-helper-XXXXXX", copy[128], cmd[300];
    struct sbx_error e = {0};

    if (geteuid() != 0)
        TEST_SKIP("needs root");
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(copy, sizeof(copy), "%s/capsule-box", dir);
    ASSERT_EQ(context_with_helper(copy, &e), -ENOENT);
    ASSERT_STREQ(e.step, "box-helper");
    ASSERT_STREQ(e.path, copy);
    snprintf(cmd, sizeof(cmd), "cp %s %s", HELPER, copy);
    ASSERT_EQ(system(cmd), 0);
    ASSERT_OK(chmod(copy, 0775) < 0 ? -errno : 0);
    ASSERT_EQ(context_with_helper(copy, &e), -EPERM);
    ASSERT_STREQ(e.step, "box-helper");
    ASSERT_OK(chmod(copy, 0755) < 0 ? -errno : 0);
    ASSERT_OK(chown(copy, 65534, 0) < 0 ? -errno : 0);
    ASSERT_EQ(context_with_helper(copy, &e), -EPERM);
    ASSERT_OK(chown(copy, 0, 0) < 0 ? -errno : 0);
    ASSERT_OK(chmod(copy, 0644) < 0 ? -errno : 0);
    ASSERT_EQ(context_with_helper(copy, &e), -ENOEXEC);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ASSERT_EQ(system(cmd), 0);
}

/* The control for the refusals above: a spec made by the daemon's own encoder is taken, and
 * the helper goes on to its first step, joining the network namespace. Given /dev/null for
 * one, setns fails and the helper reports that step on the job socket (a box's reports all
 * go there) and exits 127, before it could change anything of this host (its next step
 * would be the template). */
TEST(helper_takes_a_spec_and_reports_its_first_failing_step)
{
    struct sbx_mount_op op = {SBX_MOUNT_MKDIR, NULL, "/r/x"};
    struct sbx_mount_plan plan = {.ops = &op, .n = 1, .alloc = 1};
    struct sock_filter insn = {0x06, 0, 0, 0x7fff0000};
    struct sock_fprog prog = {.len = 1, .filter = &insn};
    struct sbx_box_report rep = {0};
    struct strbuf spec = {0};
    int sv[2], null_fd, status;
    char arg[16];
    pid_t pid;

    null_fd = open("/dev/null", O_RDONLY);
    ASSERT_TRUE(null_fd >= 3);
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ? -errno : 0);
    struct sbx_child_args a = {.box_root = "/r",
                               .plan = &plan,
                               .netns_fd = null_fd,
                               .job_fd = sv[1],
                               .error_fd = -1,
                               .uid = 65534,
                               .gid = 65534,
                               .seccomp = &prog,
                               .mode = SBX_SPEC_MODE_BOX,
                               .template_fd = null_fd,
                               .template_root_fd = null_fd};
    ASSERT_OK(sbx__spec_encode(&a, &spec));
    snprintf(arg, sizeof(arg), "%d", sv[1]);
    pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        execl(HELPER, "capsule-box", arg, (char *)NULL);
        _exit(99);
    }
    close(sv[1]);
    ASSERT_EQ(write(sv[0], spec.data, spec.len), (ssize_t)spec.len);
    strbuf_done(&spec);
    ASSERT_EQ(read(sv[0], &rep, sizeof(rep)), (ssize_t)sizeof(rep));
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 127);
    ASSERT_EQ(rep.kind, SBX_REPORT_ERROR);
    ASSERT_EQ(rep.error.step, SBX_STEP_NETNS);
    ASSERT_EQ(rep.error.err, EINVAL);
    close(sv[0]);
    close(null_fd);
}
