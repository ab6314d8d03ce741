/* The package manager behind /api/v2/packages (packages.c). Operations block (index fetch,
 * download, unpack) and run on their own threads (route-packages.c), never on MHD's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct api_packages;

/* An HTTP answer: status and JSON body (malloc'd; NULL on out-of-memory). */
struct api_pkg_reply {
    unsigned status;
    char *body;
    size_t len;
};

/** Counts an operation in; false while stopping (the caller answers 503). */
bool api_packages_begin(struct api_packages *p);
/** Counts it out (the last thing its thread does with p). */
void api_packages_end(struct api_packages *p);

/** GET: the index with `installed` flags. */
void api_packages_list(struct api_packages *p, struct api_pkg_reply *out);
/** POST: install the highest index entry `language` satisfying `version`. */
void api_packages_install(struct api_packages *p, const char *language, const char *version,
                          struct api_pkg_reply *out);
/** DELETE: uninstall the highest installed version of `language` satisfying `version`. */
void api_packages_uninstall(struct api_packages *p, const char *language, const char *version,
                            struct api_pkg_reply *out);
