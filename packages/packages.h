/* Piston packages: the index at PISTON_REPO_URL, downloads (libcurl), safe extraction
 * (libarchive) and the on-disk install protocol under <data>/packages (PISTON-API.md 2.4,
 * 5.3). Thread-safe: no shared state besides the files; callers serialise what must be.
 *
 * Layout. An install lives in a hidden directory beside its version name, and the version
 * name is a symlink to it, created last with one rename():
 *     <data>/packages/<name>/<version> -> .<version>.pkg-<instance>-<token>/
 * so a crash leaves either no package or a complete one, an uninstall is one unlink while
 * running jobs keep their (unique) directory, and a reinstall never shares a path with the
 * copy a job or a warm box may still hold. Plain directories (Piston's layout) load and
 * uninstall too. Hidden names are skipped by the runtime loader. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtimes.h"

/* ---- index.c: "name,version,sha256hex,url" per line ---- */
struct pkg_index_entry {
    char *name;    /* package directory name, e.g. "python" */
    char *version; /* raw version string, a valid semver */
    struct rt_semver semver;
    char sha256[65]; /* lower-case hex */
    char *url;
};

struct pkg_index {
    struct pkg_index_entry *entries; /* index order */
    size_t n;
};

/** Parses an index. Blank lines (and a trailing \r) are ignored; any other line must hold a
 *  safe name, a semver version, 64 hex digits and a URL, else the whole index is refused:
 *  -EBADMSG with *reterr ("line 3: ..."). -ENOMEM. */
int pkg_index_parse(const char *text, size_t len, struct pkg_index **ret, char **reterr);
struct pkg_index *pkg_index_free(struct pkg_index *index);
/** Highest-version entry named `name` whose version satisfies the node-semver `range`; the
 *  first of equal versions. NULL if none. */
const struct pkg_index_entry *pkg_index_find(const struct pkg_index *index, const char *name,
                                             const char *range);
/** True for a name usable as one directory component: 1-128 of [A-Za-z0-9._+-], not
 *  starting with '.'. */
bool pkg_name_is_safe(const char *name);

/* ---- fetch.c: libcurl ---- */
struct pkg_fetch_options {
    uint64_t max_bytes;  /* more → -EFBIG */
    uint64_t timeout_ms; /* whole transfer; 0: none */
    uint64_t connect_timeout_ms;
    bool allow_file;           /* file:// allowed (http:// and https:// always are) */
    const atomic_bool *cancel; /* set → the transfer stops with -ECANCELED; may be NULL */
};

/** Once per process, before threads use pkg_fetch_*. -EIO. */
int pkg_fetch_global_init(void);
void pkg_fetch_global_done(void);
/** Fetches a URL into memory (NUL-terminated). Redirects are followed (http/https only), TLS
 *  is verified, HTTP statuses >= 400 fail. -ETIMEDOUT, -EFBIG, -ECANCELED, -EPROTONOSUPPORT,
 *  -EIO, with *reterr (malloc'd reason). -ENOMEM. */
int pkg_fetch_memory(const char *url, const struct pkg_fetch_options *opts, char **ret,
                     size_t *ret_len, char **reterr);
/** The same into an open file, hashing what it writes: *ret_sha256 is the lower-case hex
 *  SHA-256 of the body. */
int pkg_fetch_file(const char *url, const struct pkg_fetch_options *opts, int fd,
                   char ret_sha256[65], char **reterr);

/* ---- unpack.c: libarchive ---- */
struct pkg_unpack_limits {
    uint64_t max_bytes;   /* sum of regular file sizes as written */
    uint64_t max_entries; /* archive entries */
};

/** Extracts a tar archive (gzip, xz, bzip2, zstd or none) from archive_fd into the empty
 *  directory dest_dirfd. Refused (-EPERM, *reterr names the entry): absolute names, `..`
 *  components, symlinks pointing outside the directory (absolute, or climbing above it),
 *  hard links to anything not extracted before, device nodes, FIFOs and sockets, an entry
 *  reached through a symlink, duplicates (except directories). -EFBIG past a limit, -EBADMSG
 *  for a damaged archive. Files get mode 0644 (0755 if the owner could execute), directories
 *  0755, owner root: packages are read by every sandbox uid and written by none. */
int pkg_unpack_fd(int archive_fd, int dest_dirfd, const struct pkg_unpack_limits *limits,
                  char **reterr);

/* ---- store.c: the on-disk install protocol ---- */
struct pkg_store {
    const char *data_dir; /* PISTON_DATA_DIRECTORY */
    const char *instance; /* CAPSULE_INSTANCE: tags temporary names, startup cleans its own */
};

/** True if <data>/packages/<name>/<version>/.ppman-installed exists. */
bool pkg_store_is_installed(const struct pkg_store *st, const char *name, const char *version);
/** Highest installed version of `name` satisfying `range`; *ret malloc'd. -ENOENT if none. */
int pkg_store_find_installed(const struct pkg_store *st, const char *name, const char *range,
                             char **ret);

/* An install in progress: downloaded, verified, unpacked into its final hidden directory
 * (`dir`, canonical path) with .env and .ppman-installed, not yet visible. */
struct pkg_staged {
    char *dir;       /* absolute canonical path of the hidden package directory */
    char *link_path; /* <data>/packages/<name>/<version> */
    int parent_fd;   /* <data>/packages/<name> */
    char *dir_name;  /* name of `dir` inside parent_fd */
    char *version;   /* the symlink's name inside parent_fd */
};

struct pkg_install_options {
    struct pkg_fetch_options fetch;
    struct pkg_unpack_limits unpack;
};

/** Downloads entry->url beside the target, checks its SHA-256 (-EBADMSG with Piston's
 *  "Checksum miss-match want: <sha> got: <sha>"), unpacks, requires pkg-info.json and run,
 *  computes .env in the final directory and writes .ppman-installed. -EEXIST "Already
 *  installed". Nothing is visible until pkg_store_commit(); on failure nothing is left. */
int pkg_store_stage(const struct pkg_store *st, const struct pkg_index_entry *entry,
                    const struct pkg_install_options *opts, struct pkg_staged **ret, char **reterr);
/** Makes the staged package visible (symlinkat of its version name, never replacing one). -EEXIST
 *  if another install won meanwhile. The staged object stays to be freed. */
int pkg_store_commit(struct pkg_staged *staged, char **reterr);
/** Frees; an uncommitted staged package is removed from disk. */
struct pkg_staged *pkg_staged_free(struct pkg_staged *staged, bool committed);

/** Makes <name>/<version> invisible (unlink of its symlink, or of a plain directory's
 *  .ppman-installed) and returns the canonical directory that still holds the files, for
 *  pkg_store_remove_dir() once no job uses it. -ENOENT if not installed. */
int pkg_store_uninstall(const struct pkg_store *st, const char *name, const char *version,
                        char **ret_dir, char **reterr);
/** Removes a package directory tree (no symlink is followed). */
int pkg_store_remove_dir(const char *dir);
/** Startup: removes this instance's leftovers (temporary downloads, half-unpacked and
 *  unreferenced hidden directories) under <data>/packages. Returns how many, or -errno. */
int pkg_store_cleanup(const struct pkg_store *st);
/** Removes a tree below dirfd (name included; no symlink followed). 0 if absent. */
int pkg_remove_tree_at(int dirfd, const char *name);
