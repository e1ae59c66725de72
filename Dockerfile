# syntax=docker/dockerfile:1
# drover's image: Node, drover and its production dependencies, run as an unprivileged user with drover as
# PID 1 — no tini in front: drover reaps adopted orphans and forwards signals itself (docs/containers.md).
#
#   docker build -t drover .
#   docker run --rm -v "$PWD/supervisord.conf:/etc/drover/supervisord.conf:ro" drover
#
# A derived image adds its programs and its config (examples/docker/ is one). The config must set
# `runtime_dir = /run/drover` (the one directory the drover user may write; the HEALTHCHECK finds the
# control socket there) unless DROVER_SOCKET says where the socket is.

ARG NODE_VERSION=20

# --- build: compile TypeScript with the dev dependencies ---
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY scripts/copy-web-assets.mjs ./scripts/
# only src/: the tests are not part of the image
RUN npx tsc -p tsconfig.json && node scripts/copy-web-assets.mjs

# --- deps: production dependencies only (koffi brings a prebuilt binary for glibc and musl; no compiler) ---
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
# ioredis, for shared_backend = redis://… (an optional peer dependency, which `npm ci --omit=dev` leaves
# out): the version the lockfile tests, installed on its own and merged in (no package name in common)
RUN version="$(node -p "require('./package-lock.json').packages['node_modules/ioredis'].version")" \
 && mkdir /tmp/extras && cd /tmp/extras && echo '{"private":true}' > package.json \
 && npm install --no-audit --no-fund "ioredis@${version}" \
 && cp -rn node_modules/. /app/node_modules/ \
 && rm -rf /tmp/extras /root/.npm

# --- runtime ---
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY package.json ./
COPY bin ./bin
COPY docker/healthcheck.mjs ./docker/
# - an unprivileged user with a fixed uid (for volume permissions and Kubernetes' runAsUser)
# - /run/drover: drover's runtime directory (control socket, pid file), the only place it writes
# - /node_modules/drover → /app: `import … from 'drover'` in a worker module anywhere in the image resolves
#   (Node looks in every node_modules up to /)
RUN groupadd --system --gid 10001 drover \
 && useradd --system --uid 10001 --gid drover --home-dir /home/drover --create-home --shell /usr/sbin/nologin drover \
 && install -d -o drover -g drover -m 0750 /run/drover \
 && install -d -m 0755 /etc/drover /node_modules \
 && ln -s /app /node_modules/drover
USER drover
# TERM (docker stop, Kubernetes) stops the programs one priority level at a time, each with its stopsignal
# and stopwaitsecs, and exits 0. Give the container that long: the sum of each level's largest stopwaitsecs
# plus 10 s (docker stop -t, compose's stop_grace_period, terminationGracePeriodSeconds; docs/containers.md)
STOPSIGNAL SIGTERM
# /healthz over the control socket: no credentials, no curl, no port
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/app/docker/healthcheck.mjs"]
# The V8 flag every master wants: with it given here, a master with worker programs (on Node 20) need not
# replace itself at start, and has one start-up window in which a TERM is lost instead of two; a config of
# programs only also wants --no-opt --no-maglev --no-sparkplug (docs/containers.md, "While drover starts")
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/bin/drover.js"]
CMD ["up", "-c", "/etc/drover/supervisord.conf"]
