# SPDX-License-Identifier: Apache-2.0
# The Certo gateway in a container (seed 004's "Docker" column): remote endpoints only.
#   docker build -t certo .
#   docker run -d --name certo-gw -v certo-data:/var/lib/certo certo
#   docker exec certo-gw /opt/certo/bin/certo tls add nginx --name web1 \
#       --connection_type ssh --host web1.example.com --user deploy --ssh_key_path /keys/id
# See docs/gateway.md, "Running the gateway in a container".

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake ninja-build pkg-config \
        libssl-dev libsqlite3-dev libjansson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCERTO_TESTS=OFF \
 && cmake --build /build \
 && cmake --install /build --prefix /opt/certo

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libsqlite3-0 libjansson4 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/certo --create-home --shell /usr/sbin/nologin certo \
 && chmod 700 /var/lib/certo
COPY --from=build /opt/certo /opt/certo
# CERTO_CONTAINER=1 makes the container rule explicit: every endpoint is remote.
ENV CERTO_CONTAINER=1 CERTO_HOME=/var/lib/certo PATH=/opt/certo/bin:$PATH
USER certo
VOLUME /var/lib/certo
# The gateway daemon (`certo gateway run`) does not exist yet; until it does the
# container stays up so that `docker exec ... certo tls add ...` can use its registry.
CMD ["sleep", "infinity"]
