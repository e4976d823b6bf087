# syntax=docker/dockerfile:1
#
# Three images from one file: `--target worker`, `--target sandbox-worker` and `--target web`
# (docker-compose.yml builds them).
# The worker and the web app run TypeScript with tsx (a production dependency), as non-root `node`,
# with production node_modules only; the sandbox worker is the worker as root (see its stage). See
# docs/deploy.md.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app

# Every dependency, for the web build.
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS build
COPY . .
RUN npx remix vite:build

FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# What both runtime images share. Files stay owned by root: the app cannot rewrite its own code.
FROM base AS runtime
ENV NODE_ENV=production
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
# The local artifact store's mount point, writable by `node`: an empty volume mounted here takes
# this owner.
RUN mkdir -p .data/artifacts && chown node:node .data/artifacts

# The worker bundles workflows/ at start, so it needs their sources and everything they import.
FROM runtime AS worker
COPY config ./config
COPY codec ./codec
COPY contract ./contract
COPY workflows ./workflows
COPY activities ./activities
COPY artifacts ./artifacts
COPY worker ./worker
COPY telemetry ./telemetry
ENV WORKER_HEALTH_PORT=9464
EXPOSE 9464
USER node
CMD ["node_modules/.bin/tsx", "worker/index.ts"]

# The sandbox worker (BUILDSTORY_WORKER_ROLE=sandbox): the worker's image with bubblewrap and what
# the tests run with (Node is the image's own, in /usr/local; python3 with pytest). Root: the
# sandbox makes a cgroup per run and switches to its own uid; the code runs as that uid with no
# capabilities (docs/verification.md). setpriv and prlimit come with util-linux.
FROM worker AS sandbox-worker
USER root
RUN apt-get update \
  && apt-get install -y --no-install-recommends bubblewrap python3 python3-pytest \
  && rm -rf /var/lib/apt/lists/*

# The web server loads the Remix build; of the sources it needs only what web/server.ts imports.
FROM runtime AS web
COPY config ./config
COPY contract/data.ts ./contract/data.ts
COPY web/server.ts ./web/server.ts
COPY web/request-guards.ts ./web/request-guards.ts
COPY web/request-tracing.ts ./web/request-tracing.ts
COPY telemetry/tracing.ts ./telemetry/tracing.ts
COPY web/app/utils/env.server.ts ./web/app/utils/env.server.ts
COPY web/app/utils/route-label.server.ts ./web/app/utils/route-label.server.ts
COPY web/app/utils/log.server.ts ./web/app/utils/log.server.ts
COPY web/app/utils/shared-store.server.ts ./web/app/utils/shared-store.server.ts
COPY web/app/utils/postgres-store.server.ts ./web/app/utils/postgres-store.server.ts
COPY web/app/utils/api-tokens.server.ts ./web/app/utils/api-tokens.server.ts
COPY --from=build /app/web/build ./web/build
ENV PORT=3000
EXPOSE 3000
USER node
CMD ["node_modules/.bin/tsx", "web/server.ts"]
