# syntax=docker/dockerfile:1

# Trading engine image: `docker build -t trading-engine .`
#   build   : node:20-bookworm with a C++ toolchain (better-sqlite3 compiles from source when no
#             prebuilt binary can be fetched); installs all dependencies, compiles TypeScript into
#             dist/, then drops the dev dependencies.
#   runtime : node:20-bookworm-slim (same Debian, same glibc as the build stage, so the native
#             modules built there load here), production dependencies only, non-root user.

FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall patches a dependency (scripts/patch-deps.mjs)
COPY scripts/patch-deps.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
# Listen on every interface inside the container (the default, 127.0.0.1, is for development).
# dataDir stays the default ./data, i.e. /app/data, the volume below.
# glibc.malloc.hugetlb=1: glibc asks for transparent huge pages on its large allocations (the order
# books' typed arrays), which the kernel's default THP mode (madvise) otherwise does not give.
ENV NODE_ENV=production \
    ENGINE_HOST=0.0.0.0 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
# Code stays owned by root (read-only for the engine); only the data dir belongs to `node`.
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/config/default.json ./config/default.json
# SQL migrations, read from disk by persistence/pg/migrate.ts when DATABASE_URL is set.
COPY --from=build /app/persistence/pg/schema ./persistence/pg/schema
RUN mkdir -p /app/data && chown node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "const tls = !!process.env.ENGINE_TLS_CERT_FILE; require(tls ? 'node:https' : 'node:http').get({ host: '127.0.0.1', port: 8080, path: '/health', rejectUnauthorized: false, timeout: 2500 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
STOPSIGNAL SIGTERM
# node directly, not `npm start` (which would rebuild and needs the dev dependencies); the script
# handles SIGTERM/SIGINT itself, so it stops cleanly as PID 1.
CMD ["node", "dist/scripts/start.js"]
