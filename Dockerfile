# One image for both agents; docker-compose.yml runs it twice (dest, source).
FROM node:24-bookworm
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY scripts ./scripts
# bench/ is a workspace too: npm ci needs its package.json even though the image never runs it.
COPY bench ./bench
RUN npm ci && npm run build
ENV LOG_LEVEL=info
EXPOSE 7400
ENTRYPOINT ["node"]
