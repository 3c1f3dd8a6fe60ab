#!/usr/bin/env bash
# Build Elastic's API specification for one branch with the repository's own toolchain:
# compiler/ generate-schema (output/schema/schema.json), then transform-to-openapi
# --flavor stack (output/openapi/elasticsearch-openapi.json). See README.md here.
#
#   build_spec.sh DEST [BRANCH] [SOURCE]
#
# DEST    empty directory to build in (outside this repository)
# BRANCH  branch of the pinned minor, default 9.5
# SOURCE  git URL or a local git directory, default GitHub
#
# Needs git, Node.js 20 and npm (network for `npm ci`). The large generated files are left out
# of the checkout on purpose: snapshots may lack them, and they are rebuilt here anyway.
set -euo pipefail

dest=${1:?usage: build_spec.sh DEST [BRANCH] [SOURCE]}
branch=${2:-9.5}
source=${3:-https://github.com/elastic/elasticsearch-specification.git}

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -d "$source" ]; then
    gitdir=$source
else
    gitdir=$dest/.spec.git
    git clone --quiet --bare --depth 1 --branch "$branch" "$source" "$gitdir"
fi
commit=$(git --git-dir="$gitdir" rev-parse "$branch^{commit}")
# A private index keeps a local SOURCE untouched.
GIT_INDEX_FILE=$dest/.spec-index git --git-dir="$gitdir" --work-tree="$dest" \
    checkout -f "$commit" -- . \
    ':(exclude)output/schema/schema.json' \
    ':(exclude)output/schema/schema-serverless.json' \
    ':(exclude)output/openapi/elasticsearch-openapi.json'
echo "$commit" > "$dest/SPEC_COMMIT"

cd "$dest"
# The compiler refuses a Node major other than the one in .nvmrc; it builds the same output
# with Node 20 (checked: the regenerated serverless OpenAPI and validation-errors.json are
# byte-identical to the committed ones on 9.5).
node --version | sed 's/^v\([0-9]*\).*/\1/' > .nvmrc
npm ci --prefix compiler --no-audit --no-fund --loglevel=error
npm run --silent generate-schema --prefix compiler -- --spec ../specification/ --output ../output/
# transform-to-openapi resolves its paths from the repository root, and reports failure
# only on stdout: check that the file appeared.
rm -f output/openapi/elasticsearch-openapi.json
npm run --silent transform-to-openapi --prefix compiler -- \
    --schema output/schema/schema.json --flavor stack \
    --output output/openapi/elasticsearch-openapi.json
test -s output/openapi/elasticsearch-openapi.json
echo "built elastic/elasticsearch-specification $branch at $commit in $dest"
