# syntax=docker/dockerfile:1
# The mailer worker, as compiled JavaScript with the workflow bundle built at
# build time: `node dist/worker.js` polls within seconds (no tsx, no webpack at
# start), with production dependencies only.
#
#   docker build -t durable-mailer .
#   docker run --rm -e DATABASE_URL=… -e SMTP_URL=… -e TEMPORAL_ADDRESS=… durable-mailer
#
# The same image runs the command line: `docker run --rm -e … durable-mailer node bin/mailer.js status ID`.

# ---- 1. build: compile, bundle the workflows, drop the dev dependencies ------
FROM node:20.20.2-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts in the tree are
#   - @embedded-postgres/*: the local dev stack's PostgreSQL binaries (a dev
#     dependency, pruned below);
#   - esbuild, @swc/core: verify that their prebuilt platform package (an
#     optional dependency, installed by npm ci either way) is usable;
#   - protobufjs (nested): not needed, and already denied in package.json's allowScripts.
# It also makes the result the same whichever npm the base image ships.
# The prebuilt Temporal core bridge and @swc/core binaries are for glibc, hence
# a Debian (bookworm) base rather than Alpine.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
# The Temporal core bridge ships its native library for five platforms; the
# image keeps the one it runs on (about 110 MB less).
RUN node scripts/build.mjs \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules/@temporalio/core-bridge/releases -mindepth 1 -maxdepth 1 ! -name "$(uname -m)-unknown-linux-gnu" -exec rm -rf {} + \
 && npm cache clean --force

# ---- 2. runtime --------------------------------------------------------------
FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Everything stays owned by root, read-only for the process: the worker writes nothing in /app.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
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
CMD ["node", "dist/worker.js"]
