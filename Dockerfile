# The tim-migrate image used by docker-compose.yml (workers, gateway, CLI).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && npm ci --omit=dev --no-audit --no-fund && apt-get purge -y make g++ && rm -rf /var/lib/apt/lists/*
COPY . .
ENTRYPOINT []
