/* Effective limits per runtime (PISTON-API.md 4.2). */
#include <string.h>

#include "engine.h"

int64_t eng_effective_limit(const struct eng_config *cfg, const struct rt_runtime *rt,
                            enum rt_limit limit)
{
    /* env override for the runtime language, else package metadata, else global; a 0 at
     * any level falls through to the next source. */
    for (size_t i = 0; i < cfg->n_overrides; i++)
        if (strcmp(cfg->overrides[i].language, rt->language) == 0 &&
            cfg->overrides[i].limits[limit] != 0)
            return cfg->overrides[i].limits[limit];
    if (rt->limit_overrides[limit] != 0)
        return rt->limit_overrides[limit];
    return cfg->limits[limit];
}
