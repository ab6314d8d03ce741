#!/usr/bin/env bash
# Stands up a real Piston API (the pre-isolate v3.1.1 that PISTON-API.md describes) on
# 127.0.0.1:2100 for `capsule-bench --against piston=http://127.0.0.1:2100`, with python and
# gcc packages that wrap Debian's toolchains as ours do. Piston's own packages are built from
# upstream sources that this machine cannot download, and its two GitHub dependencies cannot
# be fetched by npm here, so all three trees come from local checkouts:
#
#   sudo tests/bench/piston-local.sh PISTON_GIT NOCAMEL_GIT WAITPID_GIT
#
#   PISTON_GIT   engineer-man/piston (commit 647bc3a is used: the last before isolate)
#   NOCAMEL_GIT  HexF/nocamel (branch patch-1)
#   WAITPID_GIT  HexF/node-waitpid
#
# Needs root (Piston runs jobs as uids 1001-1500), node, npm (the registry for the rest),
# gcc, libseccomp-dev and Node's headers (/usr/include/node). Everything lives in
# /tmp/piston; `pkill -f 'node src'` stops it. For benchmarks only: this Piston has no memory
# cap and no namespaces, as upstream.
set -euo pipefail

main() {
    local piston=$1 nocamel=$2 waitpid=$3 top=/tmp/piston
    local data=$top/data gyp=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js

    rm -rf "$top"
    mkdir -p "$top/deps/nocamel" "$top/deps/waitpid" "$top/bin" "$data/jobs"
    git -C "$piston" archive 647bc3a api | tar -x -C "$top"
    git -C "$nocamel" archive origin/patch-1 | tar -x -C "$top/deps/nocamel"
    git -C "$waitpid" archive HEAD | tar -x -C "$top/deps/waitpid"
    (cd "$top/deps/waitpid" && node "$gyp" rebuild --nodedir=/usr >"$top/gyp.log" 2>&1)
    (cd "$top/api" &&
        node -e 'const f="package.json",p=require("./"+f);
                 p.dependencies.nocamel="file:../deps/nocamel";
                 p.dependencies.waitpid="file:../deps/waitpid";
                 require("fs").writeFileSync(f, JSON.stringify(p, null, 2));' &&
        rm -f package-lock.json && npm install --no-audit --no-fund >/dev/null)
    make -s -C "$top/api/src/nosocket" all
    cp "$top/api/src/nosocket/nosocket" "$top/bin/"

    local src
    src=$(cd "$(dirname "$0")/../../runtimes" && pwd)
    package "$data/packages/python/3.11.2" \
        '{"language":"python","version":"3.11.2","aliases":["py","py3","python3"],"build_platform":"bench"}' \
        "$src/python/run"
    package "$data/packages/gcc/12.2.0" \
        '{"language":"gcc","version":"12.2.0","build_platform":"bench","provides":[{"language":"c","aliases":["gcc"]},{"language":"c++","aliases":["cpp","g++"]}]}' \
        "$src/gcc/run" "$src/gcc/compile"
    chmod -R a+rX "$top"

    (cd "$top/api" && PATH="$top/bin:$PATH" PISTON_DATA_DIRECTORY="$data" \
        PISTON_BIND_ADDRESS=127.0.0.1:2100 nohup node src >"$top/api.log" 2>&1 &)
    for _ in $(seq 50); do
        curl -fs http://127.0.0.1:2100/api/v2/runtimes >/dev/null && {
            echo "piston: listening on 127.0.0.1:2100 (log $top/api.log)"
            return 0
        }
        sleep 0.2
    done
    echo "piston: did not start, see $top/api.log" >&2
    return 1
}

# A package as ppman leaves it: pkg-info.json, the scripts, .env (what ppman would have
# captured from `environment`: nosocket must be on the job's PATH) and .ppman-installed.
package() {
    local dir=$1 info=$2
    shift 2
    mkdir -p "$dir"
    printf '%s\n' "$info" >"$dir/pkg-info.json"
    cp "$@" "$dir/"
    printf 'PATH=/tmp/piston/bin:/usr/bin:/bin\n' >"$dir/.env"
    touch "$dir/.ppman-installed"
}

main "$@"
exit
