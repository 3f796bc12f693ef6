# syntax=docker/dockerfile:1

# ---- build: compile TypeScript (the server, its CLIs, and the client SDK it serves) with the full dependency set ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# client/ is an npm workspace: npm ci needs its package.json beside the lockfile.
COPY package.json package-lock.json ./
COPY client/package.json ./client/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY client/src ./client/src
COPY client/scripts ./client/scripts
RUN npm run build

# ---- production dependencies only ----
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY client/package.json ./client/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:20-bookworm-slim
# Image metadata (OCI annotations). Pass the build's facts in:
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" --build-arg SOURCE=https://github.com/<org>/<repo> .
# VERSION follows package.json's (test/deploy-dockerfile.test.ts checks that they agree).
ARG VERSION=0.1.0
ARG REVISION=
ARG CREATED=
ARG SOURCE=
LABEL org.opencontainers.image.title="instantchat-notifications" \
      org.opencontainers.image.description="InstantChat's real-time notification server: Instagram webhooks from Meta to authenticated browser sockets (Socket.IO and raw WebSocket)" \
      org.opencontainers.image.vendor="InstantChat" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/node:20-bookworm-slim"
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
# dist/main.js (the server) and dist/cli/token.js, dist/cli/webhook.js (the CLIs: mint a token, send a signed webhook).
COPY --from=build --chown=node:node /app/dist ./dist
# The SDK's browser bundle, served at /client/instantchat-client.js.
COPY --from=build --chown=node:node /app/client/dist ./client/dist
COPY --chown=node:node package.json ./
COPY --chown=node:node public ./public
# Sample webhook bodies for `node dist/cli/webhook.js examples/webhooks/comment.json`.
COPY --chown=node:node examples ./examples
USER node
EXPOSE 3000
# The slim image has no curl: ask Node itself.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node as PID 1 directly (not npm, not sh) so that SIGTERM from `docker stop` reaches the graceful drain.
CMD ["node", "dist/main.js"]
