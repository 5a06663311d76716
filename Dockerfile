# Builds the `tollgate` binary and ships it on a slim base with curl for health checks.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The production image needs no local chains: build without `tollgate dev` and its validator.
RUN cargo build --release --locked -p tollgate --no-default-features

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tollgate /usr/local/bin/tollgate
COPY fixtures /usr/share/tollgate/fixtures
COPY crates/demo-api/analytics-facts.json /usr/share/tollgate/fixtures/
USER nobody
ENTRYPOINT ["tollgate"]
