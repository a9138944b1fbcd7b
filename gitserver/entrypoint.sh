#!/bin/bash
# Prepares the repository and the server's runtime files, then runs lighttpd in the foreground.
#
# Environment (all required unless a default is given):
#   GIT_REPOSITORY        repository name under /git/, e.g. gitops-platform.git
#   GIT_DEFAULT_BRANCH    branch HEAD points at (default: main)
#   GIT_PUBLIC_URL        the repository URL exactly as Argo CD holds it (the push event's html_url)
#   GIT_PUSH_USER         user allowed to push (default: pulumi)
#   GIT_PUSH_PASSWORD     that user's password
#   WEBHOOK_URL           where push events go (Argo CD's /api/webhook); unset: no notifications
#   WEBHOOK_SECRET        shared secret of X-Hub-Signature-256 (argocd-secret webhook.github.secret)
#   LISTEN_ADDRESS, LISTEN_PORT   default 0.0.0.0 and 8080
# Secrets are written to files under /run/gitserver (mode 600) and removed from the environment before
# lighttpd starts, so neither the CGI processes nor the hook ever see them in their environment.
set -euo pipefail
umask 077
: "${GIT_REPOSITORY:?GIT_REPOSITORY is required}" "${GIT_PUBLIC_URL:?GIT_PUBLIC_URL is required}"
: "${GIT_PUSH_PASSWORD:?GIT_PUSH_PASSWORD is required}"
case "$GIT_REPOSITORY" in
  *.git) ;;
  *) echo "GIT_REPOSITORY must end in .git (got $GIT_REPOSITORY)" >&2; exit 2 ;;
esac
case "$GIT_REPOSITORY" in
  */* | .*) echo "GIT_REPOSITORY must be a plain name (got $GIT_REPOSITORY)" >&2; exit 2 ;;
esac
run=/run/gitserver
repo="/srv/git/$GIT_REPOSITORY"

if [ ! -f "$repo/HEAD" ]; then
  git init --quiet --bare --initial-branch="${GIT_DEFAULT_BRANCH:-main}" "$repo"
  echo "gitserver: created $repo"
else
  echo "gitserver: serving $repo ($(git -C "$repo" rev-list --all --count 2>/dev/null || echo 0) commits)"
fi
# The hook comes from the image, so a rebuilt image brings its new hook to an existing repository.
git -C "$repo" config core.hooksPath /usr/local/lib/gitserver/hooks

printf '%s:%s\n' "${GIT_PUSH_USER:-pulumi}" "$GIT_PUSH_PASSWORD" > "$run/users"
printf 'server.bind = "%s"\nserver.port = %s\n' "${LISTEN_ADDRESS:-0.0.0.0}" "${LISTEN_PORT:-8080}" > "$run/listen.conf"
{
  printf 'GIT_PUBLIC_URL=%q\n' "$GIT_PUBLIC_URL"
  printf 'WEBHOOK_URL=%q\n' "${WEBHOOK_URL:-}"
} > "$run/webhook.env"
printf '%s' "${WEBHOOK_SECRET:-}" > "$run/webhook.secret"
unset GIT_PUSH_PASSWORD WEBHOOK_SECRET

echo "gitserver: listening on ${LISTEN_ADDRESS:-0.0.0.0}:${LISTEN_PORT:-8080}, webhook ${WEBHOOK_URL:-off}"
exec lighttpd -D -f /etc/gitserver/lighttpd.conf
