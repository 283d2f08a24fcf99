# One image for both roles: `npm run api` (default) and `npm run worker` (see docker-compose.yml).

# The panel is built with the dev dependencies (Vite), then only its output is kept.
FROM node:20-bookworm-slim AS panel
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# ffmpeg/ffprobe check and transcode videos (FFMPEG_PATH and FFPROBE_PATH find them on PATH).
# jemalloc hands freed memory of the worker's threads back to the system, where glibc's malloc keeps
# it resident (scripts/allocator.mjs, BENCHMARKS.md); linked under one path for every architecture.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ffmpeg libjemalloc2 \
  && ln -s "$(find /usr/lib -name libjemalloc.so.2 | head -n 1)" /usr/local/lib/libjemalloc.so.2 \
  && rm -rf /var/lib/apt/lists/*
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
  MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0 \
  MALLOC_ARENA_MAX=2
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
COPY --from=panel /app/web/dist ./web/dist
# Workers load this bundle instead of building one at every start.
RUN npm run build:workflows -- /app/workflow-bundle.js
ENV WORKFLOW_BUNDLE_PATH=/app/workflow-bundle.js
RUN mkdir -p /data && chown node:node /data
USER node
ENV DATA_DIR=/data HOST=0.0.0.0 PORT=3000
EXPOSE 3000
CMD ["npm", "run", "api"]
