#!/bin/bash
# Commits one change to a branch of a git repository over HTTP and pushes it: the local-git side of
# GitRepositoryWriter (git-writer.ts runs this through a @pulumi/command local Command).
#
#   GIT_URL          repository URL to fetch from and push to (the local git server's host port)
#   GIT_BRANCH       branch to commit on (created when missing)
#   GIT_MESSAGE      commit message
#   GIT_AUTH_HEADER  optional HTTP header for push, e.g. "Authorization: Basic ..." (given to git through
#                    GIT_CONFIG_* variables, never on a command line)
#   COMMIT_PATH      path in the repository that the change replaces
#   COMMIT_SOURCE    a directory whose content becomes COMMIT_PATH (a tree); unset: stdin becomes the file
#   COMMIT_KEEP      for a tree, newline-separated paths under COMMIT_PATH left as the branch has them
#                    (files another commit owns, such as an environment's image.yaml)
#
# An unchanged tree or file makes no commit. Prints the branch's commit id afterwards on stdout.
set -euo pipefail
: "${GIT_URL:?}" "${GIT_BRANCH:?}" "${GIT_MESSAGE:?}" "${COMMIT_PATH:?}"
case "$COMMIT_PATH" in /* | *..*) echo "COMMIT_PATH must be relative, without '..' (got $COMMIT_PATH)" >&2; exit 2 ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GIT_TERMINAL_PROMPT=0
if [ -n "${GIT_AUTH_HEADER:-}" ]; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader GIT_CONFIG_VALUE_0="$GIT_AUTH_HEADER"
fi
if [ -z "${COMMIT_SOURCE:-}" ]; then cat >"$work/content"; fi

# The server may still be starting (a container created a moment ago): wait up to a minute for it.
for attempt in $(seq 1 30); do
  if git ls-remote --heads "$GIT_URL" "refs/heads/$GIT_BRANCH" >"$work/heads" 2>"$work/error"; then break; fi
  if [ "$attempt" -eq 30 ]; then
    echo "cannot reach $GIT_URL: $(tail -n 3 "$work/error")" >&2
    exit 1
  fi
  sleep 2
done

git init --quiet "$work/repo"
cd "$work/repo"
if [ -s "$work/heads" ]; then
  git fetch --quiet --depth 1 "$GIT_URL" "refs/heads/$GIT_BRANCH"
  git checkout --quiet -B "$GIT_BRANCH" FETCH_HEAD
else
  git checkout --quiet --orphan "$GIT_BRANCH"
fi

if [ -n "${COMMIT_SOURCE:-}" ]; then
  [ -d "$COMMIT_SOURCE" ] || { echo "COMMIT_SOURCE is not a directory: $COMMIT_SOURCE" >&2; exit 2; }
  mkdir -p "$work/keep"
  while IFS= read -r kept; do
    [ -n "$kept" ] || continue
    if [ -e "$COMMIT_PATH/$kept" ]; then
      mkdir -p "$work/keep/$(dirname "$kept")"
      cp -p "$COMMIT_PATH/$kept" "$work/keep/$kept"
    fi
  done <<<"${COMMIT_KEEP:-}"
  rm -rf "$COMMIT_PATH"
  mkdir -p "$COMMIT_PATH"
  cp -R "$COMMIT_SOURCE/." "$COMMIT_PATH/"
  while IFS= read -r kept; do
    [ -n "$kept" ] || continue
    rm -f "$COMMIT_PATH/$kept"
    if [ -e "$work/keep/$kept" ]; then cp -p "$work/keep/$kept" "$COMMIT_PATH/$kept"; fi
  done <<<"${COMMIT_KEEP:-}"
else
  mkdir -p "$(dirname "$COMMIT_PATH")"
  cp "$work/content" "$COMMIT_PATH"
fi

git add --all -- "$COMMIT_PATH"
if git diff --cached --quiet; then
  echo "unchanged: no commit on $GIT_BRANCH" >&2
else
  git -c user.name=gitops-platform -c user.email=gitops-platform@localhost commit --quiet -m "$GIT_MESSAGE"
  git push --quiet "$GIT_URL" "HEAD:refs/heads/$GIT_BRANCH"
fi
git rev-parse HEAD
